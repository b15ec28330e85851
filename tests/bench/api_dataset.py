"""The API benchmark's fleet: dealers, owners of one to a hundred machines, machine_state, a few
active faults, and 35 days of readings every 30 s while each engine runs (10-12 h a day), loaded
with binary COPY built by numpy. Rows are written in ingest order (by time, every machine of a
kind interleaved within a day), so a machine's readings are spread over its chunks' pages as they
are when they arrive; then the finished chunks are rewritten in (machine, time) order by the
chunk-reorder job (telemetry.chunk_reorder), as the hourly job does in production, and every hour
is rolled up into readings_hourly (telemetry.hourly_rollup), as the rollup job does in production.

The dataset is kept in its own database; a table records the parameters it was made with, so a
later run with the same parameters measures at once instead of loading again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import psycopg
from psycopg import sql

from ironlink import migrate
from telemetry import hourly_rollup
from telemetry.chunk_reorder import reorder_due

DATABASE: Final = "ironlink_bench_api"
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
# PostgreSQL's binary COPY framing: signature, flags, header extension length; trailer.
COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER: Final = b"\xff\xff"
MODELS: Final = {
    "tractor": ("5075E", "6155M", "8R 370"),
    "excavator": ("320 GC", "PC210LC-11", "ZX135US-7"),
}
# Columns every reading has; then the one column only its kind reports (the other stays NULL).
COMMON: Final = (
    ("machine_id", ">i8"),
    ("ts", ">i8"),
    ("seq", ">i8"),
    ("received_at", ">i8"),
    ("engine_hours", ">f8"),
    ("rpm", ">f4"),
    ("load_pct", ">f4"),
    ("coolant_c", ">f4"),
    ("oil_kpa", ">f4"),
    ("fuel_pct", ">f4"),
    ("fuel_lph", ">f4"),
    ("def_pct", ">f4"),
    ("battery_v", ">f4"),
    ("hyd_oil_c", ">f4"),
    ("hyd_bar", ">f4"),
    ("lat", ">f8"),
    ("lon", ">f8"),
    ("speed_kmh", ">f4"),
    ("idle_hours", ">f8"),
)
OWN_COLUMN: Final = {"tractor": ("pto_rpm", ">f4"), "excavator": ("boom_cycles", ">i8")}
# COPY writes this much at a time: large enough that per-call overhead vanishes.
WRITE_BYTES: Final = 8 << 20


@dataclass(frozen=True, slots=True)
class Params:
    machines: int = 1200
    owners: int = 300
    dealers: int = 12
    days: int = 35
    interval_s: int = 30
    shift_h: tuple[float, float] = (10.0, 12.0)
    seed: int = 7


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the load needs: every machine's serial, id and owner; the dataset's end."""

    serials: list[str]
    machine_ids: list[int]
    machine_owner: list[int]  # owner id of each machine
    owner_ids: list[int]
    end: datetime  # readings end before this (midnight UTC after the last day)


@dataclass(frozen=True, slots=True)
class Loaded:
    fleet: Fleet
    rows: int
    generated: bool  # False: the stored dataset was reused
    load_s: float  # of the run that generated it
    rows_per_s: float
    reordered_now: int  # readings chunks rewritten by this run (0 once the dataset is done)
    reorder_s_per_chunk: float  # mean over every readings chunk rewrite recorded
    rolled_up_hours: int  # machine-hours in readings_hourly
    rollup_s: float  # of the run that rolled the dataset up


def row_dtype(kind: str) -> np.dtype[np.void]:
    """One binary COPY row as a packed numpy record: field count, then (length, value) pairs."""
    columns = (*COMMON, OWN_COLUMN[kind])
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    for name, code in columns:
        fields += [(f"len_{name}", ">i4"), (name, code)]
    return np.dtype(fields)


