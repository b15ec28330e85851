"""The owner's daily digest on the real database: sent once per owner and local day after the
local morning, only with something to say, delivered as one e-mail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from maintenance.alerts import digest
from maintenance.alerts.channels import Sender
from maintenance.alerts.model import Audience, Channel
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_machine, make_owner
from tests.integration.alerts.conftest import Clock, Conn, World, add_subscription, drain
from tests.integration.alerts.receivers import SmtpReceiver

# 06:30 in Berlin (UTC+1 in November): before the digest's local 07:00.
EARLY = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
MORNING = datetime(2026, 11, 23, 6, 10, tzinfo=UTC)


def run(conn: Conn, now: datetime) -> digest.Digested:
    with conn.transaction():
        return digest.run(conn, now=now, lead_days=7)


def setup_owner(conn: Conn, world: World) -> None:
    conn.execute("UPDATE dealers SET timezone = 'Europe/Berlin' WHERE id = %s", (world.dealer_id,))
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=world.owner_id,
        channel=Channel.EMAIL,
        target="owner@example.test",
    )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, engine_hours, active_faults)"
        " VALUES (%s, %s, 900, %s::jsonb)",
        (world.machine_id, EARLY, json.dumps([{"spn": 110, "fmi": 0, "oc": 1}])),
    )
    finding = Finding(
        world.machine_id, "spn110-fmi0", "fault_code", "Coolant too hot", Priority.CRITICAL, {}
    )
    with conn.transaction():
        apply_findings(conn, [finding], now=EARLY)


def test_one_digest_per_owner_and_local_day_after_the_local_morning(
    conn: Conn, world: World, clock: Clock, smtp: SmtpReceiver, senders: dict[Channel, Sender]
) -> None:
    setup_owner(conn, world)
    # An owner whose machine is fine: recorded as done for the day, nothing sent.
    calm = make_owner(conn, dealer_id=world.dealer_id)
    calm_machine, _ = make_machine(conn, owner_id=calm, dealer_id=world.dealer_id)
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts) VALUES (%s, %s)", (calm_machine, EARLY)
    )
    add_subscription(
        conn,
        audience=Audience.OWNER,
        recipient_id=calm,
        channel=Channel.EMAIL,
        target="calm@example.test",
        kinds=["digest"],
    )

    assert run(conn, EARLY).owners == 0
    first = run(conn, MORNING)
    assert (first.owners, first.sent, first.rows) == (2, [world.owner_id], 1)
    again = run(conn, MORNING + timedelta(hours=5))
    assert (again.owners, again.sent) == (0, [])
    days = conn.execute(
        "SELECT owner_id, local_day::text, items FROM owner_digests ORDER BY owner_id"
    ).fetchall()
    assert days == [(world.owner_id, "2026-11-23", 2), (calm, "2026-11-23", 0)]

    clock.now = MORNING
    assert drain(conn, clock, senders).delivered == 2  # the ticket's own alert and the digest
    [mail] = [m for m in smtp.messages if m["X-IronLink-Event"] == "owner.digest"]
    assert mail["To"] == "owner@example.test"
    assert mail["Subject"] == "[IronLink] Test Owner: daily summary for 2026-11-23"
    text = mail.get_content().replace("\r\n", "\n")
    assert f"\n{world.serial} (tractor 6155M)\n" in text
    assert "  open ticket   #" in text
    assert "Coolant too hot (critical)" in text
    assert "  active fault  SPN 110 FMI 0" in text

    # The next local day is a new digest; both machines are silent by then, so the calm owner
    # has something to hear too.
    second = run(conn, MORNING + timedelta(days=1))
    assert second.sent == [world.owner_id, calm]
    payload = conn.execute(
        "SELECT payload FROM alert_outbox WHERE event_key = %s",
        (f"digest:{world.owner_id}:2026-11-24",),
    ).fetchone()
    assert payload is not None
    [machine] = payload[0]["machines"]  # type: ignore[index]
    assert machine["silent_since"].startswith("2026-11-23T05:30")


def test_a_concurrent_run_for_the_same_day_enqueues_nothing(conn: Conn, world: World) -> None:
    setup_owner(conn, world)
    [owner] = digest.owners_due(conn, now=MORNING)
    with conn.transaction():
        assert digest.enqueue(conn, owner, None, now=MORNING) == 0  # a run with nothing to say
    assert run(conn, MORNING).owners == 0
    with conn.transaction():
        assert digest.enqueue(conn, owner, None, now=MORNING) is None
