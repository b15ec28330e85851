"""Owner API benchmark: the machine list and a 30-day history at 1-hour buckets over a fleet with
more than 50 million readings, served by uvicorn (the real app, `--workers 2`) and driven by a
separate load process (api_load.py).

Latency is measured under open-loop arrivals at a stated rate (Poisson by default), each request's
latency counted from its scheduled send time, so queueing behind a slow or stalled server is
charged (no coordinated omission) and the figure is the latency an owner sees at that load, not
in-flight / throughput of a saturated closed loop. Default rates, for the dataset's 300 owners:
the machine list 30/s (every owner's app open, refreshing it every 10 s) and the 30-day history
5/s (every owner opening a machine's chart once a minute): a busy hour, not an average one.
A short closed-loop step per route (`--concurrency` in flight) then gives its capacity (req/s).

Baselines from the same run: /health over the same HTTP stack at the machine list's rate (what
HTTP, the pool and a trivial query cost), and the routes' own SQL run through psycopg at the same
rates with no HTTP, authentication or serialisation. The load average at start and end shows how
busy the (shared) machine was. The dataset (api_dataset.py) is generated once with binary COPY
and reused by later runs with the same parameters. The last line is one JSON object.

    .venv/bin/python tests/bench/bench_api.py [--rate-machines-list 30] [--rate-history 5]
        [--arrivals poisson|fixed] [--duration 60] [--concurrency 8] [--saturation-duration 10]
        [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import api_dataset
import httpx2
import psycopg
import uvicorn
from benchkit import ROOT, CpuSampler, descendants, free_ports, postgres_pids
from fastapi import FastAPI
from psycopg import sql
from uvicorn.supervisors import Multiprocess

from api.app import create_app
from api.auth import Role, issue_key
from api.history import params, queries
from ironlink.settings import load

KEY_LABEL: Final = "bench-api"
TARGET_MACHINES_LIST_P99_MS: Final = 50.0
TARGET_HISTORY_30D_P99_MS: Final = 100.0
# Open-loop headroom: connections (HTTP) and connections + threads (SQL) the load process may
# use at once; tens of times what the rates need, so a stall shows as latency, not as a generator
# that stopped sending.
OPEN_HTTP_CONNECTIONS: Final = 256
OPEN_SQL_THREADS: Final = 16
HERE: Final = Path(__file__).resolve().parent


def app() -> FastAPI:
    """uvicorn's factory (`bench_api:app --factory`): the real app on the bench database."""
    return create_app(load(os.environ))


