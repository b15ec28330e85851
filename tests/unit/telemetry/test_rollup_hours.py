from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from telemetry.rollup_hours import batch_hours, ceil_hour, claim_before, floor_hour
from telemetry.wire import Reading

H = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)


def r(at: datetime) -> Reading:
    return Reading(seq=1, ts=at, engine_hours=1.0)


@pytest.mark.parametrize(
    ("ts", "floor", "ceil"),
    [
        (H, H, H),
        (H + timedelta(microseconds=1), H, H + timedelta(hours=1)),
        (H + timedelta(minutes=59, seconds=59), H, H + timedelta(hours=1)),
        (H - timedelta(microseconds=1), H - timedelta(hours=1), H),
    ],
)
def test_hour_bounds(ts: datetime, floor: datetime, ceil: datetime) -> None:
    assert (floor_hour(ts), ceil_hour(ts)) == (floor, ceil)


def test_an_hour_of_another_time_zone_is_the_same_utc_hour() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    assert floor_hour(datetime(2026, 5, 4, 12, 45, tzinfo=india)) == H


def test_a_batch_gives_its_distinct_machine_hours_sorted() -> None:
    batch = [
        (2, r(H + timedelta(minutes=5))),
        (1, r(H + timedelta(minutes=70))),
        (2, r(H + timedelta(minutes=50))),
        (1, r(H + timedelta(minutes=1))),
    ]
    assert batch_hours(batch) == ([1, 1, 2], [H, H + timedelta(hours=1), H])


def test_an_empty_batch_gives_no_hours() -> None:
    assert batch_hours([]) == ([], [])


def test_refresh_claims_only_hours_ended_a_settle_ago() -> None:
    settle = timedelta(minutes=2)
    assert claim_before(H + timedelta(minutes=1), settle) == H - timedelta(hours=1)
    assert claim_before(H + timedelta(minutes=2), settle) == H
