"""Parts demand per dealer: the service kits its machines will use and the parts their faults
consume, against the stock on its shelf. Pure: values in, values out.

Two sources of demand per part:
- services: each forecast service visit (maintenance.forecast.service_due: the date a machine's
  next intervals are reached, and the earliest date on a busy week) uses its rule's kit. The mean
  counts visits expected by the end of the horizon; the upper bound also those whose earliest date
  falls in it. A heavy user passes a 250 h interval more than once in 90 days, so every occurrence
  in the horizon is a visit (`visits_of`), not only the next one.
- faults: parts requested on tickets that were not services, as a rate per machine-day of each
  model over the fleet's history (`rates_per_model`), times the dealer's machines of that model.
  Breakdowns are rare and independent, so the count over a horizon is Poisson: its mean, and its
  `service_level` quantile as the upper bound.

Stock is the dealer's position: on hand, less units already reserved for tickets and units owed to
backorders (those tickets' demand is already in the shelf's numbers, so the visit of a service
whose ticket is open is left out by the caller). The reorder suggestion is an order-up-to level:
enough for the upper demand over the supplier's lead time plus the review period (the time to the
next order), less the position. That level is also the stock a forecast needs, compared with the
130-150 days of average demand dealers keep by habit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np

from maintenance.forecast.service_due import Forecast, day_reached
from maintenance.rules.model import PartLine

HORIZONS_DAYS: Final = (30, 60, 90)
# The middle of the 130-150 days of average demand dealers in the field keep on the shelf.
HABIT_DAYS: Final = 140
# A service interval passed this many times in one horizon is a data error (an hour meter
# running away), not a machine: stop expanding occurrences there.
MAX_VISITS_PER_RULE: Final = 50


@dataclass(frozen=True, slots=True)
class Policy:
    """How the dealer orders: a supplier delivers `lead_time_days` after an order, orders are
    placed every `review_days`, and the shelf should serve `service_level` of those periods
    without running out."""

    lead_time_days: int = 14
    review_days: int = 7
    service_level: float = 0.95
    habit_days: int = HABIT_DAYS

    @property
    def protection_days(self) -> int:
        return self.lead_time_days + self.review_days


DEFAULT_POLICY: Final = Policy()


@dataclass(frozen=True, slots=True)
class ServiceVisit:
    """One forecast occurrence of a service on one machine: reached on `expected` (None: beyond
    what service_due dates), at the earliest on `earliest`; it uses `kit`."""

    machine_id: int
    rule_key: str
    expected: date | None
    earliest: date
    kit: tuple[PartLine, ...]


@dataclass(frozen=True, slots=True)
class Consumed:
    """Units of a part requested on non-service tickets of machines of a model, in a period."""

    model: str
    part_no: str
    units: float


@dataclass(frozen=True, slots=True)
class StockPosition:
    part_no: str
    on_hand: int
    reserved: int = 0
    backordered: int = 0

    @property
    def position(self) -> int:
        """What is free to meet new demand: may be negative when backorders exceed the shelf."""
        return self.on_hand - self.reserved - self.backordered


@dataclass(frozen=True, slots=True)
class DemandLine:
    part_no: str
    description: str
    on_hand: int
    position: int
    service_mean: int  # kit units of visits expected in the horizon
    service_upper: int  # ... and of visits whose earliest date is in it
    fault_mean: float
    fault_upper: int
    expected_mean: float
    expected_upper: int
    daily_demand: float  # expected_mean over the horizon's days
    days_of_cover: float | None  # None: no demand, the shelf lasts indefinitely
    reorder_qty: int
    forecast_stock: int  # the order-up-to level: upper demand over lead time + review period
    habit_stock: int  # habit_days of daily_demand


@dataclass(frozen=True, slots=True)
class Totals:
    """Units summed over every part (a count of items on the shelf, whatever they are)."""

    habit_stock: int
    forecast_stock: int
    on_hand: int
    reorder_qty: int

    @property
    def saved(self) -> int:
        return self.habit_stock - self.forecast_stock


@dataclass(frozen=True, slots=True)
class PartsForecast:
    today: date
    horizon_days: int
    policy: Policy
    lines: list[DemandLine]
    totals: Totals


def visits_of(
    result: Forecast,
    *,
    machine_id: int,
    kits: Mapping[str, tuple[PartLine, ...]],
    today: date,
    until: date,
    open_rules: Iterable[str] = (),
) -> list[ServiceVisit]:
    """Every occurrence of each service of one machine's forecast whose earliest date is on or
    before `until`. The next occurrence of a rule in `open_rules` (its ticket is open, so its parts
    are already requested) is left out; later ones are not. Rules without a kit use no parts."""
    rate = result.usage
    skip = set(open_rules)
    visits: list[ServiceVisit] = []
    for due in result.services:
        kit = kits.get(due.rule_key, ())
        if not kit or due.hours_left is None or due.expected is None:
            continue
        for n in range(MAX_VISITS_PER_RULE):
            left = due.hours_left + n * due.every_h
            earliest = day_reached(left, rate, today=today, scale=rate.busy)
            if earliest is None or earliest > until:
                break
            if n == 0 and due.rule_key in skip:
                continue
            expected = day_reached(left, rate, today=today)
            visits.append(ServiceVisit(machine_id, due.rule_key, expected, earliest, kit))
    return visits


def rates_per_model(
    consumed: Sequence[Consumed], machine_days: Mapping[str, float], *, min_machine_days: float
) -> dict[tuple[str, str], float]:
    """Units per machine-day by (model, part_no). A model with less than `min_machine_days` of
    history has no rate: one breakdown in a week of one machine is not a rate of 1/7 a day."""
    rates: dict[tuple[str, str], float] = {}
    for c in consumed:
        days = machine_days.get(c.model, 0.0)
        if days >= min_machine_days and c.units > 0:
            rates[(c.model, c.part_no)] = rates.get((c.model, c.part_no), 0.0) + c.units / days
    return rates


def fault_demand_per_day(
    rates: Mapping[tuple[str, str], float], machines_by_model: Mapping[str, int]
) -> dict[str, float]:
    """The dealer's expected fault-driven units per day by part: each model's rate times the
    dealer's machines of that model."""
    per_day: dict[str, float] = {}
    for (model, part_no), rate in rates.items():
        count = machines_by_model.get(model, 0)
        if count:
            per_day[part_no] = per_day.get(part_no, 0.0) + rate * count
    return per_day


