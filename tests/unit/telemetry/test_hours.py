from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemetry.hours import check_hours
from telemetry.wire import Reading

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def r(seq: int, minutes: int, hours: float) -> Reading:
    return Reading(seq=seq, ts=T0 + timedelta(minutes=minutes), engine_hours=hours)


def test_growing_hours_pass_in_any_arrival_order() -> None:
    batch = [(1, r(3, 2, 10.2)), (1, r(1, 0, 10.0)), (1, r(2, 1, 10.1))]
    accepted, rejected = check_hours(batch, {})
    assert not rejected
    assert len(accepted) == 3


def test_hours_below_an_earlier_reading_are_rejected() -> None:
    accepted, rejected = check_hours([(1, r(1, 0, 500.0)), (1, r(2, 1, 12.0))], {})
    assert [a.seq for _, a in accepted] == [1]
    assert [(m, x.seq) for m, x, _ in rejected] == [(1, 2)]
    assert "below 500.0" in rejected[0][2]


def test_hours_below_the_stored_state_are_rejected_but_rounding_is_not() -> None:
    latest = {1: (T0, 100.0)}
    accepted, rejected = check_hours([(1, r(5, 10, 99.98)), (1, r(6, 11, 90.0))], latest)
    assert [a.seq for _, a in accepted] == [5]
    assert [x.seq for _, x, _ in rejected] == [6]


def test_a_late_reading_may_not_exceed_hours_reported_later() -> None:
    latest = {1: (T0 + timedelta(hours=5), 100.0)}
    accepted, rejected = check_hours([(1, r(1, 0, 99.0)), (1, r(2, 60, 140.0))], latest)
    assert [a.seq for _, a in accepted] == [1]
    assert [x.seq for _, x, _ in rejected] == [2]
    assert "above 100.0" in rejected[0][2]


def test_machines_are_checked_separately() -> None:
    accepted, rejected = check_hours([(1, r(1, 0, 500.0)), (2, r(1, 1, 12.0))], {})
    assert len(accepted) == 2
    assert not rejected
