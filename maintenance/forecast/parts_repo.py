"""A dealer's parts-demand forecast from the database: its machines' service forecasts (as
maintenance.forecast.repo reads one machine's), the fleet's fault-driven parts history and the
dealer's live shelf, then the pure maintenance.forecast.parts_demand.

Computing the demand reads eight weeks of hour-meter days for every machine of the dealer, a few
milliseconds each: seconds for a large dealer, too slow for a console that asks on every page.
The daily parts-forecast job therefore stores each dealer's demand (its service visits and fault
rates, not the stock) as a snapshot, and a request joins a fresh snapshot with the live shelf.
Without a fresh one (a new dealer, the job not run yet) the request computes the demand itself,
and stores nothing: a GET writes no rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, LiteralString, TypeAlias

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from maintenance.forecast.parts_demand import (
    DEFAULT_POLICY,
    HORIZONS_DAYS,
    Consumed,
    PartsForecast,
    Policy,
    ServiceVisit,
    StockPosition,
    fault_demand_per_day,
    forecast_parts,
    rates_per_model,
    visits_of,
)
from maintenance.forecast.repo import service_forecasts
from maintenance.rules.model import PartLine, ServiceInterval
from maintenance.rules.store import active_rules

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]
log = logging.getLogger(__name__)

# A year of history: every season once, so a model's harvest breakdowns count at their weight.
FAULT_HISTORY: Final = timedelta(days=365)
# Below a quarter of a machine-year a model's few requests are anecdotes, not a rate.
MIN_MACHINE_DAYS: Final = 90.0
# The job runs daily; a snapshot older than this means it has stopped, and a request computes.
SNAPSHOT_MAX_AGE: Final = timedelta(hours=36)
_KIT: Final = msgspec.json.Decoder(list[PartLine])

DEALER_CALENDAR: Final[LiteralString] = """
SELECT timezone, (%(now)s::timestamptz AT TIME ZONE timezone)::date FROM dealers
WHERE id = %(dealer_id)s
"""
DEALER_MACHINES: Final[LiteralString] = """
SELECT id, model FROM machines WHERE dealer_id = %(dealer_id)s AND active ORDER BY id
"""
# Parts on tickets that were not services (faults, thresholds, anomalies, manual requests), by
# the machine's model. A released request was never used (its ticket was cancelled, or the job was
# done without it); every other status is a part a breakdown called for. Also the parts of repair
# and warranty records kept without an IronLink ticket (the dealer's history from before it, or
# work booked by hand): a ticket's own record repeats its requests, so those are left out.
FAULT_PARTS_BY_MODEL: Final[LiteralString] = """
SELECT model, part_no, sum(qty)::double precision
FROM (
    SELECT m.model, r.part_no, r.qty
    FROM parts_requests r
    JOIN tickets t ON t.id = r.ticket_id
    JOIN machines m ON m.id = t.machine_id
    WHERE t.kind <> 'service_interval' AND r.status <> 'released'
      AND r.created_at >= %(since)s AND r.created_at < %(now)s
    UNION ALL
    SELECT m.model, p.part_no, p.qty
    FROM service_records s
    JOIN machines m ON m.id = s.machine_id
    CROSS JOIN LATERAL jsonb_to_recordset(s.parts) AS p (part_no text, qty integer)
    WHERE s.ticket_id IS NULL AND s.kind IN ('repair', 'warranty')
      AND s.done_at >= %(since)s AND s.done_at < %(now)s AND p.qty > 0
) used
GROUP BY model, part_no
"""
# Exposure: the days each machine of a model was in service within the history window, from its
# purchase (where known: its records may predate IronLink) or else its record's creation.
MACHINE_DAYS_BY_MODEL: Final[LiteralString] = """
SELECT model,
       sum(extract(epoch FROM %(now)s::timestamptz - greatest(in_service, %(since)s)))
           / 86400.0
