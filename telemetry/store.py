"""Write side of telemetry: binary COPY into staging, INSERT ... ON CONFLICT DO NOTHING into the
hypertables, machine_state upserted once per machine per batch, rejected messages kept.

Every function takes a connection inside the caller's transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, LiteralString, TypeVar

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from telemetry import episodes
from telemetry.rollup_hours import batch_hours
from telemetry.wire import Dm1, Reading

_Timed = TypeVar("_Timed", Reading, Dm1)

READING_COLUMNS: Final = (
    "machine_id", "ts", "seq", "engine_hours", "rpm", "load_pct", "coolant_c", "oil_kpa",
    "fuel_pct", "fuel_lph", "def_pct", "battery_v", "hyd_oil_c", "hyd_bar", "lat", "lon",
    "speed_kmh", "pto_rpm", "boom_cycles", "idle_hours",
)  # fmt: skip
READING_TYPES: Final = (
    "int8", "timestamptz", "int8", "float8", "float4", "float4", "float4", "float4",
    "float4", "float4", "float4", "float4", "float4", "float4", "float8", "float8",
    "float4", "float4", "int8", "float8",
)  # fmt: skip
_READING_SIGNALS: Final = READING_COLUMNS[3:]

CREATE_STAGING: Final[LiteralString] = """
CREATE TEMP TABLE IF NOT EXISTS readings_stage
    (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS dm1_stage
    (LIKE dm1_reports INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS faults_stage
    (LIKE faults INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
"""
COPY_READINGS_STAGE: Final[LiteralString] = (
    "COPY readings_stage (machine_id, ts, seq, engine_hours, rpm, load_pct, coolant_c, oil_kpa,"
    " fuel_pct, fuel_lph, def_pct, battery_v, hyd_oil_c, hyd_bar, lat, lon, speed_kmh, pto_rpm,"
    " boom_cycles, idle_hours) FROM STDIN (FORMAT BINARY)"
)
INSERT_READINGS_FROM_STAGING: Final[LiteralString] = """
INSERT INTO readings SELECT * FROM readings_stage ON CONFLICT DO NOTHING
"""
COPY_FAULTS_STAGE: Final[LiteralString] = (
    "COPY faults_stage (machine_id, ts, seq, spn, fmi, oc, lamp) FROM STDIN (FORMAT BINARY)"
)
INSERT_FAULTS_FROM_STAGING: Final[LiteralString] = """
INSERT INTO faults SELECT * FROM faults_stage ON CONFLICT DO NOTHING
"""
COPY_DM1_STAGE: Final[LiteralString] = (
    "COPY dm1_stage (machine_id, ts, seq, active) FROM STDIN (FORMAT BINARY)"
)
INSERT_DM1_FROM_STAGING: Final[LiteralString] = """
INSERT INTO dm1_reports SELECT * FROM dm1_stage ON CONFLICT DO NOTHING
"""
# The batch's hours become dirty for the hourly rollup (telemetry.hourly_rollup) in the batch's
# transaction. DO UPDATE ... WHERE false writes nothing but locks an already dirty row until
# commit (DO NOTHING would not lock it): a refresh claiming that hour meanwhile skips it, or if
# it claimed first, this waits and marks the hour again, so no reading is left out of a rollup.
MARK_HOURS_DIRTY: Final[LiteralString] = """
INSERT INTO readings_hourly_dirty (machine_id, hour)
SELECT * FROM unnest(%(machine_id)s::int8[], %(hour)s::timestamptz[])
ON CONFLICT (machine_id, hour) DO UPDATE SET hour = EXCLUDED.hour WHERE false
"""
# Episodes are rebuilt from all of a machine's DM1 reports (sent only on change, so few), under a
# lock on the machine row so that two workers never rebuild the same machine at once.
LOCK_MACHINES: Final[LiteralString] = """
SELECT id FROM machines WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE
"""
SELECT_EPISODE_SPANS: Final[LiteralString] = """
SELECT machine_id, onset_ts, cleared_ts FROM fault_episodes WHERE machine_id = ANY(%s)
"""
SELECT_DM1_REPORTS_SINCE: Final[LiteralString] = """
SELECT d.machine_id, d.ts, d.seq, d.active
FROM dm1_reports d
JOIN unnest(%(machine_id)s::int8[], %(since)s::timestamptz[]) AS s(machine_id, since)
  ON d.machine_id = s.machine_id AND d.ts >= s.since
"""
DELETE_EPISODES_SINCE: Final[LiteralString] = """
DELETE FROM fault_episodes e
USING unnest(%(machine_id)s::int8[], %(since)s::timestamptz[]) AS s(machine_id, since)
WHERE e.machine_id = s.machine_id AND e.onset_ts >= s.since
"""
INSERT_EPISODES: Final[LiteralString] = """
INSERT INTO fault_episodes
    (machine_id, spn, fmi, onset_ts, cleared_ts, last_seen_ts, max_oc, lamp, reports)
SELECT * FROM unnest(%(machine_id)s::int8[], %(spn)s::int4[], %(fmi)s::int2[],
                     %(onset)s::timestamptz[], %(cleared)s::timestamptz[],
                     %(last_seen)s::timestamptz[], %(max_oc)s::int2[], %(lamp)s::text[],
                     %(reports)s::int4[])
"""
# A late reading never moves state backwards: the row changes only for a newer measured ts.
UPSERT_STATE_FROM_READINGS: Final[LiteralString] = """
INSERT INTO machine_state AS s (machine_id, ts, seq, engine_hours, fuel_pct, coolant_c, lat, lon)
SELECT * FROM unnest(%(machine_id)s::int8[], %(ts)s::timestamptz[], %(seq)s::int8[],
                     %(engine_hours)s::float8[], %(fuel_pct)s::float4[], %(coolant_c)s::float4[],
                     %(lat)s::float8[], %(lon)s::float8[])
ON CONFLICT (machine_id) DO UPDATE SET
    ts = EXCLUDED.ts,
    seq = EXCLUDED.seq,
    engine_hours = EXCLUDED.engine_hours,
    fuel_pct = COALESCE(EXCLUDED.fuel_pct, s.fuel_pct),
    coolant_c = COALESCE(EXCLUDED.coolant_c, s.coolant_c),
    lat = COALESCE(EXCLUDED.lat, s.lat),
    lon = COALESCE(EXCLUDED.lon, s.lon),
    received_at = now()
WHERE s.ts IS NULL OR s.ts <= EXCLUDED.ts
"""
UPSERT_STATE_FROM_FAULTS: Final[LiteralString] = """
INSERT INTO machine_state AS s (machine_id, faults_ts, active_faults)
SELECT * FROM unnest(%(machine_id)s::int8[], %(ts)s::timestamptz[], %(active)s::jsonb[])
ON CONFLICT (machine_id) DO UPDATE SET
    faults_ts = EXCLUDED.faults_ts,
    active_faults = EXCLUDED.active_faults,
    received_at = now()
WHERE s.faults_ts IS NULL OR s.faults_ts <= EXCLUDED.faults_ts
"""
UPSERT_STATE_FROM_STATUS: Final[LiteralString] = """
INSERT INTO machine_state AS s (machine_id, online, status_ts)
VALUES (%(machine_id)s, %(online)s, %(ts)s)
ON CONFLICT (machine_id) DO UPDATE SET online = EXCLUDED.online, status_ts = EXCLUDED.status_ts
WHERE s.status_ts IS NULL OR s.status_ts <= EXCLUDED.status_ts
"""
INSERT_REJECTED: Final[LiteralString] = """
INSERT INTO rejected (topic, payload, reason, detail)
VALUES (%(topic)s, %(payload)s, %(reason)s, %(detail)s)
"""


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    topic: str
    payload: bytes
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    machine_id: int
    online: bool
    ts: datetime


@dataclass(slots=True)
class BatchResult:
    readings_in: int = 0
    readings_stored: int = 0
    reports_in: int = 0
    reports_stored: int = 0
    fault_rows_stored: int = 0
    rejected: int = 0
    rejected_reasons: Mapping[str, int] = field(default_factory=dict)
    machine_ids: set[int] = field(default_factory=set)
    # machine id -> measured time of its newest reading in the batch
    newest_reading: dict[int, datetime] = field(default_factory=dict)

    def reading_ages(self, now_s: float) -> list[float]:
        """Per machine in the batch, how far its newest reading lags behind now: the lag of
        data that arrives late after a coverage gap (one value per machine, not per reading)."""
        return [now_s - ts.timestamp() for ts in self.newest_reading.values()]

    @property
    def duplicates(self) -> int:
        return self.readings_in - self.readings_stored + self.reports_in - self.reports_stored


def prepare(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Creates the per-session staging tables; call once per connection, outside a batch."""
    conn.execute(CREATE_STAGING)


def write_batch(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    readings: Sequence[tuple[int, Reading]],
    reports: Sequence[tuple[int, Dm1]],
    statuses: Sequence[StatusUpdate] = (),
    rejected: Sequence[RejectedMessage] = (),
) -> BatchResult:
    """Stores one batch; the caller commits and only then acknowledges the messages."""
    result = BatchResult(readings_in=len(readings), reports_in=len(reports), rejected=len(rejected))
    if readings:
        result.readings_stored = _store_readings(conn, readings)
        machine_ids, hours = batch_hours(readings)
        conn.execute(MARK_HOURS_DIRTY, {"machine_id": machine_ids, "hour": hours})
        latest = _latest_per_machine(readings)
        result.newest_reading = {m: r.ts for m, r in latest.items()}
        _upsert_state_from_readings(conn, latest)
    if reports:
        result.reports_stored = _store_dm1(conn, reports)
        result.fault_rows_stored = _store_reports(conn, reports)
        _upsert_state_from_reports(conn, reports)
        if result.reports_stored:
            since: dict[int, datetime] = {}
            for machine_id, report in reports:
                if machine_id not in since or report.ts < since[machine_id]:
                    since[machine_id] = report.ts
            refresh_episodes(conn, since)
    for status in statuses:
        conn.execute(
            UPSERT_STATE_FROM_STATUS,
            {"machine_id": status.machine_id, "online": status.online, "ts": status.ts},
        )
    if rejected:
        with conn.cursor() as cur:
            cur.executemany(
                INSERT_REJECTED,
                [
                    {"topic": r.topic, "payload": r.payload, "reason": r.reason, "detail": r.detail}
                    for r in rejected
                ],
            )
    result.machine_ids.update(m for m, _ in readings)
    result.machine_ids.update(m for m, _ in reports)
    return result


def reading_row(machine_id: int, r: Reading) -> tuple[object, ...]:
    """A reading as the row COPY_READINGS_STAGE takes, in READING_COLUMNS order."""
    return (
        machine_id, r.ts, r.seq, r.engine_hours, r.rpm, r.load_pct, r.coolant_c,
        r.oil_kpa, r.fuel_pct, r.fuel_lph, r.def_pct, r.battery_v, r.hyd_oil_c,
        r.hyd_bar, r.lat, r.lon, r.speed_kmh, r.pto_rpm, r.boom_cycles, r.idle_hours,
    )  # fmt: skip


def _store_readings(
    conn: psycopg.Connection[tuple[object, ...]], readings: Sequence[tuple[int, Reading]]
) -> int:
    with conn.cursor() as cur:
        with cur.copy(COPY_READINGS_STAGE) as copy:
            copy.set_types(READING_TYPES)
            for machine_id, r in readings:
                copy.write_row(reading_row(machine_id, r))
        cur.execute(INSERT_READINGS_FROM_STAGING)
        return cur.rowcount


def _store_reports(
    conn: psycopg.Connection[tuple[object, ...]], reports: Sequence[tuple[int, Dm1]]
) -> int:
    with conn.cursor() as cur:
        with cur.copy(COPY_FAULTS_STAGE) as copy:
            copy.set_types(("int8", "timestamptz", "int8", "int4", "int2", "int2", "text"))
            for machine_id, report in reports:
                for dtc in report.active:
                    copy.write_row(
                        (machine_id, report.ts, report.seq, dtc.spn, dtc.fmi, dtc.oc, str(dtc.lamp))
                    )
        cur.execute(INSERT_FAULTS_FROM_STAGING)
        return cur.rowcount


def _store_dm1(
    conn: psycopg.Connection[tuple[object, ...]], reports: Sequence[tuple[int, Dm1]]
) -> int:
    with conn.cursor() as cur:
        with cur.copy(COPY_DM1_STAGE) as copy:
            copy.set_types(("int8", "timestamptz", "int8", "jsonb"))
            for machine_id, report in reports:
                active = [
                    {"spn": d.spn, "fmi": d.fmi, "oc": d.oc, "lamp": str(d.lamp)}
                    for d in report.active
                ]
                copy.write_row((machine_id, report.ts, report.seq, Jsonb(active)))
        cur.execute(INSERT_DM1_FROM_STAGING)
        return cur.rowcount


SELECT_LATEST_HOURS: Final[LiteralString] = """
SELECT machine_id, ts, engine_hours FROM machine_state
WHERE machine_id = ANY(%s) AND ts IS NOT NULL AND engine_hours IS NOT NULL
"""


def latest_hours(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> dict[int, tuple[datetime, float]]:
    """Each machine's latest stored (ts, engine_hours), by measured time."""
    latest: dict[int, tuple[datetime, float]] = {}
    for m, ts, h in conn.execute(SELECT_LATEST_HOURS, (machine_ids,)):
        if isinstance(m, int) and isinstance(ts, datetime) and isinstance(h, float):
            latest[m] = (ts, h)
    return latest


def refresh_episodes(
    conn: psycopg.Connection[tuple[object, ...]], since: Mapping[int, datetime]
) -> None:
    """Derives the fault episodes of these machines again after DM1 reports at `since` (machine
    id -> earliest new report's time) or later were stored: only from the point
    episodes.rebuild_start finds, not from each machine's whole history."""
    machine_ids = sorted(since)
    conn.execute(LOCK_MACHINES, (machine_ids,))  # one worker at a time per machine
    spans: dict[int, list[tuple[datetime, datetime | None]]] = {m: [] for m in machine_ids}
    for machine_id, onset, cleared in conn.execute(SELECT_EPISODE_SPANS, (machine_ids,)):
        spans[int(machine_id)].append((onset, cleared))  # type: ignore[call-overload, arg-type]
    start: dict[str, list[int] | list[datetime]] = {
        "machine_id": machine_ids,
        "since": [episodes.rebuild_start(spans[m], since[m]) for m in machine_ids],
    }
    by_machine: dict[int, list[episodes.Report]] = {m: [] for m in machine_ids}
    for machine_id, ts, seq, active in conn.execute(SELECT_DM1_REPORTS_SINCE, start):
        codes = [
            episodes.ActiveCode(int(c["spn"]), int(c["fmi"]), int(c["oc"]), str(c["lamp"]))
            for c in active  # type: ignore[attr-defined]
        ]
        by_machine[int(machine_id)].append(  # type: ignore[call-overload]
            episodes.Report(ts, int(seq), codes)  # type: ignore[arg-type, call-overload]
        )
    rows = [(m, e) for m, reports in by_machine.items() for e in episodes.episodes(reports)]
    conn.execute(DELETE_EPISODES_SINCE, start)
    if rows:
        conn.execute(
            INSERT_EPISODES,
            {
                "machine_id": [m for m, _ in rows],
                "spn": [e.spn for _, e in rows],
                "fmi": [e.fmi for _, e in rows],
                "onset": [e.onset for _, e in rows],
                "cleared": [e.cleared for _, e in rows],
                "last_seen": [e.last_seen for _, e in rows],
                "max_oc": [e.max_oc for _, e in rows],
                "lamp": [e.lamp for _, e in rows],
                "reports": [e.reports for _, e in rows],
            },
        )


def _latest_per_machine(items: Iterable[tuple[int, _Timed]]) -> dict[int, _Timed]:
    latest: dict[int, _Timed] = {}
    for machine_id, item in items:
        current = latest.get(machine_id)
        if current is None or (item.ts, item.seq) > (current.ts, current.seq):
            latest[machine_id] = item
    return latest


def _upsert_state_from_readings(
    conn: psycopg.Connection[tuple[object, ...]], latest: Mapping[int, Reading]
) -> None:
    ids = sorted(latest)  # a fixed lock order keeps concurrent workers from deadlocking
    rows = [latest[i] for i in ids]
    conn.execute(
        UPSERT_STATE_FROM_READINGS,
        {
            "machine_id": ids,
            "ts": [r.ts for r in rows],
            "seq": [r.seq for r in rows],
            "engine_hours": [r.engine_hours for r in rows],
            "fuel_pct": [r.fuel_pct for r in rows],
            "coolant_c": [r.coolant_c for r in rows],
            "lat": [r.lat for r in rows],
            "lon": [r.lon for r in rows],
        },
    )


def _upsert_state_from_reports(
    conn: psycopg.Connection[tuple[object, ...]], reports: Sequence[tuple[int, Dm1]]
) -> None:
    latest = _latest_per_machine(reports)
    ids = sorted(latest)
    conn.execute(
        UPSERT_STATE_FROM_FAULTS,
        {
            "machine_id": ids,
            "ts": [latest[i].ts for i in ids],
            "active": [msgspec.json.encode(latest[i].active).decode() for i in ids],
        },
    )
