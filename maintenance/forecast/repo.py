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

from maintenance.fleet import repo as fleet
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
# The hour meter at the end of each local day: the day's last reading, NULL for a day without
# one. Each LATERAL is a backward scan of readings (machine_id, ts DESC, seq) over one day that
# stops at its first row, so the cost is one index probe per day however many readings there are;
# scanning the look-back and grouping by day would read every reading of eight weeks. The constant
# bounds %(lo)s..%(hi)s (the whole look-back, a day wider for any zone) let the planner keep only
# the look-back's chunks: with the day's bounds alone it planned, and each probe checked, every
# chunk of the table (705 daily chunks, two years: 225 ms a machine, 17 ms with these bounds).
DAILY_METER: Final[LiteralString] = """
SELECT day::date, r.engine_hours
FROM generate_series(%(first_day)s::date::timestamp, %(last_day)s::date::timestamp,
                     interval '1 day') AS day
LEFT JOIN LATERAL (
    SELECT r.engine_hours FROM readings r
    WHERE r.machine_id = %(machine_id)s
      AND r.ts >= %(lo)s AND r.ts < %(hi)s
      AND r.ts >= day AT TIME ZONE %(tz)s
      AND r.ts < (day + interval '1 day') AT TIME ZONE %(tz)s
    ORDER BY r.ts DESC
    LIMIT 1
) r ON true
ORDER BY day
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


def daily_usage(
    conn: Conn, *, machine_id: int, timezone: str, first_day: date, last_day: date
) -> DailyUsage:
    """Usage per local day from `first_day` to `last_day`; the first day is the baseline (its own
    usage is unknown)."""
    rows = conn.execute(
        DAILY_METER,
        {
            "machine_id": machine_id,
            "tz": timezone,
            "first_day": first_day,
            "last_day": last_day,
            # UTC midnights a day beyond either end cover the local days in any zone (UTC-12..+14).
            "lo": datetime.combine(first_day - timedelta(days=1), time(), UTC),
            "hi": datetime.combine(last_day + timedelta(days=2), time(), UTC),
        },
        prepare=False,  # a custom plan with these bounds; a generic one would keep every chunk
    ).fetchall()
    meter = [None if h is None else float(h) for _, h in rows]  # type: ignore[arg-type]
    return DailyUsage(first_day, usage_from_meter(meter))


def service_forecasts(
    conn: Conn, *, machine_ids: Sequence[int], now: datetime
) -> dict[int, MachineForecast]:
    """The forecasts of those of the machines that exist, by id. The rule set, the machines' views
    and their open tickets are read once for all of them; the hour meter per machine."""
    calendars = conn.execute(
        MACHINE_CALENDARS, {"machine_ids": list(machine_ids), "now": now}
    ).fetchall()
    if not calendars:
        return {}
    ids = [int(c[0]) for c in calendars]  # type: ignore[call-overload]
    ruleset = active_rules(conn)
    rules = [r for r in ruleset.rules if isinstance(r, ServiceInterval)]
    views = {v.machine_id: v for v in fleet.machine_views(conn, ids)}
    open_tickets: dict[int, dict[str, int]] = {}
    for machine_id, key, ticket_id in conn.execute(OPEN_SERVICE_TICKETS, {"machine_ids": ids}):
        open_tickets.setdefault(int(machine_id), {})[str(key)] = int(ticket_id)  # type: ignore[call-overload]
    out: dict[int, MachineForecast] = {}
    for machine_id, timezone, today, last_report in calendars:
        assert isinstance(machine_id, int)
        assert isinstance(timezone, str)
        assert isinstance(today, date)
        assert last_report is None or isinstance(last_report, date)
        usage = daily_usage(
            conn,
            machine_id=machine_id,
            timezone=timezone,
            first_day=today - timedelta(days=LOOKBACK_DAYS + 1),
            last_day=today - timedelta(days=1),
        )
        result = forecast(rules, views[machine_id], usage, today=today, last_report=last_report)
        out[machine_id] = MachineForecast(
            today, timezone, ruleset.version, result, open_tickets.get(machine_id, {})
        )
    return out


def service_forecast(conn: Conn, *, machine_id: int, now: datetime) -> MachineForecast | None:
    """None when there is no such machine."""
    return service_forecasts(conn, machine_ids=[machine_id], now=now).get(machine_id)