FROM (
    SELECT model,
           least(created_at, coalesce(purchase_date::timestamptz, created_at)) AS in_service
    FROM machines
) m
WHERE in_service < %(now)s
GROUP BY model
"""
STOCK_POSITIONS: Final[LiteralString] = """
SELECT s.part_no, s.on_hand, s.reserved, coalesce(b.qty, 0)::integer
FROM dealer_stock s
LEFT JOIN LATERAL (
    SELECT sum(r.qty) AS qty FROM parts_requests r
    WHERE r.dealer_id = s.dealer_id AND r.part_no = s.part_no AND r.status = 'backordered'
) b ON true
WHERE s.dealer_id = %(dealer_id)s
"""
PART_DESCRIPTIONS: Final[LiteralString] = """
SELECT part_no, description FROM parts WHERE part_no = ANY(%(part_nos)s)
"""
SNAPSHOT_RUN: Final[LiteralString] = """
SELECT computed_at, today, machines FROM parts_forecast_runs
WHERE dealer_id = %(dealer_id)s AND computed_at > %(fresh_after)s
"""
SNAPSHOT_VISITS: Final[LiteralString] = """
SELECT machine_id, rule_key, expected, earliest, kit::text FROM parts_forecast_visits
WHERE dealer_id = %(dealer_id)s
ORDER BY machine_id, rule_key, earliest
"""
SNAPSHOT_FAULT_RATES: Final[LiteralString] = """
SELECT part_no, per_day FROM parts_forecast_fault_rates WHERE dealer_id = %(dealer_id)s
"""
DELETE_SNAPSHOT: Final[LiteralString] = (
    "DELETE FROM parts_forecast_runs WHERE dealer_id = %(dealer_id)s"
)
INSERT_RUN: Final[LiteralString] = """
INSERT INTO parts_forecast_runs (dealer_id, computed_at, today, machines)
VALUES (%(dealer_id)s, %(computed_at)s, %(today)s, %(machines)s)
"""
INSERT_VISIT: Final[LiteralString] = """
INSERT INTO parts_forecast_visits (dealer_id, machine_id, rule_key, expected, earliest, kit)
VALUES (%(dealer_id)s, %(machine_id)s, %(rule_key)s, %(expected)s, %(earliest)s, %(kit)s)
"""
INSERT_FAULT_RATE: Final[LiteralString] = """
INSERT INTO parts_forecast_fault_rates (dealer_id, part_no, per_day)
VALUES (%(dealer_id)s, %(part_no)s, %(per_day)s)
"""
DEALER_IDS: Final[LiteralString] = "SELECT id FROM dealers ORDER BY id"


@dataclass(frozen=True, slots=True)
class Demand:
    """What the demand side of a dealer's forecast was computed from, and when."""

    today: date
    computed_at: datetime
    machines: int
    visits: list[ServiceVisit]
    fault_per_day: dict[str, float]


@dataclass(frozen=True, slots=True)
class DealerPartsForecast:
    demand: Demand
    from_snapshot: bool
    forecast: PartsForecast


def fault_rates(conn: Conn, *, now: datetime) -> dict[tuple[str, str], float]:
    """Fault-driven units per machine-day by (model, part_no), over the whole fleet's history."""
    params = {"now": now, "since": now - FAULT_HISTORY}
    consumed = [
        Consumed(str(model), str(part_no), float(units))  # type: ignore[arg-type]
        for model, part_no, units in conn.execute(FAULT_PARTS_BY_MODEL, params)
    ]
    days = {
        str(model): float(d)  # type: ignore[arg-type]
        for model, d in conn.execute(MACHINE_DAYS_BY_MODEL, params)
    }
    return rates_per_model(consumed, days, min_machine_days=MIN_MACHINE_DAYS)


def compute_demand(
    conn: Conn,
    *,
    dealer_id: int,
    now: datetime,
    rates: Mapping[tuple[str, str], float] | None = None,
) -> Demand | None:
    """Service visits in the longest horizon and fault rates of the dealer's active machines, on
    the dealer's calendar; None when there is no such dealer. `rates` from fault_rates() saves a
    job that forecasts every dealer the fleet-wide query per dealer."""
    calendar = conn.execute(DEALER_CALENDAR, {"dealer_id": dealer_id, "now": now}).fetchone()
    if calendar is None:
        return None
    today = calendar[1]
    assert isinstance(today, date)
    machines = conn.execute(DEALER_MACHINES, {"dealer_id": dealer_id}).fetchall()
    ids = [int(m[0]) for m in machines]  # type: ignore[call-overload]
    rules = [r for r in active_rules(conn).rules if isinstance(r, ServiceInterval)]
    kits = {r.key: tuple(r.parts) for r in rules if r.parts}
    # A snapshot is read for up to SNAPSHOT_MAX_AGE (36 h): its readers' horizons end up to two
    # days after the snapshot's own.
    until = today + timedelta(days=max(HORIZONS_DAYS) + 2)
    forecasts = service_forecasts(conn, machine_ids=ids, now=now) if kits else {}
    visits: list[ServiceVisit] = []
    for machine_id, mf in forecasts.items():
        visits += visits_of(
            mf.forecast,
            machine_id=machine_id,
            kits=kits,
            today=today,
            until=until,
            open_rules=mf.open_tickets,
        )
    by_model: dict[str, int] = {}
    for m in machines:
        by_model[str(m[1])] = by_model.get(str(m[1]), 0) + 1
    per_day = fault_demand_per_day(fault_rates(conn, now=now) if rates is None else rates, by_model)
    return Demand(today, now, len(ids), visits, per_day)


