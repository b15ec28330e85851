"""Service forecast benchmark: maintenance.forecast.repo.service_forecasts for every machine of the
API bench's fleet (api_dataset.py: 1,200 machines, 35 days of 30 s readings, rolled up), as the
hourly service-due sweep, the owner digest and the daily parts forecast call it.

Baseline from the same run and the same code: the rollup's watermark row removed inside a
transaction that is rolled back, so every day of every machine is probed from readings (what a
rollup that never ran, or the code before the rollup path, costs). Both give their forecasts,
which must be the same. The last line is one JSON object.

    .venv/bin/python tests/bench/bench_forecast.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import api_dataset
import psycopg

from ironlink.settings import load
from maintenance.forecast.repo import MachineForecast, service_forecasts

Conn = psycopg.Connection[tuple[object, ...]]


def log(message: str) -> None:
    print(f"bench-forecast: {message}", file=sys.stderr, flush=True)


def timed(
    run: Callable[[], dict[int, MachineForecast]], repeat: int
) -> tuple[float, dict[int, MachineForecast]]:
    """Median seconds of `repeat` runs, and the last run's forecasts."""
    seconds: list[float] = []
    result: dict[int, MachineForecast] = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    args = parser.parse_args()
    settings = load(os.environ)
    url, data = api_dataset.ensure(settings.database_url, api_dataset.Params(), log=log)
    ids = data.fleet.machine_ids
    # The day after the readings end: every machine has its 35 days inside the 56-day look-back.
    now = data.fleet.end + timedelta(hours=12)

    with psycopg.connect(url, autocommit=True) as conn:
        rollup_s, with_rollup = timed(
            lambda: service_forecasts(conn, machine_ids=ids, now=now), args.repeat
        )

        def probed() -> dict[int, MachineForecast]:
            with conn.transaction(force_rollback=True):
                conn.execute("DELETE FROM readings_hourly_state")
                return service_forecasts(conn, machine_ids=ids, now=now)

        probe_s, with_probes = timed(probed, args.repeat)
        watermark = conn.execute("SELECT rolled_up_before FROM readings_hourly_state").fetchone()

    same = with_rollup.keys() == with_probes.keys() and all(
        with_rollup[m].forecast == with_probes[m].forecast for m in with_rollup
    )
    dated = sum(1 for f in with_rollup.values() if f.forecast.usage.per_weekday is not None)
    summary = {
        "bench": "service_forecast",
        "machines": len(ids),
        "readings": data.rows,
        "rolled_up_before": None if watermark is None else _iso(watermark[0]),
        "now": _iso(now),
        "repeat": args.repeat,
        "rollup_s": round(rollup_s, 3),
        "rollup_ms_per_machine": round(1000 * rollup_s / len(ids), 2),
        "every_day_probed_s": round(probe_s, 3),
        "every_day_probed_ms_per_machine": round(1000 * probe_s / len(ids), 2),
        "ratio_probed_to_rollup": round(probe_s / rollup_s, 1),
        "machines_with_a_usage_rate": dated,
        "same_forecasts": same,
    }
    print(json.dumps(summary), flush=True)
    if not same:
        sys.exit("bench-forecast: the rollup and the probes gave different forecasts")


def _iso(value: object) -> str:
    assert isinstance(value, datetime)
    return value.isoformat()


if __name__ == "__main__":
    main()
