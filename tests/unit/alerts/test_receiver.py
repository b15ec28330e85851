from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from maintenance.alerts import render
from maintenance.alerts.channels import WebhookSender
from maintenance.alerts.model import AlertKind, Failed, Sent
from maintenance.alerts.receiver import Counts, Received, Receiver, Verifier
from tests.unit.alerts.test_render import KEY, SECRET, SERVICE_DUE, row


@pytest.fixture
def arrived() -> list[Received]:
    return []


@pytest.fixture
def receiver(arrived: list[Received]) -> Iterator[Receiver]:
    with Receiver(Verifier(SECRET, on_alert=arrived.append), path="/hook") as r:
        yield r


def test_a_signed_webhook_arrives_once_and_its_repeat_is_acknowledged_and_counted(
    receiver: Receiver, arrived: list[Received]
) -> None:
    claimed = dataclasses.replace(row(), target=receiver.url)
    now = datetime.now(UTC)
    assert WebhookSender(timeout_s=5)(claimed, now=now) == Sent("HTTP 200")
    assert WebhookSender(timeout_s=5)(claimed, now=now + timedelta(seconds=30)) == Sent("HTTP 200")
    assert arrived == [
        Received(
            idempotency_key=str(KEY),
            event="ticket.resolved",
            serial="T-1234",
            title="Engine coolant temperature above normal",
            priority="critical",
            path="/hook",
        )
    ]
    assert receiver.verifier.counts() == Counts(received=1, duplicates=1, bad_signature=0)


def test_a_webhook_signed_with_another_secret_is_refused_for_good(
    receiver: Receiver, arrived: list[Received]
) -> None:
    claimed = dataclasses.replace(row(), target=receiver.url, secret="another-secret-0123456789")
    outcome = WebhookSender(timeout_s=5)(claimed, now=datetime.now(UTC))
    assert isinstance(outcome, Failed)
    assert outcome.permanent
    assert arrived == []
    assert receiver.verifier.counts() == Counts(received=0, duplicates=0, bad_signature=1)


def test_a_stale_signature_is_refused() -> None:
    verifier = Verifier(SECRET)
    body = render.webhook_body(row())
    signed_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    headers = render.webhook_headers(row(), body=body, now=signed_at)
    later = signed_at + timedelta(seconds=render.SIGNATURE_TOLERANCE_S + 1)
    assert verifier.accept(headers, body, now=later) == 401
    lowercase = {k.lower(): v for k, v in headers.items()}
    assert verifier.accept(lowercase, body, now=signed_at) == 200


def test_service_due_and_digest_webhooks_arrive_too(
    receiver: Receiver, arrived: list[Received]
) -> None:
    due = dataclasses.replace(
        row(), kind=AlertKind.SERVICE_DUE, payload=SERVICE_DUE, target=receiver.url
    )
    digest_payload = {
        "owner": {"id": 3, "name": "Hof Meyer"},
        "day": "2026-11-23",
        "timezone": "Europe/Berlin",
        "machines": [{"serial": "T-1234", "kind": "tractor", "model": "6155M"}],
    }
    digest = dataclasses.replace(
        row(),
        kind=AlertKind.DIGEST,
        payload=digest_payload,
        target=receiver.url,
        idempotency_key=uuid.uuid4(),
    )
    for r in (due, digest):
        assert WebhookSender(timeout_s=5)(r, now=datetime.now(UTC)) == Sent("HTTP 200")
    assert [(a.event, a.serial, a.title, a.priority) for a in arrived] == [
        ("machine.service_due", "T-1234", "500-hour service around 2026-11-27", "37.5 h left"),
        ("owner.digest", "Hof Meyer", "summary of 2026-11-23", "1 machine"),
    ]
