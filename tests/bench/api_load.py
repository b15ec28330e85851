"""Load generator for bench_api.py, run as its own process so its CPU is not the server's. Prints
one JSON object with the percentiles of the requests scheduled after the warm-up.

    python tests/bench/api_load.py SPEC.json

Load models (`load` in the spec):
- `open`: requests arrive at `rate_per_s` on a schedule fixed before the run (Poisson or evenly
  spaced arrivals) whatever the server does, each sent as its own task; its latency runs from its
  *scheduled* send time, so a server that stalls is charged for every request that should have gone
  out meanwhile (no coordinated omission). `concurrency` is headroom only (connections or
  threads), far above what the rate needs, so the generator never limits; `send_lag_p99_ms`
  (scheduled -> actually started) and `max_in_flight` show that it did not.
- `closed`: `concurrency` requests always in flight; latency = in-flight / throughput (Little's
  law), so only `per_s` means something: the route's capacity (saturation throughput).

Modes: `http` sends the owner API's requests (httpx, keep-alive connections, a random owner's key
per request); `sql` runs the same queries the routes run through psycopg, with no HTTP,
authentication or serialisation: the baseline.
"""

from __future__ import annotations

import asyncio
import json
import queue
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

# Long enough for a request stuck behind a chunk rewrite (~15 s) to be measured, not lost.
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Spec:
    mode: str  # http | sql
    scenario: str  # health | machines | history
    load: str  # open | closed
    rate_per_s: float  # open: arrivals per second
    arrivals: str  # open: poisson | fixed
    base_url: str
    database_url: str
    concurrency: int  # closed: requests in flight; open: connections/threads available
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


def schedule(spec: Spec, t0: float) -> list[float]:
    """Send times (perf_counter) of an open-loop run: warm-up + duration at rate_per_s, drawn
    from their own generator so the arrivals are the same whatever the requests are."""
    rng = random.Random(spec.seed * 7919 + 1)
    end = t0 + spec.warmup_s + spec.duration_s
    out: list[float] = []
    at = t0
    while True:
        at += (
            rng.expovariate(spec.rate_per_s) if spec.arrivals == "poisson" else 1 / spec.rate_per_s
        )
        if at >= end:
            return out
        out.append(at)


class Recorder:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.t0 = time.perf_counter()
        self.measure_from = self.t0 + spec.warmup_s
        self.stop_at = self.measure_from + spec.duration_s
        self.latencies_s: list[float] = []
        self.send_lags_s: list[float] = []
        self.errors: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def begin(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def record(self, started: float, ended: float, error: str | None, sent: float | None) -> None:
        """`started` is when the request was due (open loop: its scheduled time), `sent` when
        the generator got to it."""
        with self.lock:
            self.in_flight -= 1
            if started < self.measure_from:
                return
            if sent is not None:
                self.send_lags_s.append(sent - started)
            if error is None:
                self.latencies_s.append(ended - started)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1

    def result(self) -> dict[str, Any]:
        ms = np.array(self.latencies_s) * 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99]) if len(ms) else (0.0, 0.0, 0.0)
        lag_ms = np.array(self.send_lags_s) * 1000.0
        open_loop = self.spec.load == "open"
        return {
            "mode": self.spec.mode,
            "scenario": self.spec.scenario,
            "load": self.spec.load,
            "offered_per_s": self.spec.rate_per_s if open_loop else None,
            "concurrency": self.spec.concurrency,
            "requests": len(ms),
            "errors": self.errors,
            "per_s": round(len(ms) / self.spec.duration_s, 1),
            "p50_ms": round(float(p50), 2),
            "p90_ms": round(float(p90), 2),
            "p99_ms": round(float(p99), 2),
            "max_ms": round(float(ms.max()), 2) if len(ms) else 0.0,
            "send_lag_p99_ms": round(float(np.percentile(lag_ms, 99)), 2) if len(lag_ms) else 0.0,
            "max_in_flight": self.max_in_flight,
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
    async with httpx2.AsyncClient(
        base_url=spec.base_url, limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:

        async def send(rng: random.Random, due: float | None) -> None:
            path, query, headers = http_request(spec, rng)
            rec.begin()
            sent = time.perf_counter()
            try:
                response = await client.get(path, params=query, headers=headers)
                error = None if response.status_code == 200 else str(response.status_code)
            except httpx2.HTTPError as exc:
                error = type(exc).__name__
            if due is None:  # closed loop: due when sent
                rec.record(sent, time.perf_counter(), error, None)
            else:
                rec.record(due, time.perf_counter(), error, sent)

        if spec.load == "closed":

            async def loop(i: int) -> None:
                rng = random.Random(spec.seed * 1000 + i)
                while time.perf_counter() < rec.stop_at:
                    await send(rng, None)

            await asyncio.gather(*(loop(i) for i in range(spec.concurrency)))
            return rec.result()

        rng = random.Random(spec.seed * 1000)
        tasks: set[asyncio.Task[None]] = set()
        for due in schedule(spec, rec.t0):
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(rng, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
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
    """`concurrency` threads, one connection each. Closed: each runs queries back to back. Open:
    they take due times from a queue the main thread fills on schedule."""
    rec = Recorder(spec)
    call = sql_call(spec)
    due_times: queue.SimpleQueue[float | None] = queue.SimpleQueue()

    def once(conn: psycopg.Connection[tuple[object, ...]], rng: random.Random) -> str | None:
        try:
            call(conn, rng)
        except psycopg.Error as exc:
            return type(exc).__name__
        return None

    def loop(i: int) -> None:
        rng = random.Random(spec.seed * 1000 + i)
        with psycopg.connect(spec.database_url, autocommit=True) as conn:
            if spec.load == "closed":
                while time.perf_counter() < rec.stop_at:
                    rec.begin()
                    started = time.perf_counter()
                    error = once(conn, rng)
                    rec.record(started, time.perf_counter(), error, None)
                return
            while (due := due_times.get()) is not None:
                rec.begin()
                sent = time.perf_counter()
                # A client gives up as the HTTP one does; an overloaded run still ends.
                late = sent - due > REQUEST_TIMEOUT_S
                error = "Timeout" if late else once(conn, rng)
                rec.record(due, time.perf_counter(), error, sent)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(spec.concurrency)]
    for t in threads:
        t.start()
    if spec.load == "open":
        for due in schedule(spec, rec.t0):
            time.sleep(max(0.0, due - time.perf_counter()))
            due_times.put(due)
        for _ in threads:
            due_times.put(None)
    for t in threads:
        t.join()
    return rec.result()


def main() -> None:
    spec = Spec.parse(json.loads(Path(sys.argv[1]).read_text()))
    result = asyncio.run(run_http(spec)) if spec.mode == "http" else run_sql(spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
