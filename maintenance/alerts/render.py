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

from maintenance.alerts.model import AlertKind, Claimed, Payload

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
}


def webhook_body(row: Claimed) -> bytes:
    """Stable bytes for the row: key order and separators fixed, so every attempt (and a
    signature computed over it) is the same."""
    envelope = {
        "id": str(row.idempotency_key),
        "type": f"ticket.{row.kind}",
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
        EVENT_HEADER: f"ticket.{row.kind}",
    }


def payload(row: Claimed) -> Payload:
    return msgspec.convert(row.payload, Payload, strict=False)


def message_id(row: Claimed) -> str:
    """Derived from the idempotency key, so a resent e-mail is recognisably the same message."""
    return f"<{row.idempotency_key}@alerts.ironlink>"


def email(row: Claimed, *, sender: str, now: datetime) -> EmailMessage:
    p = payload(row)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.target
    msg["Subject"] = (
        f"[IronLink] {p.machine.serial}: {SUBJECT_VERB[row.kind]} - {p.ticket.title}"
        f" ({p.ticket.priority})"
    )
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(row)
    msg["X-IronLink-Event"] = f"ticket.{row.kind}"
    lines = [
        f"Machine:   {p.machine.serial} ({p.machine.kind} {p.machine.model})",
        f"Owner:     {p.owner.name}",
        f"Dealer:    {p.dealer.name}" + (f" ({p.dealer.code})" if p.dealer.code else ""),
        f"Ticket:    #{p.ticket.id} {p.ticket.title}",
        f"Event:     {SUBJECT_VERB[row.kind]} at {p.event.at.isoformat()} by {p.event.actor}",
        f"Priority:  {p.ticket.priority}",
        f"Status:    {p.ticket.status}",
        f"Due by:    {p.ticket.sla_due_at.isoformat()}",
    ]
    if p.event.note:
        lines += ["", p.event.note]
    lines += ["", f"Alert {row.idempotency_key}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg
