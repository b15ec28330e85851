"""A machine's service-due forecast from the database: its daily hour-meter readings, the active
service_interval rules and its last services (as the rule engine reads them), then the pure
maintenance.forecast.service_due.

Days are the servicing dealer's calendar days (dealers.timezone), so "Monday" is the Monday the
machine works on, not a UTC one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row

from maintenance.fleet import repo as fleet
from maintenance.forecast.meter_days import LocalDay, rollup_days
from maintenance.forecast.service_due import (
    LOOKBACK_DAYS,
    DailyUsage,
    Forecast,
    forecast,
    usage_from_meter,
)
from maintenance.rules.model import ServiceInterval
from maintenance.rules.store import active_rules

Conn = psycopg.Connection[tuple[object, ...]]

# Each machine's calendar: its dealer's time zone, today there, and the day of its newest reading.
MACHINE_CALENDARS: Final[LiteralString] = """
SELECT m.id, d.timezone, (%(now)s::timestamptz AT TIME ZONE d.timezone)::date AS today,
       (s.ts AT TIME ZONE d.timezone)::date AS last_report
FROM machines m
JOIN dealers d ON d.id = m.dealer_id
LEFT JOIN machine_state s ON s.machine_id = m.id
WHERE m.id = ANY(%(machine_ids)s)
ORDER BY m.id
"""
# The hour meter at the end of each local day (maintenance.forecast.meter_days): from the hourly
# rollup for the days it holds completely, by probing readings for the others. A probe is a
# backward scan of readings (machine_id, ts DESC, seq) over one day stopping at its first row with
# a meter. Probing every day of every machine cost an index probe per day; the rollup gives all of
# a batch's days in one grouped scan of one row an hour. service_forecasts for the 1,200 machines
# of the API bench (56 days each, one run of each): 16.8 s probing every day, 1.42 s now, with the
# same forecasts.
# The constant bounds %(lo)s..%(hi)s (the whole look-back, a day wider for any zone) let the
# planner keep only the look-back's chunks: with the day's bounds alone it planned, and each probe
# checked, every chunk of the table (705 daily chunks, two years: 225 ms a machine, 17 ms with
# these bounds).
DAY_BOUNDS: Final[LiteralString] = """
SELECT day::date, day AT TIME ZONE %(tz)s, (day + interval '1 day') AT TIME ZONE %(tz)s
FROM generate_series(%(first_day)s::date::timestamp, %(last_day)s::date::timestamp,
                     interval '1 day') AS day
ORDER BY day
"""
ROLLUP_WATERMARK: Final[LiteralString] = "SELECT rolled_up_before FROM readings_hourly_state"
DIRTY_HOURS: Final[LiteralString] = """
SELECT machine_id, hour FROM readings_hourly_dirty
WHERE machine_id = ANY(%(machine_ids)s) AND hour >= %(lo)s AND hour < %(hi)s
"""
# Each hour is assigned to the local day it starts in: right for the days rollup_days lets through
# (whole-hour bounds), and the others are not taken from here.
ROLLED_UP_METER: Final[LiteralString] = """
SELECT machine_id, (hour AT TIME ZONE %(tz)s)::date AS day, max(engine_hours_max)
FROM readings_hourly
WHERE machine_id = ANY(%(machine_ids)s) AND hour >= %(lo)s AND hour < %(hi)s
  AND engine_hours_max IS NOT NULL
GROUP BY 1, 2
"""
PROBED_METER: Final[LiteralString] = """
SELECT p.machine_id, p.day, r.engine_hours
FROM unnest(%(machine_ids)s::int8[], %(days)s::date[], %(starts)s::timestamptz[],
            %(ends)s::timestamptz[]) AS p (machine_id, day, day_start, day_end)
LEFT JOIN LATERAL (
    SELECT r.engine_hours FROM readings r
    WHERE r.machine_id = p.machine_id
      AND r.ts >= %(lo)s AND r.ts < %(hi)s
      AND r.ts >= p.day_start AND r.ts < p.day_end
      AND r.engine_hours IS NOT NULL
    ORDER BY r.ts DESC
    LIMIT 1
) r ON true
"""
OPEN_SERVICE_TICKETS: Final[LiteralString] = """
SELECT machine_id, rule_key, id FROM tickets
WHERE machine_id = ANY(%(machine_ids)s) AND kind = 'service_interval'
  AND status NOT IN ('resolved', 'closed', 'cancelled')
"""


@dataclass(frozen=True, slots=True)
class MachineForecast:
    """The forecast with what it was computed for: the machine's day and time zone, the rule-set
    version, and the live service ticket per rule key (a service already on its way)."""

    today: date
    timezone: str
    rule_set_version: int
    forecast: Forecast
    open_tickets: dict[str, int]


def daily_usages(
    conn: Conn, *, machine_ids: Sequence[int], timezone: str, first_day: date, last_day: date
) -> dict[int, DailyUsage]:
    """Usage per local day (`timezone`) from `first_day` to `last_day` for each machine; the first
    day is the baseline (its own usage is unknown)."""
    ids = list(machine_ids)
    bounds = {
        # UTC midnights a day beyond either end cover the local days in any zone (UTC-12..+14).
        "lo": datetime.combine(first_day - timedelta(days=1), time(), UTC),
        "hi": datetime.combine(last_day + timedelta(days=2), time(), UTC),
    }
    days = [
        LocalDay(d, start, end)  # type: ignore[arg-type]
        for d, start, end in conn.execute(
            DAY_BOUNDS, {"tz": timezone, "first_day": first_day, "last_day": last_day}
        )
    ]
    watermark_row = conn.execute(ROLLUP_WATERMARK).fetchone()
    watermark: datetime | None = None if watermark_row is None else watermark_row[0]  # type: ignore[assignment]
    dirty: dict[int, list[datetime]] = {}
    for machine_id, hour in conn.execute(DIRTY_HOURS, {"machine_ids": ids, **bounds}):
        dirty.setdefault(machine_id, []).append(hour)  # type: ignore[arg-type]
    meter: dict[tuple[int, date], float] = {}
    served = {m: rollup_days(days, watermark=watermark, dirty=dirty.get(m, ())) for m in ids}
    if any(served.values()):
        for machine_id, day, hours in conn.execute(
            ROLLED_UP_METER,
            {"machine_ids": ids, "tz": timezone, **bounds},
            prepare=False,  # a custom plan with these bounds keeps only their chunks
        ):
            if day in served[machine_id]:  # type: ignore[index]
                meter[(machine_id, day)] = float(hours)  # type: ignore[arg-type, index]
    probes = [(m, d) for m in ids for d in days if d.day not in served[m]]
    if probes:
        for machine_id, day, hours in conn.execute(
            PROBED_METER,
            {
                "machine_ids": [m for m, _ in probes],
                "days": [d.day for _, d in probes],
                "starts": [d.start for _, d in probes],
                "ends": [d.end for _, d in probes],
                **bounds,
            },
            prepare=False,  # as above
        ):
            if hours is not None:
                meter[(machine_id, day)] = float(hours)  # type: ignore[arg-type, index]
    return {
        m: DailyUsage(first_day, usage_from_meter([meter.get((m, d.day)) for d in days]))
        for m in ids
    }


@dataclass(frozen=True, slots=True)
class _Calendar:
    """A machine's MACHINE_CALENDARS row."""

    id: int
    timezone: str
    today: date
    last_report: date | None


def service_forecasts(
    conn: Conn, *, machine_ids: Sequence[int], now: datetime
) -> dict[int, MachineForecast]:
    """The forecasts of those of the machines that exist, by id. The rule set, the machines' views
    and their open tickets are read once for all of them; the hour meter once per batch of machines
    that share a time zone and a local date (daily_usages)."""
    with conn.cursor(row_factory=class_row(_Calendar)) as cur:
        calendars = cur.execute(
            MACHINE_CALENDARS, {"machine_ids": list(machine_ids), "now": now}
        ).fetchall()
    if not calendars:
        return {}
    ids = [c.id for c in calendars]
    ruleset = active_rules(conn)
    rules = [r for r in ruleset.rules if isinstance(r, ServiceInterval)]
    views = {v.machine_id: v for v in fleet.machine_views(conn, ids)}
    open_tickets: dict[int, dict[str, int]] = {}
    for machine_id, key, ticket_id in conn.execute(OPEN_SERVICE_TICKETS, {"machine_ids": ids}):
        open_tickets.setdefault(int(machine_id), {})[str(key)] = int(ticket_id)  # type: ignore[call-overload]
    batches: dict[tuple[str, date], list[int]] = {}
    for c in calendars:
        batches.setdefault((c.timezone, c.today), []).append(c.id)
    usages: dict[int, DailyUsage] = {}
    for (timezone, today), batch in batches.items():
        usages |= daily_usages(
            conn,
            machine_ids=batch,
            timezone=timezone,
            first_day=today - timedelta(days=LOOKBACK_DAYS + 1),
            last_day=today - timedelta(days=1),
        )
    return {
        c.id: MachineForecast(
            c.today,
            c.timezone,
            ruleset.version,
            forecast(rules, views[c.id], usages[c.id], today=c.today, last_report=c.last_report),
            open_tickets.get(c.id, {}),
        )
        for c in calendars
    }


def service_forecast(conn: Conn, *, machine_id: int, now: datetime) -> MachineForecast | None:
    """None when there is no such machine."""
    return service_forecasts(conn, machine_ids=[machine_id], now=now).get(machine_id)