def poisson_quantile(mean: float, level: float) -> int:
    """The smallest k with P(X <= k) >= level for X ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    if not 0 < level < 1:
        raise ValueError(f"a service level is between 0 and 1, got {level}")
    # Far enough into the tail that the CDF has passed any level short of 1 - 1e-15.
    top = int(mean + 12 * math.sqrt(mean) + 30)
    k = np.arange(top + 1, dtype=np.float64)
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(k[1:]))))
    cdf = np.cumsum(np.exp(k * math.log(mean) - mean - log_factorial))
    return min(int(np.searchsorted(cdf, level - 1e-12)), top)


def _kit_units(visits: Iterable[ServiceVisit], *, until: date, upper: bool) -> dict[str, int]:
    units: dict[str, int] = {}
    for v in visits:
        reached = v.earliest if upper else v.expected
        if reached is not None and reached <= until:
            for p in v.kit:
                units[p.part_no] = units.get(p.part_no, 0) + p.qty
    return units


def forecast_parts(
    *,
    today: date,
    horizon_days: int,
    visits: Sequence[ServiceVisit],
    fault_per_day: Mapping[str, float],
    stock: Sequence[StockPosition],
    descriptions: Mapping[str, str],
    policy: Policy = DEFAULT_POLICY,
) -> PartsForecast:
    """One line per part the dealer stocks or will need, by part number. The horizon runs from
    `today` through `today + horizon_days`; a visit already overdue (reached today) is in it."""
    if horizon_days <= 0:
        raise ValueError(f"a horizon is at least one day, got {horizon_days}")
    end = today + timedelta(days=horizon_days)
    cover_end = today + timedelta(days=policy.protection_days)
    mean = _kit_units(visits, until=end, upper=False)
    upper = _kit_units(visits, until=end, upper=True)
    cover_upper = _kit_units(visits, until=cover_end, upper=True)
    by_part = {s.part_no: s for s in stock}
    kit_descriptions = {p.part_no: p.description for v in visits for p in v.kit}
    part_nos = sorted(
        set(by_part) | set(upper) | set(cover_upper) | {p for p, r in fault_per_day.items() if r}
    )
    lines: list[DemandLine] = []
    for part_no in part_nos:
        shelf = by_part.get(part_no, StockPosition(part_no, 0))
        rate = fault_per_day.get(part_no, 0.0)
        fault_mean = rate * horizon_days
        expected_mean = mean.get(part_no, 0) + fault_mean
        daily = expected_mean / horizon_days
        target = cover_upper.get(part_no, 0) + poisson_quantile(
            rate * policy.protection_days, policy.service_level
        )
        lines.append(
            DemandLine(
                part_no=part_no,
                description=descriptions.get(part_no) or kit_descriptions.get(part_no, ""),
                on_hand=shelf.on_hand,
                position=shelf.position,
                service_mean=mean.get(part_no, 0),
                service_upper=upper.get(part_no, 0),
                fault_mean=fault_mean,
                fault_upper=poisson_quantile(fault_mean, policy.service_level),
                expected_mean=expected_mean,
                expected_upper=upper.get(part_no, 0)
                + poisson_quantile(fault_mean, policy.service_level),
                daily_demand=daily,
                days_of_cover=max(shelf.position, 0) / daily if daily > 0 else None,
                reorder_qty=max(target - shelf.position, 0),
                forecast_stock=target,
                habit_stock=math.ceil(policy.habit_days * daily - 1e-9),
            )
        )
    totals = Totals(
        habit_stock=sum(line.habit_stock for line in lines),
        forecast_stock=sum(line.forecast_stock for line in lines),
        on_hand=sum(line.on_hand for line in lines),
        reorder_qty=sum(line.reorder_qty for line in lines),
    )
    return PartsForecast(today, horizon_days, policy, lines, totals)