def store_snapshot(conn: Conn, *, dealer_id: int, demand: Demand) -> None:
    """Replaces the dealer's snapshot; the caller owns the transaction (one per dealer, so a
    reader sees the old snapshot or the new one, never half of each)."""
    conn.execute(DELETE_SNAPSHOT, {"dealer_id": dealer_id})
    conn.execute(
        INSERT_RUN,
        {
            "dealer_id": dealer_id,
            "computed_at": demand.computed_at,
            "today": demand.today,
            "machines": demand.machines,
        },
    )
    with conn.cursor() as cur:
        cur.executemany(
            INSERT_VISIT,
            [
                {
                    "dealer_id": dealer_id,
                    "machine_id": v.machine_id,
                    "rule_key": v.rule_key,
                    "expected": v.expected,
                    "earliest": v.earliest,
                    "kit": Jsonb(msgspec.to_builtins(list(v.kit))),
                }
                for v in demand.visits
            ],
        )
        cur.executemany(
            INSERT_FAULT_RATE,
            [
                {"dealer_id": dealer_id, "part_no": p, "per_day": r}
                for p, r in sorted(demand.fault_per_day.items())
                if r > 0
            ],
        )


def snapshot(conn: Conn, *, dealer_id: int, now: datetime) -> Demand | None:
    """The dealer's stored demand if computed within SNAPSHOT_MAX_AGE of `now`."""
    run = conn.execute(
        SNAPSHOT_RUN, {"dealer_id": dealer_id, "fresh_after": now - SNAPSHOT_MAX_AGE}
    ).fetchone()
    if run is None:
        return None
    computed_at, today, machines = run
    assert isinstance(computed_at, datetime)
    assert isinstance(today, date)
    params = {"dealer_id": dealer_id}
    visits = [
        ServiceVisit(
            int(machine_id),  # type: ignore[call-overload]
            str(rule_key),
            expected,  # type: ignore[arg-type]
            earliest,  # type: ignore[arg-type]
            tuple(_KIT.decode(str(kit))),
        )
        for machine_id, rule_key, expected, earliest, kit in conn.execute(SNAPSHOT_VISITS, params)
    ]
    rates = {
        str(p): float(r)  # type: ignore[arg-type]
        for p, r in conn.execute(SNAPSHOT_FAULT_RATES, params)
    }
    return Demand(today, computed_at, int(machines), visits, rates)  # type: ignore[call-overload]


def stock_positions(conn: Conn, *, dealer_id: int) -> list[StockPosition]:
    return [
        StockPosition(str(p), int(on_hand), int(reserved), int(back))  # type: ignore[call-overload]
        for p, on_hand, reserved, back in conn.execute(STOCK_POSITIONS, {"dealer_id": dealer_id})
    ]


def descriptions(conn: Conn, part_nos: Sequence[str]) -> dict[str, str]:
    return {
        str(p): str(d) for p, d in conn.execute(PART_DESCRIPTIONS, {"part_nos": list(part_nos)})
    }


def dealer_parts_forecast(
    conn: Conn, *, dealer_id: int, now: datetime, horizon_days: int, policy: Policy = DEFAULT_POLICY
) -> DealerPartsForecast | None:
    """The forecast over `horizon_days` from today on the dealer's calendar; None when there is no
    such dealer."""
    demand = snapshot(conn, dealer_id=dealer_id, now=now)
    stored = demand is not None
    if demand is None:
        demand = compute_demand(conn, dealer_id=dealer_id, now=now)
        if demand is None:
            return None
    calendar = conn.execute(DEALER_CALENDAR, {"dealer_id": dealer_id, "now": now}).fetchone()
    today = calendar[1] if calendar else demand.today
    assert isinstance(today, date)
    shelf = stock_positions(conn, dealer_id=dealer_id)
    part_nos = {s.part_no for s in shelf} | set(demand.fault_per_day)
    part_nos |= {p.part_no for v in demand.visits for p in v.kit}
    result = forecast_parts(
        today=today,
        horizon_days=horizon_days,
        visits=demand.visits,
        fault_per_day=demand.fault_per_day,
        stock=shelf,
        descriptions=descriptions(conn, sorted(part_nos)),
        policy=policy,
    )
    return DealerPartsForecast(demand, stored, result)


def forecast_every_dealer(conn: Conn, *, now: datetime) -> tuple[int, int]:
    """Stores a fresh snapshot for every dealer, one transaction each (a failing dealer keeps its
    old snapshot and the others still get theirs). Returns (dealers, visits)."""
    rates = fault_rates(conn, now=now)
    dealers = visits = 0
    for (dealer_id,) in conn.execute(DEALER_IDS).fetchall():
        assert isinstance(dealer_id, int)
        try:
            with conn.transaction():
                demand = compute_demand(conn, dealer_id=dealer_id, now=now, rates=rates)
                if demand is not None:
                    store_snapshot(conn, dealer_id=dealer_id, demand=demand)
                    dealers += 1
                    visits += len(demand.visits)
        except psycopg.Error:
            log.exception("parts forecast of dealer %d failed; its last snapshot stays", dealer_id)
    return dealers, visits
