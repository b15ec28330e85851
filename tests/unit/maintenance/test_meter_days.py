"""Which local days the hourly rollup serves for the service forecast's hour meter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from maintenance.forecast.meter_days import LocalDay, rollup_days

H = timedelta(hours=1)


def _days(first: date, n: int, *, offset: timedelta) -> list[LocalDay]:
    """n local days from `first` in a zone `offset` ahead of UTC, as UTC intervals."""
    out = []
    for i in range(n):
        day = first + timedelta(days=i)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - offset
        out.append(LocalDay(day, start, start + timedelta(days=1)))
    return out


D0 = date(2026, 3, 2)
BERLIN = _days(D0, 4, offset=timedelta(hours=1))  # days start at 23:00 UTC
KOLKATA = _days(D0, 4, offset=timedelta(hours=5, minutes=30))  # days start at 18:30 UTC


def test_a_rollup_that_never_ran_serves_no_day() -> None:
    assert rollup_days(BERLIN, watermark=None, dirty=[]) == set()


def test_days_that_end_by_the_watermark_are_served() -> None:
    watermark = BERLIN[2].end  # the third day's last hour is the last one rolled up
    assert rollup_days(BERLIN, watermark=watermark, dirty=[]) == {
        D0,
        D0 + timedelta(days=1),
        D0 + timedelta(days=2),
    }
    assert D0 + timedelta(days=2) not in rollup_days(BERLIN, watermark=watermark - H, dirty=[])


def test_a_dirty_hour_sends_its_day_to_readings() -> None:
    watermark = BERLIN[-1].end
    dirty = [BERLIN[1].start, BERLIN[3].end - H]  # the first hour of day 2, the last of day 4
    assert rollup_days(BERLIN, watermark=watermark, dirty=dirty) == {D0, D0 + timedelta(days=2)}
    # A dirty hour outside the days changes nothing.
    assert len(rollup_days(BERLIN, watermark=watermark, dirty=[BERLIN[0].start - H])) == 4


def test_days_that_do_not_start_on_a_whole_hour_are_never_served() -> None:
    assert rollup_days(KOLKATA, watermark=KOLKATA[-1].end + 10 * H, dirty=[]) == set()
