from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from maintenance.alerts import render
from maintenance.alerts.model import AlertKind, Channel, Claimed
from maintenance.rules.model import Priority

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef"
KEY = UUID("5d1c7a52-8f3e-4f53-9a0b-2f5c3b1e7d10")
PAYLOAD: dict[str, object] = {
    "event": {
        "id": 41,
        "kind": "resolved",
        "at": "2026-11-23T09:58:00+00:00",
        "actor": "dispatcher:7",
        "note": "Thermostat replaced",
    },
    "ticket": {
        "id": 9,
        "title": "Engine coolant temperature above normal",
        "kind": "fault_code",
        "rule_key": "spn110-fmi0",
        "priority": "critical",
        "status": "resolved",
        "opened_at": "2026-11-23T08:00:00+00:00",
        "sla_due_at": "2026-11-23T12:00:00+00:00",
    },
    "machine": {"serial": "T-1234", "kind": "tractor", "model": "6155M"},
    "owner": {"id": 3, "name": "Hof Meyer"},
    "dealer": {"id": 2, "code": "DLR-N", "name": "Nord Service"},
}


def row(channel: Channel = Channel.WEBHOOK) -> Claimed:
    return Claimed(
        id=5,
        idempotency_key=KEY,
        kind=AlertKind.RESOLVED,
        priority=Priority.CRITICAL,
        payload=PAYLOAD,
        attempts=1,
        created_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
        channel=channel,
        target="https://example.test/hook" if channel is Channel.WEBHOOK else "ops@example.test",
        secret=SECRET if channel is Channel.WEBHOOK else None,
        quiet=None,
        active=True,
    )


def test_the_body_is_the_same_bytes_on_every_attempt_and_carries_the_key() -> None:
    body = render.webhook_body(row())
    assert body == render.webhook_body(row())
    doc = json.loads(body)
    assert doc["id"] == str(KEY)
    assert doc["type"] == "ticket.resolved"
    assert doc["data"] == PAYLOAD


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert render.signature(SECRET, timestamp=1_700_000_000, body=body) == f"sha256={expected}"


def test_headers_sign_the_body_at_the_attempts_time() -> None:
    body = render.webhook_body(row())
    headers = render.webhook_headers(row(), body=body, now=NOW)
    assert headers["Idempotency-Key"] == str(KEY)
    assert headers["X-IronLink-Timestamp"] == str(int(NOW.timestamp()))
    assert headers["X-IronLink-Event"] == "ticket.resolved"
    assert render.verify(
        SECRET,
        header=headers["X-IronLink-Signature"],
        timestamp=headers["X-IronLink-Timestamp"],
        body=body,
        now=NOW + timedelta(seconds=30),
    )


def test_verify_refuses_another_body_secret_or_an_old_timestamp() -> None:
    body = render.webhook_body(row())
    headers = render.webhook_headers(row(), body=body, now=NOW)
    sig, ts = headers["X-IronLink-Signature"], headers["X-IronLink-Timestamp"]
    assert not render.verify(SECRET, header=sig, timestamp=ts, body=body + b" ", now=NOW)
    assert not render.verify("x" * 22, header=sig, timestamp=ts, body=body, now=NOW)
    assert not render.verify(
        SECRET, header=sig, timestamp=ts, body=body, now=NOW + timedelta(minutes=6)
    )
    assert not render.verify(SECRET, header=sig, timestamp="soon", body=body, now=NOW)


def test_the_email_names_machine_event_and_note_with_a_message_id_from_the_key() -> None:
    msg = render.email(row(Channel.EMAIL), sender="alerts@ironlink.test", now=NOW)
    assert msg["To"] == "ops@example.test"
    assert msg["Message-ID"] == f"<{KEY}@alerts.ironlink>"
    assert msg["Subject"] == (
        "[IronLink] T-1234: resolved - Engine coolant temperature above normal (critical)"
    )
    text = msg.get_content()
    assert "Dealer:    Nord Service (DLR-N)" in text
    assert "Thermostat replaced" in text
    assert str(KEY) in text


def test_a_breach_that_raised_the_priority_says_so() -> None:
    event = {**PAYLOAD["event"], "kind": "sla_breached", "raised_from": "high"}  # type: ignore[dict-item]
    breach = replace(
        row(Channel.EMAIL), kind=AlertKind.SLA_BREACHED, payload={**PAYLOAD, "event": event}
    )
    text = render.email(breach, sender="alerts@ironlink.test", now=NOW).get_content()
    assert "Raised:    priority high -> critical" in text
    assert (
        "Raised:" not in render.email(row(Channel.EMAIL), sender="a@b.test", now=NOW).get_content()
    )


SERVICE_DUE: dict[str, object] = {
    "service": {
        "rule_key": "svc-500h",
        "title": "500-hour service",
        "every_h": 500.0,
        "due_at_h": 1500.0,
        "engine_hours": 1462.5,
        "hours_left": 37.5,
        "expected": "2026-11-27",
        "earliest": "2026-11-26",
        "latest": None,
        "hours_per_week": 52.0,
    },
    "machine": PAYLOAD["machine"],
    "owner": PAYLOAD["owner"],
    "dealer": PAYLOAD["dealer"],
}


def test_a_service_due_alert_names_machine_service_dates_and_hours() -> None:
    due = replace(row(), kind=AlertKind.SERVICE_DUE, payload=SERVICE_DUE)
    assert json.loads(render.webhook_body(due))["type"] == "machine.service_due"
    assert render.webhook_headers(due, body=b"", now=NOW)["X-IronLink-Event"] == (
        "machine.service_due"
    )
    msg = render.email(replace(due, channel=Channel.EMAIL), sender="a@b.test", now=NOW)
    assert msg["Subject"] == "[IronLink] T-1234: 500-hour service due around 2026-11-27"
    text = msg.get_content()
    assert "Machine:   T-1234 (tractor 6155M)" in text
    assert "Service:   500-hour service (svc-500h, every 500 h)" in text
    assert "Expected:  2026-11-27 (earliest 2026-11-26, latest open" in text
    assert "Hours:     1462.5 h now, due at 1500 h (37.5 h left)" in text