def copy_statement(kind: str) -> sql.Composed:
    names = [name for name, _ in (*COMMON, OWN_COLUMN[kind])]
    return sql.SQL("COPY readings ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, names))
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """Per machine and day: shift start (s after midnight) and readings; computed once so each
    day can be generated independently (seq and counters continue across days)."""

    kinds: np.ndarray  # 0 tractor, 1 excavator
    start_s: np.ndarray  # (days, machines)
    counts: np.ndarray  # (days, machines)
    seq0: np.ndarray  # (days, machines): seq of the day's first reading
    base_hours: np.ndarray  # (machines,)
    lat: np.ndarray
    lon: np.ndarray


def plan(p: Params) -> Plan:
    rng = np.random.default_rng(p.seed)
    kinds = (rng.random(p.machines) < 0.4).astype(np.int8)
    start_s = rng.integers(5 * 3600, 8 * 3600, size=(p.days, p.machines))
    shift_s = rng.uniform(p.shift_h[0] * 3600, p.shift_h[1] * 3600, size=(p.days, p.machines))
    counts = (shift_s // p.interval_s).astype(np.int64)
    seq0 = 1 + np.cumsum(counts, axis=0) - counts
    return Plan(
        kinds=kinds,
        start_s=start_s,
        counts=counts,
        seq0=seq0,
        base_hours=rng.uniform(200, 6000, p.machines),
        lat=rng.uniform(48.0, 54.0, p.machines),
        lon=rng.uniform(-3.0, 12.0, p.machines),
    )


def day_rows(
    p: Params, pl: Plan, *, day: int, kind: int, machine_ids: np.ndarray, day0: datetime
) -> np.ndarray:
    """One day's readings of one kind as binary COPY records, sorted by time."""
    rng = np.random.default_rng([p.seed, day, kind])
    idx = np.flatnonzero(pl.kinds == kind)
    counts = pl.counts[day, idx]
    n = int(counts.sum())
    who = np.repeat(np.arange(len(idx)), counts)  # position in idx of each reading
    k = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)  # reading number in shift
    day_us = (day0 + timedelta(days=day) - PG_EPOCH) // timedelta(microseconds=1)
    ts = day_us + pl.start_s[day, idx][who] * 1_000_000 + k * p.interval_s * 1_000_000
    order = np.argsort(ts, kind="stable")
    who, k, ts = who[order], k[order], ts[order]
    m = idx[who]
    run_h = k * p.interval_s / 3600.0
    earlier = pl.seq0[day, m] - 1  # readings on earlier days
    hours = pl.base_hours[m] + earlier * p.interval_s / 3600.0 + run_h
    load = np.clip(rng.normal(55, 15, n), 3, 100)
    kind_name = "tractor" if kind == 0 else "excavator"
    out = np.empty(n, dtype=row_dtype(kind_name))
    out["nfields"] = len(COMMON) + 1
    for name in out.dtype.names or ():
        if name.startswith("len_"):
            out[name] = out.dtype.fields[name[4:]][0].itemsize  # type: ignore[index]
    out["machine_id"] = machine_ids[m]
    out["ts"] = ts
    out["seq"] = pl.seq0[day, m] + k
    out["received_at"] = ts + rng.integers(200_000, 2_000_000, n)
    out["engine_hours"] = hours
    out["rpm"] = 850 + 13 * load + rng.normal(0, 20, n)
    out["load_pct"] = load
    out["coolant_c"] = 84 + 0.08 * load + rng.normal(0, 0.5, n)
    out["oil_kpa"] = 170 + 2.2 * load + rng.normal(0, 5, n)
    out["fuel_pct"] = np.clip(95 - 5.5 * run_h + rng.normal(0, 0.3, n), 2, 100)
    out["fuel_lph"] = 2 + 0.3 * load + rng.normal(0, 0.5, n)
    out["def_pct"] = np.clip(90 - 1.5 * run_h, 5, 100)
    out["battery_v"] = 14.1 + rng.normal(0, 0.05, n)
    out["hyd_oil_c"] = 55 + 0.15 * load + rng.normal(0, 0.5, n)
    out["hyd_bar"] = 120 + 1.5 * load + rng.normal(0, 8, n)
    out["lat"] = pl.lat[m] + rng.normal(0, 0.001, n)
    out["lon"] = pl.lon[m] + rng.normal(0, 0.001, n)
    out["idle_hours"] = 0.15 * hours
    if kind == 0:
        out["speed_kmh"] = np.clip(rng.normal(8, 3, n), 0, 40)
        out["pto_rpm"] = np.where(load > 40, 1000.0, 0.0)
    else:
        out["speed_kmh"] = np.clip(rng.normal(0.5, 0.5, n), 0, 5)
        out["boom_cycles"] = (hours * 60).astype(np.int64)
    return out


def _copy(conn: psycopg.Connection[tuple[object, ...]], kind: str, rows: np.ndarray) -> None:
    data = memoryview(rows.tobytes())
    with conn.cursor() as cur, cur.copy(copy_statement(kind)) as cp:
        cp.write(COPY_SIGNATURE)
        for lo in range(0, len(data), WRITE_BYTES):
            cp.write(data[lo : lo + WRITE_BYTES])
        cp.write(COPY_TRAILER)


def _fleet_records(
    conn: psycopg.Connection[tuple[object, ...]], p: Params, pl: Plan
) -> tuple[np.ndarray, list[int]]:
    """Dealers, owners (1 to 100 machines each, a long tail like a real customer base) and
    machines; returns the machine ids (in plan order) and owner ids."""
    rng = np.random.default_rng(p.seed + 1)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dealers (code, name, region) VALUES (%s, %s, 'Bench')",
            [(f"DLR-{d:03d}", f"Dealer {d}") for d in range(p.dealers)],
        )
        dealer_ids = [r[0] for r in conn.execute("SELECT id FROM dealers ORDER BY id").fetchall()]
        cur.executemany(
            "INSERT INTO owners (code, name, kind, dealer_id) VALUES (%s, %s, %s, %s)",
            [
                (f"OWN-{o:04d}", f"Owner {o}", "farmer", dealer_ids[o % p.dealers])
                for o in range(p.owners)
            ],
        )
        owner_ids = [int(r[0]) for r in conn.execute("SELECT id FROM owners ORDER BY id")]  # type: ignore[call-overload]
    # Every owner has one machine; the rest go by Pareto weights, capped at 100 an owner.
    weights = rng.pareto(1.1, p.owners) + 1
    extra = rng.multinomial(p.machines - p.owners, weights / weights.sum())
    per_owner = np.minimum(1 + extra, 100)
    while per_owner.sum() < p.machines:  # what the cap took goes to the smallest owners
        per_owner[np.argmin(per_owner)] += 1
    owner_of = np.repeat(np.arange(p.owners), per_owner)[: p.machines]
    rng.shuffle(owner_of)
    kinds = ("tractor", "excavator")
    rows = [
        (
            f"BA-{i:06d}",
            kinds[pl.kinds[i]],
            MODELS[kinds[pl.kinds[i]]][i % 3],
            2015 + i % 10,
            owner_ids[owner_of[i]],
            dealer_ids[owner_of[i] % p.dealers],
        )
        for i in range(p.machines)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO machines (serial, kind, model, year, owner_id, dealer_id)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    ids = conn.execute("SELECT id FROM machines ORDER BY serial").fetchall()
    return np.array([int(r[0]) for r in ids], dtype=np.int64), owner_ids  # type: ignore[call-overload]


# machine_state from each machine's last reading; about 3 % of machines with an active fault.
STATE_FROM_READINGS: Final = """
INSERT INTO machine_state (machine_id, ts, seq, engine_hours, fuel_pct, coolant_c, lat, lon,
                           faults_ts, active_faults, online, status_ts)
SELECT m.id, r.ts, r.seq, r.engine_hours, r.fuel_pct, r.coolant_c, r.lat, r.lon, r.ts,
       CASE WHEN m.id % 33 = 0
            THEN '[{"spn": 110, "fmi": 0, "oc": 1, "lamp": "red"}]'::jsonb ELSE '[]'::jsonb END,
       m.id % 5 <> 0, r.ts
FROM machines m
CROSS JOIN LATERAL (SELECT * FROM readings WHERE machine_id = m.id
                    ORDER BY ts DESC LIMIT 1) r
"""
FAULT_EPISODES: Final = """
INSERT INTO fault_episodes (machine_id, spn, fmi, onset_ts, cleared_ts, last_seen_ts, max_oc,
                            lamp, reports)
SELECT machine_id, 110, 0, faults_ts - interval '2 hours', NULL, faults_ts, 1, 'red', 12
FROM machine_state WHERE jsonb_array_length(active_faults) > 0
"""
DATASET_TABLE: Final = """
CREATE TABLE IF NOT EXISTS bench_api_dataset (
    params jsonb NOT NULL, rows bigint NOT NULL, end_ts timestamptz NOT NULL,
    load_s double precision NOT NULL, made_at timestamptz NOT NULL DEFAULT now())
"""


def _fleet(conn: psycopg.Connection[tuple[object, ...]], end: datetime) -> Fleet:
    rows = conn.execute("SELECT serial, id, owner_id FROM machines ORDER BY serial").fetchall()
    owners = conn.execute("SELECT id FROM owners ORDER BY id").fetchall()
    return Fleet(
        serials=[str(r[0]) for r in rows],
        machine_ids=[int(r[1]) for r in rows],  # type: ignore[call-overload]
        machine_owner=[int(r[2]) for r in rows],  # type: ignore[call-overload]
        owner_ids=[int(r[0]) for r in owners],  # type: ignore[call-overload]
        end=end,
    )


def _stored(url: str, p: Params) -> tuple[int, datetime, float] | None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT rows, end_ts, load_s FROM bench_api_dataset WHERE params = %s",
                (json.dumps(asdict(p)),),
            ).fetchone()
    except psycopg.Error:
        return None
    return (int(row[0]), row[1], float(row[2])) if row else None


