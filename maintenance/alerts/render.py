"""What a recipient receives: the webhook body, its signature and headers, the e-mail. No I/O.

Webhook signature: `X-IronLink-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
the subscription's secret, `X-IronLink-Timestamp` the attempt's Unix time. Signing the timestamp
lets a receiver refuse a replay older than a few minutes (verify's tolerance); the body is the
same bytes on every attempt and `Idempotency-Key` (the outbox row's key) lets the receiver drop a
retry of an alert it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

import msgspec

from maintenance.alerts.model import (
    TICKET_KINDS,
    AlertKind,
    Claimed,
    DigestPayload,
    MachinePart,
    PartyPart,
    Payload,
    ServiceDuePayload,
)

SIGNATURE_HEADER: Final = "X-IronLink-Signature"
TIMESTAMP_HEADER: Final = "X-IronLink-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
EVENT_HEADER: Final = "X-IronLink-Event"
USER_AGENT: Final = "IronLink-Alerts/1"
# A receiver should refuse signatures older (or newer) than this: a captured request replayed
# later no longer verifies.
SIGNATURE_TOLERANCE_S: Final = 300

SUBJECT_VERB: Final = {
    AlertKind.OPENED: "new ticket",
    AlertKind.ESCALATED: "priority raised",
    AlertKind.RESOLVED: "resolved",
    AlertKind.CANCELLED: "cancelled",
    AlertKind.REOPENED: "reopened",
    AlertKind.SLA_NEAR: "due soon",
    AlertKind.SLA_BREACHED: "overdue",
    AlertKind.SERVICE_DUE: "service due",
    AlertKind.DIGEST: "daily summary",
}


def event_type(kind: AlertKind) -> str:
    """The webhook's `type` and X-IronLink-Event: what the payload is about, then what happened."""
    if kind in TICKET_KINDS:
        return f"ticket.{kind}"
    if kind is AlertKind.SERVICE_DUE:
        return "machine.service_due"
    return f"owner.{kind}"


def webhook_body(row: Claimed) -> bytes:
    """Stable bytes for the row: key order and separators fixed, so every attempt (and a
    signature computed over it) is the same."""
    envelope = {
        "id": str(row.idempotency_key),
        "type": event_type(row.kind),
        "created_at": row.created_at.isoformat(),
        "data": row.payload,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), default=str).encode()


def signature(secret: str, *, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    *,
    header: str,
    timestamp: str,
    body: bytes,
    now: datetime,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:
    """What a receiver runs: the signature matches (constant-time) and is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp=ts, body=body), header)


def webhook_headers(row: Claimed, *, body: bytes, now: datetime) -> dict[str, str]:
    if not row.secret:
        raise ValueError(f"outbox row {row.id}: a webhook subscription without a secret")
    ts = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: str(row.idempotency_key),
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(row.secret, timestamp=ts, body=body),
        EVENT_HEADER: event_type(row.kind),
    }


def payload(row: Claimed) -> Payload:
    return msgspec.convert(row.payload, Payload, strict=False)


def service_due_payload(row: Claimed) -> ServiceDuePayload:
    return msgspec.convert(row.payload, ServiceDuePayload, strict=False)


def digest_payload(row: Claimed) -> DigestPayload:
    return msgspec.convert(row.payload, DigestPayload, strict=False)


def message_id(row: Claimed) -> str:
    """Derived from the idempotency key, so a resent e-mail is recognisably the same message."""
    return f"<{row.idempotency_key}@alerts.ironlink>"


def email(row: Claimed, *, sender: str, now: datetime) -> EmailMessage:
    if row.kind is AlertKind.SERVICE_DUE:
        subject, lines = _service_due_text(service_due_payload(row))
    elif row.kind is AlertKind.DIGEST:
        subject, lines = _digest_text(digest_payload(row))
    else:
        subject, lines = _ticket_text(row.kind, payload(row))
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.target
    msg["Subject"] = f"[IronLink] {subject}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(row)
    msg["X-IronLink-Event"] = event_type(row.kind)
    lines += ["", f"Alert {row.idempotency_key}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _parties(machine: MachinePart, owner: PartyPart, dealer: PartyPart) -> list[str]:
    return [
        f"Machine:   {machine.serial} ({machine.kind} {machine.model})",
        f"Owner:     {owner.name}",
        f"Dealer:    {dealer.name}" + (f" ({dealer.code})" if dealer.code else ""),
    ]


def _ticket_text(kind: AlertKind, p: Payload) -> tuple[str, list[str]]:
    subject = f"{p.machine.serial}: {SUBJECT_VERB[kind]} - {p.ticket.title} ({p.ticket.priority})"
    lines = [
        *_parties(p.machine, p.owner, p.dealer),
        f"Ticket:    #{p.ticket.id} {p.ticket.title}",
        f"Event:     {SUBJECT_VERB[kind]} at {p.event.at.isoformat()} by {p.event.actor}",
        f"Priority:  {p.ticket.priority}",
        f"Status:    {p.ticket.status}",
        f"Due by:    {p.ticket.sla_due_at.isoformat()}",
    ]
    if p.event.raised_from is not None:
        lines.append(f"Raised:    priority {p.event.raised_from} -> {p.ticket.priority}")
    if p.event.note:
        lines += ["", p.event.note]
    return subject, lines


def _service_due_text(p: ServiceDuePayload) -> tuple[str, list[str]]:
    s = p.service
    latest = s.latest.isoformat() if s.latest else "open (if the machine stops working)"
    subject = f"{p.machine.serial}: {s.title} due around {s.expected.isoformat()}"
    lines = [
        *_parties(p.machine, p.owner, p.dealer),
        f"Service:   {s.title} ({s.rule_key}, every {s.every_h:g} h)",
        f"Expected:  {s.expected.isoformat()} (earliest {s.earliest.isoformat()}, latest {latest})",
        f"Hours:     {s.engine_hours:.1f} h now, due at {s.due_at_h:g} h"
        f" ({s.hours_left:.1f} h left)",
        f"Usage:     {s.hours_per_week:.1f} h a week recently",
    ]
    return subject, lines


def _digest_text(p: DigestPayload) -> tuple[str, list[str]]:
    subject = f"{p.owner.name}: daily summary for {p.day.isoformat()}"
    lines = [f"Owner:     {p.owner.name}", f"Day:       {p.day.isoformat()} ({p.timezone})"]
    for m in p.machines:
        lines += ["", f"{m.serial} ({m.kind} {m.model})"]
        lines += [f"  open ticket   {t}" for t in m.open_tickets]
        lines += [f"  service due   {s}" for s in m.services_due]
        if m.silent_since is not None:
            lines.append(f"  silent since  {m.silent_since.isoformat()}")
        lines += [f"  active fault  {f}" for f in m.active_faults]
    return subject, lines
