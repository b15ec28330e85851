"""When each service interval falls due: a machine's usage rate from its daily engine hours, and
the date its next interval of each service_interval rule is reached. Pure: values in, values out.

Usage is read as a weekly profile (the median of each weekday's usage over recent weeks), so a
machine that works Monday to Friday is not forecast to reach 250 h on a Sunday, and one odd day
(a harvest night, a day in the workshop) moves nothing. The uncertainty comes from how much the
weekly totals vary: the early and late dates are the profile scaled to a busy and a quiet week.

The due point itself is the rule engine's (maintenance.rules.engine.next_due_h), from the last
service recorded for the rule, so the forecast and the ticket the engine opens agree.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from maintenance.rules.engine import next_due_h
from maintenance.rules.findings import MachineView
from maintenance.rules.model import ServiceInterval

Floats = npt.NDArray[np.float64]

# Eight weeks: long enough for a median per weekday over 8 samples, short enough that last
# season's work does not describe this season's.
LOOKBACK_DAYS: Final = 56
# Below three weeks there are too few samples per weekday for a median; a flat daily mean is used.
MIN_PROFILE_DAYS: Final = 21
# Fewer known days than this and any rate is a guess: no date.
MIN_DAYS: Final = 3
# Two weeks without an engine hour (among days with data) is a parked machine, whatever it did
# before: after harvest a tractor stands until spring.
PARKED_AFTER_DAYS: Final = 14
# A machine silent this long may be parked with its telematics off, or out of coverage: its last
# known rate says nothing about now.
STALE_AFTER_DAYS: Final = 14
# A day with less than this (a few minutes to move the machine) is not a working day.
WORKED_DAY_H: Final = 0.1
# Usage below this (hours per week) is idling at most; it would put a due date years away.
MIN_WEEKLY_H: Final = 0.5
# Beyond three years a date means nothing (rules, ownership and usage all change).
HORIZON_DAYS: Final = 3 * 366
# The busy and quiet weeks: these quantiles of recent weekly totals.
BUSY_QUANTILE: Final = 0.8
QUIET_QUANTILE: Final = 0.2
# With few weeks to measure the spread (or a short history), this much either way.
DEFAULT_SPREAD: Final = 0.5
MIN_WEEKS_FOR_SPREAD: Final = 3
# A week counts towards the spread when most of its days have data; its total is scaled to 7 days.
MIN_DAYS_PER_WEEK: Final = 5


class Basis(enum.StrEnum):
    WEEKLY_PROFILE = "weekly_profile"  # median per weekday over LOOKBACK_DAYS
    SHORT_HISTORY = "short_history"  # flat mean of the few days known, DEFAULT_SPREAD either way


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Engine hours used per day from `first_day` on, one value per calendar day; NaN where it is
    not known (no readings around that day yet)."""

    first_day: date
    hours: Floats

    def day(self, i: int) -> date:
        return self.first_day + timedelta(days=i)


@dataclass(frozen=True, slots=True)
class UsageRate:
    """How much the machine works. `per_weekday` is Monday first; `busy`/`quiet` scale it to the
    busy and quiet week (quiet 0: the machine may not run at all). `reason` says why there is no
    rate (then per_weekday is None)."""

    per_weekday: tuple[float, ...] | None
    busy: float
    quiet: float
    basis: Basis | None
    days_known: int
    reason: str | None

    @property
    def hours_per_week(self) -> float:
        return sum(self.per_weekday) if self.per_weekday else 0.0


@dataclass(frozen=True, slots=True)
class ServiceDue:
    """The next interval of one rule: due at `due_at_h` engine hours, `hours_left` from now, reached
    on `expected` (between `earliest` and `latest`; latest None: maybe never, if usage stops).
    No dates when `reason` says why."""

    rule_key: str
    title: str
    every_h: float
    lead_h: float
    last_service_h: float | None
    due_at_h: float | None
    hours_left: float | None
    expected: date | None
    earliest: date | None
    latest: date | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Forecast:
    engine_hours: float | None
    usage: UsageRate
    services: list[ServiceDue]


def usage_from_meter(meter: Sequence[float | None]) -> Floats:
    """Daily usage from the hour meter at the end of each day (None: no reading that day).

    A controller buffers its readings through a coverage gap and uploads them with their measured
    times, so a day without a single reading is a day its engine did not run: 0 h. The rise since
    the previous day with a reading is that day's usage. Days before the first reading and after
    the last one (not known yet), and a day whose meter went back (a swapped controller), are NaN.
    """
    values = np.array([np.nan if v is None else v for v in meter], dtype=np.float64)
    usage = np.full(len(values), np.nan)
    known = np.flatnonzero(~np.isnan(values))
    for prev, cur in itertools.pairwise(known.tolist()):
        usage[prev + 1 : cur] = 0.0
        rise = values[cur] - values[prev]
        if rise >= 0:
            usage[cur] = rise
    return usage