REORDER_S_PER_CHUNK: Final = (
    "SELECT coalesce(avg(took_s), 0) FROM reordered_chunks WHERE hypertable = 'readings'"
)


def reorder(url: str, *, log: Callable[[str], None]) -> tuple[int, float]:
    """Finished chunks rewritten in (machine, time) order by the chunk-reorder job's own function,
    as the hourly job would have done in production; its table records them, so a reused dataset
    is not rewritten again. Returns the chunks rewritten now and the mean seconds per chunk."""
    rewritten = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while done := reorder_due(conn, now=datetime.now(UTC)):
            for r in done:
                log(
                    f"  reordered {r.chunk} ({r.range_start:%Y-%m-%d}) in {r.took_s:.1f} s,"
                    f" {r.heap_bytes_before >> 20} -> {r.heap_bytes >> 20} MiB"
                )
            rewritten += len(done)
        row = conn.execute(REORDER_S_PER_CHUNK).fetchone()
    return rewritten, float(row[0]) if row else 0.0  # type: ignore[arg-type]


ROLLUP_TABLE: Final = """
CREATE TABLE IF NOT EXISTS bench_api_rollup (
    hours bigint NOT NULL, rollup_s double precision NOT NULL,
    made_at timestamptz NOT NULL DEFAULT now())
"""
# Bulk load: larger transactions than the job's (a machine-hour here is ~120 readings).
ROLLUP_BATCH_HOURS: Final = 5000


