from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from maintenance.alerts import delivery, policy
from maintenance.alerts.channels import Sender
from maintenance.alerts.model import Audience, Channel, QuietHours
from maintenance.alerts.subscriptions import subscribe
from tests.factories import make_dealer, make_machine, make_owner
from tests.integration.alerts.receivers import SmtpReceiver, WebhookReceiver

Conn = psycopg.Connection[tuple[object, ...]]
SECRET = "whsec-test-0123456789"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The time every call is given: tests move it instead of waiting."""

    now: datetime = START

    def advance(self, by: timedelta) -> datetime:
        self.now += by
        return self.now


@dataclass(frozen=True)
class World:
    machine_id: int
    serial: str
    owner_id: int
    dealer_id: int


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def senders(smtp: SmtpReceiver) -> dict[Channel, Sender]:
    return delivery.senders(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_sender="alerts@ironlink.test", timeout_s=5
    )


@pytest.fixture
def world(conn: Conn) -> World:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    machine_id, serial = make_machine(conn, owner_id=owner, dealer_id=dealer)
    return World(machine_id, serial, owner, dealer)


def add_subscription(
    conn: Conn,
    *,
    audience: Audience,
    recipient_id: int,
    channel: Channel,
    target: str,
    kinds: list[str] | None = None,
    quiet: QuietHours | None = None,
) -> int:
    with conn.transaction():
        return subscribe(
            conn,
            audience=audience,
            recipient_id=recipient_id,
            channel=channel,
            target=target,
            secret=SECRET if channel is Channel.WEBHOOK else None,
            event_kinds=kinds,
            quiet=quiet,
        )


def subscribe_both(conn: Conn, world: World, webhook: WebhookReceiver) -> None:
    """The world's owner and dealer each subscribed by webhook (to the receiver, one path per
    audience) and by e-mail (<audience>@example.test), every kind their audience gets."""
    for audience, rid in [(Audience.OWNER, world.owner_id), (Audience.DEALER, world.dealer_id)]:
        add_subscription(
            conn,
            audience=audience,
            recipient_id=rid,
            channel=Channel.WEBHOOK,
            target=webhook.url(f"/{audience}"),
        )
        add_subscription(
            conn,
            audience=audience,
            recipient_id=rid,
            channel=Channel.EMAIL,
            target=f"{audience}@example.test",
        )


def drain(
    conn: Conn,
    clock: Clock,
    senders: dict[Channel, Sender],
    *,
    max_attempts: int = policy.MAX_ATTEMPTS,
    rounds: int = 30,
) -> delivery.Run:
    """Delivery runs, the clock moved past the longest backoff after each, until nothing is
    pending."""
    rng = random.Random(0)
    total = delivery.Run()
    for _ in range(rounds):
        total += delivery.deliver_due(
            conn, now=clock.now, senders=senders, rng=rng, max_attempts=max_attempts
        )
        if pending(conn) == 0:
            return total
        clock.advance(timedelta(seconds=policy.BACKOFF_CAP_S))
    raise AssertionError(f"still {pending(conn)} pending after {rounds} rounds")


def pending(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM alert_outbox WHERE status = 'pending'").fetchone()
    assert row is not None
    assert isinstance(row[0], int)
    return row[0]