def usage_rate(usage: DailyUsage, *, today: date, last_report: date | None) -> UsageRate:
    """The machine's rate from the LOOKBACK_DAYS before `today` (today itself is not over yet)."""
    end = (today - usage.first_day).days  # index of today: excluded
    start = max(0, end - LOOKBACK_DAYS)
    window = usage.hours[start : max(end, 0)]
    days = [usage.day(i) for i in range(start, max(end, 0))]
    known = ~np.isnan(window)
    n_known = int(known.sum())

    def none(reason: str) -> UsageRate:
        return UsageRate(None, 1.0, 1.0, None, n_known, reason)

    if last_report is None:
        return none("the machine has not reported yet")
    if (today - last_report).days > STALE_AFTER_DAYS:
        return none(f"no readings since {last_report.isoformat()}")
    if n_known < MIN_DAYS:
        return none(f"{n_known} days of usage known; at least {MIN_DAYS} are needed")
    recent = np.flatnonzero(known)[-PARKED_AFTER_DAYS:]
    if len(recent) >= PARKED_AFTER_DAYS and window[recent].sum() * 7 < MIN_WEEKLY_H * len(recent):
        worked = np.flatnonzero(known & (window >= WORKED_DAY_H))
        if len(worked):
            return none(f"parked: no engine hours since {days[int(worked[-1]) + 1].isoformat()}")
        return none(f"parked: no engine hours in the last {len(days)} days")
    if n_known < MIN_PROFILE_DAYS:
        mean = float(window[known].mean())
        rate = UsageRate(
            (mean,) * 7, 1 + DEFAULT_SPREAD, 1 - DEFAULT_SPREAD, Basis.SHORT_HISTORY, n_known, None
        )
    else:
        weekdays = np.array([d.weekday() for d in days])
        overall = float(np.median(window[known]))
        profile = tuple(
            float(np.median(v)) if len(v := window[known & (weekdays == w)]) >= 2 else overall
            for w in range(7)
        )
        busy, quiet = _spread(window, known, total=sum(profile))
        rate = UsageRate(profile, busy, quiet, Basis.WEEKLY_PROFILE, n_known, None)
    if rate.hours_per_week < MIN_WEEKLY_H:
        return none(f"used {rate.hours_per_week:.1f} h a week recently: too little to forecast")
    return rate


def _spread(window: Floats, known: npt.NDArray[np.bool_], *, total: float) -> tuple[float, float]:
    """(busy, quiet) scale factors of the profile: quantiles of recent weekly totals over `total`.
    Weeks are counted back from the newest day, so the newest full week is always one."""
    totals: list[float] = []
    for stop in range(len(window), 6, -7):
        week, have = window[stop - 7 : stop], known[stop - 7 : stop]
        if have.sum() >= MIN_DAYS_PER_WEEK:
            totals.append(float(week[have].sum()) * 7 / int(have.sum()))
    if len(totals) < MIN_WEEKS_FOR_SPREAD or total <= 0:
        return 1 + DEFAULT_SPREAD, 1 - DEFAULT_SPREAD
    busy = float(np.quantile(totals, BUSY_QUANTILE)) / total
    quiet = float(np.quantile(totals, QUIET_QUANTILE)) / total
    return max(busy, 1.0), min(quiet, 1.0)


def day_reached(
    hours_left: float, rate: UsageRate, *, today: date, scale: float = 1.0
) -> date | None:
    """The first day (from tomorrow) by whose end `hours_left` more engine hours are used at
    `rate` scaled by `scale`; None beyond HORIZON_DAYS or at no usage."""
    if hours_left <= 0:
        return today
    if rate.per_weekday is None or scale <= 0:
        return None
    profile = np.array(rate.per_weekday) * scale
    first = (today.weekday() + 1) % 7
    daily = profile[(np.arange(HORIZON_DAYS) + first) % 7]
    reached = np.flatnonzero(np.cumsum(daily) >= hours_left - 1e-9)
    if not len(reached):
        return None
    return today + timedelta(days=int(reached[0]) + 1)


def forecast(
    rules: Sequence[ServiceInterval],
    machine: MachineView,
    usage: DailyUsage,
    *,
    today: date,
    last_report: date | None,
) -> Forecast:
    """For each of `rules` that applies to the machine (kind and model), its next due point and
    when it is reached. `last_report` is the day of the machine's newest reading."""
    rate = usage_rate(usage, today=today, last_report=last_report)
    applying = [r for r in rules if r.applies_to.matches(machine.kind, machine.model)]
    return Forecast(
        engine_hours=machine.engine_hours,
        usage=rate,
        services=[_service_due(r, machine, rate, today=today) for r in applying],
    )


def _service_due(
    rule: ServiceInterval, machine: MachineView, rate: UsageRate, *, today: date
) -> ServiceDue:
    last = machine.last_service_h.get(rule.key)
    hours = machine.engine_hours
    blank = ServiceDue(
        rule_key=rule.key,
        title=_title(rule),
        every_h=rule.every_h,
        lead_h=rule.lead_h,
        last_service_h=last,
        due_at_h=None,
        hours_left=None,
        expected=None,
        earliest=None,
        latest=None,
        reason=None,
    )
    if hours is None:
        return replace(blank, reason="the machine has reported no engine hours")
    due = float(
        next_due_h(
            rule.every_h,
            np.array([hours], dtype=np.float64),
            np.array([np.nan if last is None else last], dtype=np.float64),
        )[0]
    )
    left = due - hours
    expected = day_reached(left, rate, today=today)
    reason = None if expected is not None else rate.reason
    if expected is None and reason is None:
        reason = f"not reached within {HORIZON_DAYS // 366} years at the current usage"
    return replace(
        blank,
        due_at_h=due,
        hours_left=round(left, 2),
        expected=expected,
        earliest=day_reached(left, rate, today=today, scale=rate.busy) if expected else None,
        latest=day_reached(left, rate, today=today, scale=rate.quiet) if expected else None,
        reason=reason,
    )


def _title(rule: ServiceInterval) -> str:
    # The engine's title for the ticket it will open.
    return rule.title or f"{rule.every_h:g}-hour service"