def rollup(url: str, *, log: Callable[[str], None]) -> tuple[int, float]:
    """Every hour of the dataset rolled up by the rollup job's own function: its first run marks
    every hour already in readings dirty (the COPY bypassed ingest, which marks them), then
    recomputes them. Recorded in bench_api_rollup, so a reused dataset is not rolled up again.
    Returns the machine-hours in readings_hourly and the seconds the roll-up took."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ROLLUP_TABLE)
        row = conn.execute("SELECT hours, rollup_s FROM bench_api_rollup").fetchone()
        if row is not None:
            return int(row[0]), float(row[1])  # type: ignore[call-overload, arg-type]
        log("rolling up every hour of the dataset into readings_hourly")
        t0 = time.perf_counter()
        done = hourly_rollup.refresh(conn, now=datetime.now(UTC), batch_hours=ROLLUP_BATCH_HOURS)
        took = time.perf_counter() - t0
        conn.execute("VACUUM (ANALYZE) readings_hourly, readings_hourly_dirty")
        log(f"  {done.hours:,} machine-hours in {done.batches} batches, {took:.0f} s")
        conn.execute(
            "INSERT INTO bench_api_rollup (hours, rollup_s) VALUES (%s, %s)", (done.hours, took)
        )
    return done.hours, took


def ensure(
    server_url: str, p: Params, *, log: Callable[[str], None], jobs: int = 2
) -> tuple[str, Loaded]:
    """The dataset's database URL and what it holds: reused when made with the same parameters,
    otherwise (re)created, loaded with `jobs` COPY streams in parallel, and analysed."""
    url = psycopg.conninfo.make_conninfo(server_url, dbname=DATABASE)
    admin = psycopg.conninfo.make_conninfo(server_url, dbname="postgres")
    stored = _stored(url, p)
    if stored is not None:
        rows, end, load_s = stored
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.apply(conn, migrate.discover())  # migrations added since it was made
            fleet = _fleet(conn, end)
        reordered, per_chunk = reorder(url, log=log)
        hours, rollup_s = rollup(url, log=log)
        return url, Loaded(
            fleet, rows, False, load_s, rows / load_s, reordered, per_chunk, hours, rollup_s
        )

    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = end - timedelta(days=p.days)
    pl = plan(p)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply(conn, migrate.discover())
        machine_ids, _ = _fleet_records(conn, p, pl)

    def load_day(day: int) -> int:
        n = 0
        with psycopg.connect(url, autocommit=True) as conn:
            for kind, name in enumerate(("tractor", "excavator")):
                rows = day_rows(p, pl, day=day, kind=kind, machine_ids=machine_ids, day0=day0)
                _copy(conn, name, rows)
                n += len(rows)
        return n

    log(f"loading {int(pl.counts.sum()):,} readings over {p.days} days ({jobs} COPY streams)")
    t0 = time.perf_counter()
    total = 0
    with ThreadPoolExecutor(jobs) as pool:
        for day, n in enumerate(pool.map(load_day, range(p.days))):
            total += n
            if day % 5 == 4:
                rate = total / (time.perf_counter() - t0)
                log(f"  day {day + 1}/{p.days}: {total:,} rows, {rate:,.0f} rows/s")
    copy_s = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STATE_FROM_READINGS)
        conn.execute(FAULT_EPISODES)
        t1 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")  # visibility map and statistics, as autovacuum would
        log(
            f"copy {copy_s:.0f} s ({total / copy_s:,.0f} rows/s); vacuum analyze"
            f" {time.perf_counter() - t1:.0f} s"
        )
        conn.execute(DATASET_TABLE)
        conn.execute("DELETE FROM bench_api_dataset")
        conn.execute(
            "INSERT INTO bench_api_dataset (params, rows, end_ts, load_s) VALUES (%s, %s, %s, %s)",
            (json.dumps(asdict(p)), total, end, copy_s),
        )
        fleet = _fleet(conn, end)
    reordered, per_chunk = reorder(url, log=log)
    hours, rollup_s = rollup(url, log=log)
    return url, Loaded(
        fleet, total, True, copy_s, total / copy_s, reordered, per_chunk, hours, rollup_s
    )
