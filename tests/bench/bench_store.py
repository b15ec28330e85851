"""Storage benchmark: IronLink's batch write (binary COPY to staging, INSERT ... ON CONFLICT into
the readings hypertable, machine_state upsert, one commit per batch) against plain binary COPY of
the same rows into a plain table, measured in the same run on a fresh database. One JSON line.

    .venv/bin/python tests/bench/bench_store.py [--rows N] [--batch B]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta

import psycopg
from benchkit import add_machines, fresh_database

from ironlink.settings import load
from telemetry import store
from telemetry.wire import Reading


def make_rows(n: int, machines: list[int]) -> list[tuple[int, Reading]]:
    start = datetime.now(UTC) - timedelta(days=3)
    rows = []
    for i in range(n):
        m = machines[i % len(machines)]
        seq = i // len(machines) + 1
        rows.append(
            (
                m,
                Reading(
                    seq=seq,
                    ts=start + timedelta(seconds=seq),
                    engine_hours=1000 + seq / 3600,
                    rpm=1800.0,
                    load_pct=60.0,
                    coolant_c=88.0,
                    oil_kpa=400.0,
                    fuel_pct=70.0,
                    fuel_lph=20.0,
                    battery_v=14.1,
                    lat=52.0,
                    lon=-1.0,
                ),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--machines", type=int, default=200)
    args = parser.parse_args()
    settings = load(os.environ)
    with fresh_database(settings, prefix="ironlink_bench_store") as url:
        ids = add_machines(url, [(f"B-{i:05d}", "tractor", "6155M") for i in range(args.machines)])
        rows = make_rows(args.rows, list(ids.values()))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE copy_baseline (LIKE readings INCLUDING DEFAULTS)")
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(
                    store.COPY_READINGS_STAGE.replace("readings_stage", "copy_baseline")
                ) as cp:
                    cp.set_types(store.READING_TYPES)
                    for m, r in rows:
                        cp.write_row(store.reading_row(m, r))
            copy_s = time.perf_counter() - t0

            store.prepare(conn)
            t0 = time.perf_counter()
            for i in range(0, len(rows), args.batch):
                with conn.transaction():
                    store.write_batch(conn, readings=rows[i : i + args.batch], reports=[])
            ours_s = time.perf_counter() - t0
            # A full resend of everything: all absorbed as duplicates.
            t0 = time.perf_counter()
            dup = 0
            for i in range(0, len(rows), args.batch):
                with conn.transaction():
                    dup += store.write_batch(
                        conn, readings=rows[i : i + args.batch], reports=[]
                    ).duplicates
            resend_s = time.perf_counter() - t0
            stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
    print(
        json.dumps(
            {
                "bench": "store",
                "rows": args.rows,
                "batch": args.batch,
                "plain_copy_rows_per_s": round(args.rows / copy_s),
                "store_rows_per_s": round(args.rows / ours_s),
                "ratio_to_plain_copy": round(copy_s / ours_s, 3),
                "resend_rows_per_s": round(args.rows / resend_s),
                "stored": stored,
                "duplicates_absorbed": dup,
            }
        )
    )


if __name__ == "__main__":
    main()
