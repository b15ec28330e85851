"""What an owner's digest says, and that it says nothing when there is nothing to say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from maintenance.alerts.digest_content import (
    FaultCode,
    MachineFacts,
    OpenTicket,
    build,
    items,
    machine_lines,
)
from maintenance.alerts.model import PartyPart
from maintenance.forecast.service_due import ServiceDue

NOW = datetime(2026, 12, 7, 7, 5, tzinfo=UTC)
TODAY = date(2026, 12, 7)
OWNER = PartyPart(3, "Hof Meyer", "OWN-1")


def service(in_days: int | None, rule_key: str = "svc-250h") -> ServiceDue:
    expected = TODAY + timedelta(days=in_days) if in_days is not None else None
    return ServiceDue(
        rule_key, "250-hour service", 250.0, 25.0, None, 1250.0, 20.0, expected, None, None, None
    )


def quiet_machine(serial: str = "T-1", **changes: object) -> MachineFacts:
    base: dict[str, object] = {
        "serial": serial,
        "kind": "tractor",
        "model": "6155M",
        "last_seen": NOW - timedelta(minutes=5),
        "today": TODAY,
    }
    return MachineFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_nothing_to_say_is_no_digest() -> None:
    machines = [quiet_machine(services=(service(30),)), quiet_machine("T-2", last_seen=None)]
    assert build(OWNER, day=TODAY, timezone="UTC", machines=machines, now=NOW, lead_days=7) is None


@pytest.mark.parametrize(
    ("silent_for", "listed"),
    [
        (timedelta(hours=23), False),
        (timedelta(hours=24), True),
        (timedelta(days=30), True),
        (timedelta(days=31), False),  # parked for the season: not every morning for months
    ],
)
def test_a_machine_is_listed_as_silent_from_a_day_to_a_month(
    silent_for: timedelta, listed: bool
) -> None:
    lines = machine_lines(quiet_machine(last_seen=NOW - silent_for), now=NOW, lead_days=7)
    assert (lines is not None and lines.silent_since == NOW - silent_for) is listed


def test_each_kind_of_news_is_a_line_and_machines_come_by_serial() -> None:
    digest = build(
        OWNER,
        day=TODAY,
        timezone="Europe/Berlin",
        machines=[
            quiet_machine(
                "T-9",
                open_tickets=(OpenTicket(12, "Coolant temperature above normal", "high"),),
                active_faults=(FaultCode(110, 0),),
            ),
            quiet_machine("T-1", services=(service(3), service(8, "svc-500h"))),
            quiet_machine("T-5"),
        ],
        now=NOW,
        lead_days=7,
    )
    assert digest is not None
    assert [m.serial for m in digest.machines] == ["T-1", "T-9"]
    t1, t9 = digest.machines
    assert t1.services_due == ["250-hour service around 2026-12-10 (due at 1250 h)"]
    assert t9.open_tickets == ["#12 Coolant temperature above normal (high)"]
    assert t9.active_faults == ["SPN 110 FMI 0"]
    assert (items(t1), items(t9)) == (1, 2)
    assert (digest.day, digest.timezone, digest.owner) == (TODAY, "Europe/Berlin", OWNER)