def serve(port: int, workers: int) -> None:
    """uvicorn's `--workers N` with its listening socket bound here. uvicorn binds it with proto
    0, so asyncio never sets TCP_NODELAY on the accepted connections and every response on a
    kept-alive connection after the first waits ~40 ms for the client's delayed ACK (Nagle;
    Kludex/uvicorn#3149): that, not the app, was /health's ~45 ms. `ironlink api` (one process,
    listener made by asyncio with proto 6) is not affected."""
    config = uvicorn.Config(
        "bench_api:app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


SERVE: Final = "import sys, bench_api; bench_api.serve(int(sys.argv[1]), int(sys.argv[2]))"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def owner_keys(url: str, owner_ids: list[int]) -> dict[int, str]:
    """A fresh key per owner (a key is only ever seen in clear when issued), default limits."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("DELETE FROM api_keys WHERE label = %s", (KEY_LABEL,))
        return {
            o: issue_key(conn, role=Role.OWNER, owner_id=o, label=KEY_LABEL).key for o in owner_ids
        }


class Server:
    """uvicorn serving app() with `workers` processes on a free loopback port (serve())."""

    def __init__(self, url: str, workers: int) -> None:
        self.port = free_ports(1)
        self.base_url = f"http://127.0.0.1:{self.port}"
        path = os.pathsep.join(filter(None, (str(HERE), os.environ.get("PYTHONPATH"))))
        env = dict(os.environ, IRONLINK_DATABASE_URL=url, PYTHONPATH=path)
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", SERVE),
                *(str(self.port), str(workers)),
            ],
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            try:
                if httpx2.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not answer /health within 60 s")

    def pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def run_load(spec: dict[str, Any], server: Server | None) -> dict[str, Any]:
    """One scenario in the load process, with the CPU each side used meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    proc: list[subprocess.Popen[bytes]] = []
    groups: dict[str, Callable[[], Sequence[int]]] = {
        "server": (lambda: server.pids()) if server else list,
        "postgres": postgres_pids,
        "load": lambda: descendants(proc[0].pid) if proc else [],
    }
    try:
        with CpuSampler(groups) as cpu:
            proc.append(
                subprocess.Popen(
                    [sys.executable, str(HERE / "api_load.py"), f.name],
                    stdout=subprocess.PIPE,
                    cwd=ROOT,
                )
            )
            out, _ = proc[0].communicate()
        if proc[0].returncode != 0:
            raise RuntimeError(f"load process exited with {proc[0].returncode}")
    finally:
        os.unlink(f.name)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu_cores"] = cpu.cores()
    log(json.dumps(result))
    return result


def explain_history(url: str, fleet: api_dataset.Fleet) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one 30-day history query, alone (no load): the plan shape
    and what one query costs the database."""
    span = params.Range(fleet.end - timedelta(days=30), fleet.end, params.parse_bucket("1h"))
    machine_id = fleet.machine_ids[len(fleet.machine_ids) // 2]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")  # as queries.bucketed runs it
        query, args = queries.bucketed_statement(
            conn, machine_id=machine_id, span=span, signals=params.DEFAULT_SIGNALS
        )
        explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + query
        conn.execute(explain, args)  # the first run reads the pages into the cache
        row = conn.execute(explain, args).fetchone()
    assert row is not None
    top: dict[str, Any] = row[0][0]
    plan = top["Plan"]
    return {
        "execution_ms": round(top["Execution Time"], 2),
        "planning_ms": round(top["Planning Time"], 2),
        "buckets": plan.get("Actual Rows"),
        "buffers_hit": plan.get("Shared Hit Blocks"),
        "buffers_read": plan.get("Shared Read Blocks"),
        "jit": "JIT" in top,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate-machines-list", type=float, default=30.0, help="requests/s")
    parser.add_argument("--rate-history", type=float, default=5.0, help="requests/s")
    parser.add_argument("--arrivals", choices=("poisson", "fixed"), default="poisson")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate scenario")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight in the saturation step"
    )
    parser.add_argument("--saturation-duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds, not measured")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--machines", type=int, default=api_dataset.Params().machines)
    parser.add_argument("--days", type=int, default=api_dataset.Params().days)
    args = parser.parse_args()
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    settings = load(os.environ)
    p = api_dataset.Params(machines=args.machines, owners=args.machines // 4, days=args.days)
    url, data = api_dataset.ensure(settings.database_url, p, log=log)
    fleet = data.fleet
    log(
        f"dataset: {data.rows:,} readings, {len(fleet.serials)} machines,"
        f" {len(fleet.owner_ids)} owners ({'generated' if data.generated else 'reused'};"
        f" loaded at {data.rows_per_s:,.0f} rows/s); {data.reordered_now} chunks reordered now,"
        f" {data.reorder_s_per_chunk:.1f} s per chunk"
    )
    keys = owner_keys(url, fleet.owner_ids)
    explain = explain_history(url, fleet)
    log(f"one 30-day history query alone: {json.dumps(explain)}")

    base = {
        "base_url": "",
        "database_url": url,
        "load": "open",
        "arrivals": args.arrivals,
        "rate_per_s": 0.0,
        "concurrency": OPEN_SQL_THREADS,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "seed": 1,
        "keys": keys,
        "machines": [
            [s, m, o]
            for s, m, o in zip(fleet.serials, fleet.machine_ids, fleet.machine_owner, strict=True)
        ],
        "owner_ids": fleet.owner_ids,
        "end": fleet.end.isoformat(),
        "window_days": 30,
        "end_spread_h": 5 * 24.0,
        "bucket": "1h",
    }
    rates = {"health": args.rate_machines_list, "machines": args.rate_machines_list}
    rates["history"] = args.rate_history

    def at_rate(spec: dict[str, Any], scenario: str) -> dict[str, Any]:
        return {**spec, "scenario": scenario, "rate_per_s": rates[scenario]}

    sql_machines = run_load(at_rate({**base, "mode": "sql"}, "machines"), None)
    sql_history = run_load(at_rate({**base, "mode": "sql"}, "history"), None)
    server = Server(url, args.workers)
    try:
        http = {**base, "mode": "http", "base_url": server.base_url}
        http["concurrency"] = OPEN_HTTP_CONNECTIONS
        health = run_load(at_rate(http, "health"), server)
        machines = run_load(at_rate(http, "machines"), server)
        history = run_load(at_rate(http, "history"), server)
        closed = {**http, "load": "closed", "concurrency": args.concurrency}
        closed |= {"warmup_s": 2.0, "duration_s": args.saturation_duration}
        saturation = {
            s: run_load({**closed, "scenario": s}, server)["per_s"]
            for s in ("health", "machines", "history")
        }
    finally:
        server.stop()
    loadavg_end = [round(x, 2) for x in os.getloadavg()]
    errors = sum(sum(r["errors"].values()) for r in (health, machines, history))

    def met(result: dict[str, Any], target_p99_ms: float) -> bool:
        # A scenario whose every request failed or timed out has no p99 to meet a target with.
        return (
            bool(result["requests"]) and not result["errors"] and result["p99_ms"] < target_p99_ms
        )

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    print(
        json.dumps(
            {
                "bench": "api",
                "rows": data.rows,
                "machines": len(fleet.serials),
                "owners": len(fleet.owner_ids),
                "dataset": asdict(p) | {"generated": data.generated},
                "load_rows_per_s": round(data.rows_per_s),
                "load_s": round(data.load_s, 1),
                "reorder_s_per_chunk": round(data.reorder_s_per_chunk, 2),
                "rollup_s": round(data.rollup_s, 1),
                "rolled_up_hours": data.rolled_up_hours,
                "load_model": f"open-loop {args.arrivals} arrivals, latency from scheduled send",
                "rate_machines_list_per_s": args.rate_machines_list,
                "rate_history_per_s": args.rate_history,
                "rate_health_per_s": rates["health"],
                "concurrency": args.concurrency,
                "workers": args.workers,
                "duration_s": args.duration,
                "saturation_s": args.saturation_duration,
                "loadavg_start": loadavg_start,
                "loadavg_end": loadavg_end,
                "load_send_lag_p99_ms": max(
                    r["send_lag_p99_ms"] for r in (health, machines, history)
                ),
                "load_max_in_flight": max(r["max_in_flight"] for r in (health, machines, history)),
                "machines_list_p50_ms": machines["p50_ms"],
                "machines_list_p99_ms": machines["p99_ms"],
                "machines_list_per_s": machines["per_s"],
                "history_30d_p50_ms": history["p50_ms"],
                "history_30d_p99_ms": history["p99_ms"],
                "history_30d_per_s": history["per_s"],
                "machines_list_requests": machines["requests"],
                "history_30d_requests": history["requests"],
                "health_p50_ms": health["p50_ms"],
                "health_p99_ms": health["p99_ms"],
                "machines_list_sql_p50_ms": sql_machines["p50_ms"],
                "machines_list_sql_p99_ms": sql_machines["p99_ms"],
                "history_30d_sql_p50_ms": sql_history["p50_ms"],
                "history_30d_sql_p99_ms": sql_history["p99_ms"],
                "history_30d_alone_exec_ms": explain["execution_ms"],
                "ratio_machines_list_p99_to_sql": ratio(machines["p99_ms"], sql_machines["p99_ms"]),
                "ratio_history_30d_p99_to_sql": ratio(history["p99_ms"], sql_history["p99_ms"]),
                "ratio_machines_list_p50_to_health": ratio(machines["p50_ms"], health["p50_ms"]),
                "ratio_history_30d_p50_to_health": ratio(history["p50_ms"], health["p50_ms"]),
                "saturation_machines_list_per_s": saturation["machines"],
                "saturation_history_per_s": saturation["history"],
                "saturation_health_per_s": saturation["health"],
                "headroom_machines_list": ratio(saturation["machines"], args.rate_machines_list),
                "headroom_history": ratio(saturation["history"], args.rate_history),
                "errors": errors,
                "target_machines_list_p99_ms": TARGET_MACHINES_LIST_P99_MS,
                "target_history_30d_p99_ms": TARGET_HISTORY_30D_P99_MS,
                "machines_list_target_met": met(machines, TARGET_MACHINES_LIST_P99_MS),
                "history_30d_target_met": met(history, TARGET_HISTORY_30D_P99_MS),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
