"""The service-due forecast on synthetic usage: steady, weekday-only, seasonal stop, noisy, new."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pytest

from maintenance.forecast.service_due import (
    Basis,
    DailyUsage,
    ServiceDue,
    UsageRate,
    day_reached,
    forecast,
    usage_from_meter,
    usage_rate,
)
from maintenance.rules.findings import MachineView
from maintenance.rules.model import Applies, ServiceInterval
from telemetry.wire import Kind

TODAY = date(2026, 3, 12)  # a Thursday
SVC_250 = ServiceInterval(key="svc-250h", every_h=250, lead_h=25, title="250-hour service")
SVC_500 = ServiceInterval(key="svc-500h", every_h=500, lead_h=25)
RULES = [SVC_250, SVC_500]


def history(per_day: Callable[[date], float], *, days: int = 70) -> DailyUsage:
    """Usage for the `days` days up to yesterday."""
    first = TODAY - timedelta(days=days)
    return DailyUsage(
        first, np.array([per_day(first + timedelta(days=i)) for i in range(days)], dtype=float)
    )


def tractor(hours: float | None, last: dict[str, float] | None = None) -> MachineView:
    return MachineView(1, Kind.TRACTOR, "6155M", hours, last or {})


@dataclass(frozen=True)
class Out:
    usage: UsageRate
    by_key: dict[str, ServiceDue]

    def __getitem__(self, key: str) -> ServiceDue:
        return self.by_key[key]


def run(
    usage: DailyUsage, hours: float | None = 1000.0, last: dict[str, float] | None = None
) -> Out:
    result = forecast(RULES, tractor(hours, last), usage, today=TODAY, last_report=TODAY)
    return Out(result.usage, {s.rule_key: s for s in result.services})


def test_meter_readings_become_daily_usage_and_days_without_readings_zero() -> None:
    usage = usage_from_meter([None, 100.0, 108.0, None, None, 130.0, 125.0, 126.0, None])
    expected = [math.nan, math.nan, 8.0, 0.0, 0.0, 22.0, math.nan, 1.0, math.nan]
    np.testing.assert_allclose(usage, expected)


def test_steady_use_every_day() -> None:
    out = run(history(lambda d: 8.0))
    svc = out["svc-250h"]
    # Never serviced at 1000 h: due at the next multiple, 1250 h; 250 h at 8 h a day is 31.25 days.
    assert (svc.due_at_h, svc.hours_left) == (1250.0, 250.0)
    assert svc.expected == TODAY + timedelta(days=32)
    assert svc.earliest == svc.latest == svc.expected  # no spread
    assert out["svc-500h"].expected == TODAY + timedelta(days=63)
    assert out.usage.basis is Basis.WEEKLY_PROFILE
    assert out.usage.hours_per_week == pytest.approx(56.0)


def test_last_service_moves_the_due_point_as_the_rule_engine_does() -> None:
    out = run(history(lambda d: 8.0), hours=1000.0, last={"svc-250h": 990.0})
    assert out["svc-250h"].due_at_h == 1240.0
    assert out["svc-250h"].expected == TODAY + timedelta(days=30)


def test_weekday_only_use_is_not_forecast_to_land_on_a_weekend() -> None:
    out = run(history(lambda d: 10.0 if d.weekday() < 5 else 0.0), hours=1235.0)
    assert out.usage.per_weekday == (10.0, 10.0, 10.0, 10.0, 10.0, 0.0, 0.0)
    # 15 h left on a Thursday: Friday brings 10, the weekend nothing, Monday the rest. A flat
    # 50/7 h a day would have said Sunday.
    svc = out["svc-250h"]
    assert svc.expected == TODAY + timedelta(days=4)
    assert svc.expected.weekday() == 0


def test_seasonal_stop_is_parked_with_no_date_and_says_since_when() -> None:
    stopped = TODAY - timedelta(days=20)
    out = run(history(lambda d: 8.0 if d < stopped else 0.0))
    svc = out["svc-250h"]
    assert svc.expected is None
    assert svc.reason == f"parked: no engine hours since {stopped.isoformat()}"
    assert svc.due_at_h == 1250.0  # still known, just not when


def test_a_short_pause_is_not_parked_but_widens_the_late_side() -> None:
    paused = (TODAY - timedelta(days=10), TODAY - timedelta(days=3))
    out = run(history(lambda d: 0.0 if paused[0] <= d < paused[1] else 8.0))
    svc = out["svc-250h"]
    assert svc.reason is None
    assert svc.expected == TODAY + timedelta(days=32)  # medians
    assert svc.latest is not None
    assert svc.latest > svc.expected


def test_noisy_use_gives_an_interval_that_holds_most_real_futures() -> None:
    rng = np.random.default_rng(7)

    def day(d: date) -> float:
        base = 8.0 if d.weekday() < 5 else 1.0
        return max(0.0, base + rng.normal(0, 2.0))

    out = run(history(day), hours=1050.0)  # 200 h to go: about five weeks
    svc = out["svc-250h"]
    assert svc.earliest is not None
    assert svc.expected is not None
    assert svc.latest is not None
    assert svc.earliest < svc.expected < svc.latest
    assert (svc.latest - svc.earliest).days <= 14
    profile = out.usage.per_weekday
    assert profile is not None
    assert all(abs(h - 8.0) < 1.5 for h in profile[:5])
    # Futures drawn from the same process reach 200 h between earliest and latest.
    held = 0
    for _ in range(200):
        used, d = 0.0, TODAY
        while used < 200.0:
            d += timedelta(days=1)
            used += day(d)
        held += svc.earliest <= d <= svc.latest
    assert held >= 160


def test_one_odd_day_does_not_move_the_profile() -> None:
    odd = TODAY - timedelta(days=3)
    out = run(history(lambda d: 24.0 if d == odd else 8.0))
    assert out.usage.per_weekday == (8.0,) * 7


def test_new_machine_with_a_few_days_uses_their_mean_with_a_wide_interval() -> None:
    usage = history(lambda d: 6.0 if d >= TODAY - timedelta(days=5) else math.nan)
    out = run(usage, hours=30.0)
    rate = out.usage
    assert (rate.basis, rate.days_known) == (Basis.SHORT_HISTORY, 5)
    svc = out["svc-250h"]
    assert svc.expected == TODAY + timedelta(days=37)  # 220 / 6
    assert svc.earliest == TODAY + timedelta(days=25)  # 220 / 9
    assert svc.latest == TODAY + timedelta(days=74)  # 220 / 3


@pytest.mark.parametrize(
    ("usage", "last_report", "reason"),
    [
        (history(lambda d: math.nan), None, "the machine has not reported yet"),
        (
            history(lambda d: 6.0 if d >= TODAY - timedelta(days=1) else math.nan),
            TODAY,
            "1 days of usage known; at least 3 are needed",
        ),
        (history(lambda d: 8.0), TODAY - timedelta(days=20), "no readings since 2026-02-20"),
    ],
)
def test_no_date_without_enough_to_go_on(
    usage: DailyUsage, last_report: date | None, reason: str
) -> None:
    result = forecast(RULES, tractor(30.0), usage, today=TODAY, last_report=last_report)
    assert [(s.expected, s.reason) for s in result.services] == [(None, reason)] * 2


def test_overdue_service_is_due_today_even_when_parked() -> None:
    out = run(history(lambda d: 0.0), hours=1255.0, last={"svc-250h": 1000.0})
    svc = out["svc-250h"]
    assert (svc.hours_left, svc.expected, svc.reason) == (-5.0, TODAY, None)


def test_only_rules_that_apply_to_the_machine_are_forecast() -> None:
    digger = ServiceInterval(key="svc-dig", every_h=100, applies_to=Applies(kind=Kind.EXCAVATOR))
    result = forecast(
        [*RULES, digger], tractor(10.0), history(lambda d: 8.0), today=TODAY, last_report=TODAY
    )
    assert [s.rule_key for s in result.services] == ["svc-250h", "svc-500h"]
    assert result.services[1].title == "500-hour service"


def test_no_engine_hours_yet() -> None:
    result = forecast(RULES, tractor(None), history(lambda d: 8.0), today=TODAY, last_report=TODAY)
    assert result.services[0].reason == "the machine has reported no engine hours"
    assert result.services[0].due_at_h is None


def test_beyond_the_horizon_is_no_date() -> None:
    rate = usage_rate(history(lambda d: 0.1), today=TODAY, last_report=TODAY)
    assert rate.per_weekday is not None
    assert day_reached(249.0, rate, today=TODAY) is None
    out = run(history(lambda d: 0.1), hours=1.0)
    assert out["svc-250h"].reason == "not reached within 3 years at the current usage"
