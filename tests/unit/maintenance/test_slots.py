from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from maintenance.slots import interval_us, slot_of

T = datetime(2026, 3, 14, 15, 9, 26, 535_897, tzinfo=UTC)


@pytest.mark.parametrize(
    ("every_s", "expected"),
    [
        (86_400.0, datetime(2026, 3, 14, tzinfo=UTC)),
        (3_600.0, datetime(2026, 3, 14, 15, tzinfo=UTC)),
        (60.0, datetime(2026, 3, 14, 15, 9, tzinfo=UTC)),
        (10.0, datetime(2026, 3, 14, 15, 9, 20, tzinfo=UTC)),
        (0.25, datetime(2026, 3, 14, 15, 9, 26, 500_000, tzinfo=UTC)),
    ],
)
def test_a_fire_time_floors_to_the_start_of_its_interval(
    every_s: float, expected: datetime
) -> None:
    assert slot_of(T, every_s=every_s) == expected


def test_a_fire_time_on_a_boundary_is_its_own_slot() -> None:
    boundary = datetime(2026, 3, 14, 15, 10, tzinfo=UTC)
    assert slot_of(boundary, every_s=60.0) == boundary
    assert slot_of(boundary - timedelta(microseconds=1), every_s=60.0) == boundary - timedelta(
        minutes=1
    )


def test_every_fire_time_within_an_interval_shares_one_slot() -> None:
    start = datetime(2026, 3, 14, 15, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in (0, 0.001, 59.999, 1_799, 3_599.999_999)]
    assert {slot_of(t, every_s=3_600.0) for t in times} == {start}


def test_the_slot_does_not_depend_on_the_time_zone_it_is_given_in() -> None:
    local = T.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert slot_of(local, every_s=86_400.0) == datetime(2026, 3, 14, tzinfo=UTC)


def test_an_interval_that_does_not_divide_a_day_counts_from_the_epoch() -> None:
    # 7 s slots: 2026-03-14T15:09:26.535897Z is 1_773_500_966 s after the epoch; 7 * 253_357_280
    # = 1_773_500_960.
    assert slot_of(T, every_s=7.0) == datetime(2026, 3, 14, 15, 9, 20, tzinfo=UTC)


def test_a_naive_fire_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slot_of(datetime(2026, 3, 14, 15, 9), every_s=60.0)


def test_an_interval_below_a_microsecond_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        interval_us(1e-7)
