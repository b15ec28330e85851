"""The parts-demand forecast on synthetic dealers: service visits in and out of the horizons,
fault-rate math, zero demand, days of cover and the reorder quantity."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from maintenance.forecast.parts_demand import (
    Consumed,
    DemandLine,
    Policy,
    ServiceVisit,
    StockPosition,
    fault_demand_per_day,
    forecast_parts,
    poisson_quantile,
    rates_per_model,
    visits_of,
)
from maintenance.forecast.service_due import Basis, Forecast, ServiceDue, UsageRate
from maintenance.rules.model import PartLine

TODAY = date(2026, 3, 12)
KIT_500 = (PartLine("FLT-FUEL-PRI", 1, "Primary fuel filter"), PartLine("FLT-FUEL-SEC", 1))
KIT_250 = (PartLine("OIL-15W40-20L", 2, "Engine oil"), PartLine("FLT-OIL-STD", 1))
KITS = {"svc-500h": KIT_500, "svc-250h": KIT_250}
# 10 engine hours every day; a busy week is 1.25 times that, a quiet one half.
RATE = UsageRate((10.0,) * 7, 1.25, 0.5, Basis.WEEKLY_PROFILE, 56, None)


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def due(rule_key: str, every_h: float, hours_left: float) -> ServiceDue:
    return ServiceDue(
        rule_key=rule_key,
        title="",
        every_h=every_h,
        lead_h=25,
        last_service_h=None,
        due_at_h=1000 + hours_left,
        hours_left=hours_left,
        expected=day(max(1, int(hours_left // 10))),  # visits_of recomputes every date
        earliest=None,
        latest=None,
        reason=None,
    )


def svc500(machine_id: int, expected: int, earliest: int | None = None) -> ServiceVisit:
    """A 500-hour visit `expected` days from today, at the earliest `earliest` days."""
    return ServiceVisit(
        machine_id,
        "svc-500h",
        day(expected),
        day(expected if earliest is None else earliest),
        KIT_500,
    )


def lines(**kwargs: object) -> dict[str, DemandLine]:
    args: dict[str, object] = {
        "today": TODAY,
        "horizon_days": 30,
        "visits": [],
        "fault_per_day": {},
        "stock": [],
        "descriptions": {},
    }
    result = forecast_parts(**(args | kwargs))  # type: ignore[arg-type]
    return {line.part_no: line for line in result.lines}


# --- Service visits ---------------------------------------------------------------------------


def test_every_occurrence_whose_earliest_day_is_in_the_horizon_is_a_visit() -> None:
    # 100 h to the next 250 h service at 10 h a day: reached on days 10, 35, 60, 85, 110; on a busy
    # week (12.5 h a day) on days 8, 28, 48, 68, 88.
    result = Forecast(1000.0, RATE, [due("svc-250h", 250, 100)])
    visits = visits_of(result, machine_id=7, kits=KITS, today=TODAY, until=day(90))
    assert [(v.expected, v.earliest) for v in visits] == [
        (day(10), day(8)),
        (day(35), day(28)),
        (day(60), day(48)),
        (day(85), day(68)),
        (day(110), day(88)),
    ]
    assert all((v.machine_id, v.rule_key, v.kit) == (7, "svc-250h", KIT_250) for v in visits)


def test_an_open_service_ticket_drops_only_the_next_occurrence() -> None:
    result = Forecast(1000.0, RATE, [due("svc-250h", 250, 100), due("svc-500h", 500, 100)])
    visits = visits_of(
        result, machine_id=1, kits=KITS, today=TODAY, until=day(30), open_rules={"svc-250h"}
    )
    # svc-250h: its day-8 visit is the open ticket's, day 28 is the next; svc-500h: day 8 only.
    assert sorted((v.rule_key, v.earliest) for v in visits) == [
        ("svc-250h", day(28)),
        ("svc-500h", day(8)),
    ]


def test_an_overdue_service_is_due_today_and_rules_without_a_kit_or_a_rate_give_no_visit() -> None:
    overdue = Forecast(1000.0, RATE, [due("svc-500h", 500, -20), due("svc-nokit", 100, 5)])
    visits = visits_of(overdue, machine_id=1, kits=KITS, today=TODAY, until=day(30))
    assert [(v.expected, v.earliest) for v in visits] == [(TODAY, TODAY)]
    parked_rate = UsageRate(None, 1.0, 1.0, None, 30, "parked")
    parked = ServiceDue("svc-500h", "", 500, 25, None, 1500, 100, None, None, None, "parked")
    assert (
        visits_of(
            Forecast(1400.0, parked_rate, [parked]),
            machine_id=1,
            kits=KITS,
            today=TODAY,
            until=day(90),
        )
        == []
    )


@pytest.mark.parametrize(
    ("horizon", "mean", "upper"),
    [(30, 1, 1), (60, 2, 3), (90, 3, 3)],
)
def test_500h_kits_of_a_dealers_machines_by_horizon(horizon: int, mean: int, upper: int) -> None:
    # Three machines: due on day 10 (earliest 8), day 45 (earliest 36), day 75 (earliest 58);
    # a fourth reaches its service only on day 140 (earliest 95): outside every horizon.
    visits = [svc500(1, 10, 8), svc500(2, 45, 36), svc500(3, 75, 58), svc500(4, 140, 95)]
    line = lines(horizon_days=horizon, visits=visits)["FLT-FUEL-PRI"]
    assert (line.service_mean, line.service_upper) == (mean, upper)
    assert (line.expected_mean, line.expected_upper) == (mean, upper)
    assert line.description == "Primary fuel filter"  # from the kit: not in the catalogue given


def test_an_overdue_visit_counts_in_the_shortest_horizon() -> None:
    line = lines(visits=[svc500(1, 0)])["FLT-FUEL-SEC"]
    assert (line.service_mean, line.service_upper) == (1, 1)


# --- Fault-driven demand ----------------------------------------------------------------------


def test_fault_rates_are_units_per_machine_day_of_each_model() -> None:
    consumed = [
        Consumed("6155M", "BELT-ALT", 73),
        Consumed("6155M", "SENSOR-OILP", 7.3),
        Consumed("NEW-1", "BELT-ALT", 5),  # a model with 30 machine-days: no rate
    ]
    rates = rates_per_model(consumed, {"6155M": 3650.0, "NEW-1": 30.0}, min_machine_days=90.0)
    assert rates == {
        ("6155M", "BELT-ALT"): pytest.approx(0.02),
        ("6155M", "SENSOR-OILP"): pytest.approx(0.002),
    }
    # The dealer has 5 of them (and 2 of a model without history).
    per_day = fault_demand_per_day(rates, {"6155M": 5, "300.9D": 2})
    assert per_day == {"BELT-ALT": pytest.approx(0.1), "SENSOR-OILP": pytest.approx(0.01)}


@pytest.mark.parametrize(
    ("mean", "level", "k"),
    # Hand-checked against the Poisson CDF: F(2; 1) = 0.920, F(3; 1) = 0.981; F(0; 0.1) = 0.905;
    # F(5; 3) = 0.916, F(6; 3) = 0.966; F(14; 10) = 0.917, F(15; 10) = 0.951.
    [
        (0.0, 0.95, 0),
        (1.0, 0.95, 3),
        (1.0, 0.9, 2),
        (0.1, 0.95, 1),
        (0.1, 0.9, 0),
        (3.0, 0.95, 6),
        (10.0, 0.95, 15),
        (1000.0, 0.95, 1052),
    ],
)
def test_poisson_quantile(mean: float, level: float, k: int) -> None:
    assert poisson_quantile(mean, level) == k


def test_fault_demand_mean_and_upper_over_the_horizon() -> None:
    line = lines(fault_per_day={"BELT-ALT": 0.1})["BELT-ALT"]
    assert line.fault_mean == pytest.approx(3.0)
    assert line.fault_upper == 6  # Poisson(3) at 95 %
    assert (line.service_mean, line.service_upper) == (0, 0)
    assert line.expected_upper == 6


# --- Stock: cover, reorder, habit -------------------------------------------------------------


def test_a_part_on_the_shelf_without_demand_has_no_cover_date_and_needs_no_order() -> None:
    result = forecast_parts(
        today=TODAY,
        horizon_days=90,
        visits=[],
        fault_per_day={},
        stock=[StockPosition("BATT-12V-180AH", on_hand=4)],
        descriptions={"BATT-12V-180AH": "Battery 12 V 180 Ah"},
    )
    [line] = result.lines
    assert (line.part_no, line.description, line.on_hand) == (
        "BATT-12V-180AH",
        "Battery 12 V 180 Ah",
        4,
    )
    assert (line.expected_mean, line.expected_upper, line.daily_demand) == (0.0, 0, 0.0)
    assert line.days_of_cover is None
    assert (line.reorder_qty, line.forecast_stock, line.habit_stock) == (0, 0, 0)
    assert (result.totals.on_hand, result.totals.saved) == (4, 0)


def test_reorder_covers_lead_time_and_review_at_the_service_level() -> None:
    # Position 2 (5 on hand, 1 reserved, 2 owed to backorders). Over lead 14 + review 7 days:
    # three visits whose earliest day is inside (one expected later, on day 25), a fourth that is
    # not (earliest day 22), and 0.1 faults a day: Poisson(2.1) at 95 % is 5. Target 3 + 5 = 8.
    visits = [svc500(1, 3), svc500(2, 15), svc500(3, 25, 20), svc500(4, 30, 22)]
    line = lines(
        visits=visits,
        fault_per_day={"FLT-FUEL-PRI": 0.1},
        stock=[StockPosition("FLT-FUEL-PRI", on_hand=5, reserved=1, backordered=2)],
    )["FLT-FUEL-PRI"]
    assert (line.on_hand, line.position) == (5, 2)
    assert line.forecast_stock == 8
    assert line.reorder_qty == 6
    # Without faults the three visits alone: 3 - 2 = 1.
    alone = lines(visits=visits, stock=[StockPosition("FLT-FUEL-PRI", 5, 1, 2)])["FLT-FUEL-PRI"]
    assert (alone.forecast_stock, alone.reorder_qty) == (3, 1)


def test_enough_on_the_shelf_orders_nothing() -> None:
    line = lines(visits=[svc500(1, 3)], stock=[StockPosition("FLT-FUEL-SEC", 9)])["FLT-FUEL-SEC"]
    assert (line.forecast_stock, line.reorder_qty) == (1, 0)


def test_days_of_cover_and_the_habit_stock_against_the_forecast() -> None:
    # 30 days: 3 kit units expected plus 0.1 fault units a day = 6 units, 0.2 a day. 20 free
    # units last 100 days; 140 days of 0.2 is 28 units, where the forecast needs 8 (see above).
    visits = [svc500(1, 3), svc500(2, 15), svc500(3, 25, 20)]
    result = forecast_parts(
        today=TODAY,
        horizon_days=30,
        visits=visits,
        fault_per_day={"FLT-FUEL-PRI": 0.1},
        stock=[StockPosition("FLT-FUEL-PRI", 20), StockPosition("FLT-FUEL-SEC", 0)],
        descriptions={},
        policy=Policy(lead_time_days=14, review_days=7, service_level=0.95),
    )
    pri, sec = result.lines
    assert pri.daily_demand == pytest.approx(0.2)
    assert pri.days_of_cover == pytest.approx(100.0)
    assert (pri.habit_stock, pri.forecast_stock, pri.reorder_qty) == (28, 8, 0)
    # The secondary filter: 3 units in 30 days, none on the shelf.
    assert sec.days_of_cover == 0.0
    assert (sec.habit_stock, sec.forecast_stock, sec.reorder_qty) == (14, 3, 3)
    totals = result.totals
    assert (totals.habit_stock, totals.forecast_stock, totals.saved) == (42, 11, 31)
    assert (totals.on_hand, totals.reorder_qty) == (20, 3)


def test_a_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        lines(horizon_days=0)
