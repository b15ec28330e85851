"""Load generator for bench_api.py, run as its own process so its CPU is not the server's: a closed
loop of `concurrency` requests in flight for warm-up + duration seconds, latencies of requests
started after the warm-up recorded. Prints one JSON object with the percentiles.

    python tests/bench/api_load.py SPEC.json

Modes: `http` sends the owner API's requests (httpx, keep-alive connections, a random owner's key
per request); `sql` runs the same queries the routes run through psycopg on `concurrency`
connections, with no HTTP, authentication or serialisation: the baseline.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import psycopg

from api.history import params, queries
from maintenance.fleet import repo as fleet


@dataclass(frozen=True, slots=True)
class Spec:
    mode: str  # http | sql
    scenario: str  # health | machines | history
    base_url: str
    database_url: str
    concurrency: int
    warmup_s: float
    duration_s: float
    seed: int
    keys: dict[int, str]  # owner id -> that owner's API key
    machines: list[tuple[str, int, int]]  # serial, id, owner id
    owner_ids: list[int]
    end: datetime  # the dataset's readings end before this
    window_days: int
    end_spread_h: float  # windows end up to this long before `end`
    bucket: str

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Spec:
        raw = dict(raw)
        raw["keys"] = {int(k): v for k, v in raw["keys"].items()}
        raw["machines"] = [tuple(m) for m in raw["machines"]]
        raw["end"] = datetime.fromisoformat(raw["end"])
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class Window:
    serial: str
    machine_id: int
    owner_id: int
    start: datetime
    end: datetime


def window(spec: Spec, rng: random.Random) -> Window:
    serial, machine_id, owner_id = rng.choice(spec.machines)
    end = spec.end - timedelta(seconds=round(rng.uniform(0, spec.end_spread_h * 3600)))
    return Window(serial, machine_id, owner_id, end - timedelta(days=spec.window_days), end)


class Recorder:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.t0 = time.perf_counter()
        self.measure_from = self.t0 + spec.warmup_s
        self.stop_at = self.measure_from + spec.duration_s
        self.latencies_s: list[float] = []
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def record(self, started: float, ended: float, error: str | None) -> None:
        if started < self.measure_from:
            return
        with self.lock:
            if error is None:
                self.latencies_s.append(ended - started)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1

    def result(self) -> dict[str, Any]:
        ms = np.array(self.latencies_s) * 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99]) if len(ms) else (0.0, 0.0, 0.0)
        return {
            "mode": self.spec.mode,
            "scenario": self.spec.scenario,
            "requests": len(ms),
            "errors": self.errors,
            "per_s": round(len(ms) / self.spec.duration_s, 1),
            "p50_ms": round(float(p50), 2),
            "p90_ms": round(float(p90), 2),
            "p99_ms": round(float(p99), 2),
            "max_ms": round(float(ms.max()), 2) if len(ms) else 0.0,
        }


def http_request(spec: Spec, rng: random.Random) -> tuple[str, dict[str, str], dict[str, str]]:
    """(path, query, headers) of one request of the scenario."""
    if spec.scenario == "health":
        return "/health", {}, {}
    if spec.scenario == "machines":
        owner_id = rng.choice(spec.owner_ids)
        return "/v1/owner/machines", {}, {"Authorization": f"Bearer {spec.keys[owner_id]}"}
    w = window(spec, rng)
    query = {"from": w.start.isoformat(), "to": w.end.isoformat(), "bucket": spec.bucket}
    headers = {"Authorization": f"Bearer {spec.keys[w.owner_id]}"}
    return f"/v1/owner/machines/{w.serial}/telemetry", query, headers


async def run_http(spec: Spec) -> dict[str, Any]:
    rec = Recorder(spec)
    limits = httpx2.Limits(
        max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency
    )
    async with httpx2.AsyncClient(base_url=spec.base_url, limits=limits, timeout=30.0) as client:

        async def loop(i: int) -> None:
            rng = random.Random(spec.seed * 1000 + i)
            while time.perf_counter() < rec.stop_at:
                path, query, headers = http_request(spec, rng)
                started = time.perf_counter()
                try:
                    response = await client.get(path, params=query, headers=headers)
                    error = None if response.status_code == 200 else str(response.status_code)
                except httpx2.HTTPError as exc:
                    error = type(exc).__name__
                rec.record(started, time.perf_counter(), error)

        await asyncio.gather(*(loop(i) for i in range(spec.concurrency)))
    return rec.result()


def sql_call(spec: Spec) -> Callable[[psycopg.Connection[tuple[object, ...]], random.Random], None]:
    """What the route runs against the database for its answer, minus the key lookup."""
    if spec.scenario == "machines":

        def machines(conn: psycopg.Connection[tuple[object, ...]], rng: random.Random) -> None:
            fleet.machines_for_owner(conn, owner_id=rng.choice(spec.owner_ids), limit=50)

        return machines

    bucket = params.parse_bucket(spec.bucket)

    def history(conn: psycopg.Connection[tuple[object, ...]], rng: random.Random) -> None:
        w = window(spec, rng)
        span = params.Range(w.start, w.end, bucket)
        queries.bucketed(conn, machine_id=w.machine_id, span=span, signals=params.DEFAULT_SIGNALS)

    return history


def run_sql(spec: Spec) -> dict[str, Any]:
    rec = Recorder(spec)
    call = sql_call(spec)

    def loop(i: int) -> None:
        rng = random.Random(spec.seed * 1000 + i)
        with psycopg.connect(spec.database_url, autocommit=True) as conn:
            while time.perf_counter() < rec.stop_at:
                started = time.perf_counter()
                error = None
                try:
                    call(conn, rng)
                except psycopg.Error as exc:
                    error = type(exc).__name__
                rec.record(started, time.perf_counter(), error)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(spec.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rec.result()


def main() -> None:
    spec = Spec.parse(json.loads(Path(sys.argv[1]).read_text()))
    result = asyncio.run(run_http(spec)) if spec.mode == "http" else run_sql(spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
