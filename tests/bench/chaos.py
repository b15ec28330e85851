"""Chaos run: a simulated fleet publishes into `ironlink ingest` while one ingest worker is killed
(kill -9), the broker restarts and PostgreSQL restarts (pg_ctl restart -m fast). When ingest has
caught up, every (serial, seq) the simulator published (its ground truth, published.csv) is
looked up in readings (telemetry) and dm1_reports (faults). One JSON line, last.

    .venv/bin/python tests/bench/chaos.py [--tractors N] [--excavators N] [--speedup X]

Runs on the bench services (make chaos); the ingest group and its sessions are this run's own and
are removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from benchkit import (
    ROOT,
    IngestProcess,
    clear_retained,
    clear_sessions,
    fresh_database,
    sync_broker_users,
)

from ironlink.settings import Settings, load
from maintenance.fleet.seed import seed_demo
from telemetry.wire import Channel, topic

SERVICES = ROOT / "scripts" / "services.sh"
KILL_WORKER = "kill -9 ingest worker"
RESTART_MQTT = "restart mosquitto"
RESTART_PG = "restart postgresql"
# The ingest parent checks its workers once a second; a new one needs a few seconds to start.
WORKER_RESTART_WAIT_S = 20.0
POLL_S = 0.5


@dataclass
class Truth:
    """What the simulator published: channel -> distinct (serial, seq) pairs (a resend counts
    once), and where each pair first appears in published.csv, which is in publishing order."""

    pairs: dict[str, set[tuple[str, int]]]
    position: dict[tuple[str, int], int]
    rows: int


def read_truth(path: Path) -> Truth:
    pairs: dict[str, set[tuple[str, int]]] = {}
    position: dict[tuple[str, int], int] = {}
    rows = 0
    with path.open(newline="") as f:
        for rows, row in enumerate(csv.DictReader(f), start=1):
            pair = (row["serial"], int(row["seq"]))
            pairs.setdefault(row["channel"], set()).add(pair)
            position.setdefault(pair, rows)
    return Truth(pairs, position, rows)


def lost_timeline(truth: Truth, lost: list[tuple[str, int]], sim_s: float) -> dict[str, int]:
    """Lost pairs by when they were published, in 5 s bins of the simulator's run (estimated
    from their position in published.csv: the publishing rate is roughly even)."""
    bins: dict[int, int] = {}
    for pair in lost:
        at = int(truth.position[pair] / max(truth.rows, 1) * sim_s // 5) * 5
        bins[at] = bins.get(at, 0) + 1
    return {f"{at}-{at + 5}s": n for at, n in sorted(bins.items())}


def table_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def connect_retrying(url: str, timeout_s: float = 60.0) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def count(url: str, table: str) -> int:
    with connect_retrying(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0  # type: ignore[call-overload]


def wait_caught_up(
    url: str, targets: dict[str, int], *, timeout_s: float, quiet_s: float
) -> dict[str, int]:
    """Polls the tables' row counts until each reaches its target, or nothing has changed for
    quiet_s, or timeout_s passes; the last counts."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, int] = {}
    changed = time.monotonic()
    while True:
        now_counts = {t: count(url, t) for t in targets}
        if now_counts != last:
            last, changed = now_counts, time.monotonic()
        if all(last[t] >= n for t, n in targets.items()):
            return last
        if time.monotonic() > deadline or time.monotonic() - changed > quiet_s:
            return last
        time.sleep(POLL_S)


def compare(
    conn: psycopg.Connection[Any], table: str, ids: dict[str, int], expected: set[tuple[str, int]]
) -> dict[str, Any]:
    want = {(ids[s], seq) for s, seq in expected}
    rows = conn.execute(f"SELECT machine_id, seq FROM {table}").fetchall()
    stored = {(int(m), int(s)) for m, s in rows}
    serials = {i: s for s, i in ids.items()}
    lost = [(serials[m], seq) for m, seq in sorted(want - stored)]
    return {
        "published": len(want),
        "stored": len(stored & want),
        "lost": lost,
        "duplicates": len(rows) - len(stored),
        "unexpected": len(stored - want),
    }


class Chaos:
    def __init__(self, settings: Settings, ingest: IngestProcess, env: dict[str, str]) -> None:
        self.settings, self.ingest, self.env = settings, ingest, env
        self.t0 = 0.0
        self.injected: list[dict[str, Any]] = []
        self.worker_restarts: list[str] = []

    def record(self, fault: str, started: float, **extra: Any) -> None:
        entry = {"at_s": round(started - self.t0, 1), "fault": fault}
        entry.update(extra)
        self.injected.append(entry)
        print(f"chaos: {json.dumps(entry)}", file=sys.stderr)

    def kill_worker(self) -> None:
        before = self.ingest.worker_pids()
        if not before:
            raise SystemExit("chaos: no ingest worker to kill")
        victim = before[0]
        started = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        deadline = started + WORKER_RESTART_WAIT_S
        while time.monotonic() < deadline:
            now = self.ingest.worker_pids()
            if victim not in now and len(now) >= len(before):
                self.worker_restarts.append("ingest parent")
                self.record(
                    KILL_WORKER, started, restarted_by="ingest parent",
                    restart_s=round(time.monotonic() - started, 1),
                )  # fmt: skip
                return
            time.sleep(0.1)
        # The parent did not bring the worker back: restart ingest as a whole, same group and
        # client ids, so the dead worker's session and its unacknowledged messages are resumed.
        self.ingest.stop()
        self.ingest = IngestProcess(
            database_url=self.ingest.env["IRONLINK_DATABASE_URL"],
            group=self.ingest.group,
            workers=self.ingest.workers,
            log_path=self.ingest.log_path,
        )
        self.ingest.start()
        self.ingest.wait_subscribing(60)
        self.worker_restarts.append("chaos (parent did not restart it)")
        self.record(
            KILL_WORKER, started, restarted_by="chaos: ingest restarted as a whole",
            restart_s=round(time.monotonic() - started, 1),
        )  # fmt: skip

    def services(self, command: str, fault: str) -> None:
        started = time.monotonic()
        done = subprocess.run(
            [str(SERVICES), command], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise SystemExit(f"chaos: {command} failed: {done.stderr.strip()}")
        self.record(fault, started, took_s=round(time.monotonic() - started, 1))

    def restart_mqtt(self) -> None:
        self.services("restart-mqtt", RESTART_MQTT)

    def restart_pg(self) -> None:
        self.services("restart-pg", RESTART_PG)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tractors", type=int, default=100)
    parser.add_argument("--excavators", type=int, default=100)
    # Tuesday to Thursday: two full working days, so machines work, idle, park and raise faults.
    parser.add_argument("--start", default="2026-11-17T00:00:00+00:00")
    parser.add_argument("--history-h", type=float, default=48.0)
    parser.add_argument("--speedup", type=float, default=2400.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=15.0, help="s after the simulator starts")
    parser.add_argument("--mqtt-at", type=float, default=35.0)
    parser.add_argument("--pg-at", type=float, default=55.0)
    parser.add_argument(
        "--faults",
        default="kill,mqtt,pg",
        help="which faults to inject, comma-separated: kill, mqtt, pg (default: all three)",
    )
    parser.add_argument("--catch-up-s", type=float, default=300.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    settings = load(os.environ)
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    truth_dir = work / "truth"
    env = dict(os.environ)
    out: dict[str, Any] = {"bench": "chaos"}

    with fresh_database(settings, prefix="ironlink_chaos", keep=args.keep_db) as url:
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            fleet = seed_demo(conn, tractors=args.tractors, excavators=args.excavators)
        ids = {m.serial: m.id for m in fleet.machines}
        sync_broker_users(settings, sorted(ids))
        ingest = IngestProcess(
            database_url=url, group=f"chaos-{run}", workers=args.workers,
            log_path=work / "ingest.log",
        )  # fmt: skip
        client_ids = ingest.client_ids
        ingest.start()
        chaos = Chaos(settings, ingest, env)
        sim: subprocess.Popen[str] | None = None
        try:
            if not ingest.wait_subscribing(60):
                raise SystemExit(f"ingest did not subscribe in 60 s:\n{ingest.tail()}")
            time.sleep(1.0)  # the SUBACKs
            ironlink = Path(sys.executable).parent / "ironlink"
            with (work / "simulate.log").open("w") as sim_log:
                sim = subprocess.Popen(
                    [
                        str(ironlink), "simulate", "--tractors", str(args.tractors),
                        "--excavators", str(args.excavators), "--start", args.start,
                        "--history-h", str(args.history_h), "--speedup", str(args.speedup),
                        "--seed", str(args.seed), "--truth", str(truth_dir),
                    ],
                    env={**env, "IRONLINK_LOG_LEVEL": "WARNING"},
                    stdout=subprocess.PIPE,
                    stderr=sim_log,
                    text=True,
                    cwd=ROOT,
                )  # fmt: skip
                chaos.t0 = time.monotonic()
                chosen = set(args.faults.split(",")) if args.faults else set()
                plan: list[tuple[float, Callable[[], None]]] = sorted(
                    (
                        (at_s, fault)
                        for name, at_s, fault in (
                            ("kill", args.kill_at, chaos.kill_worker),
                            ("mqtt", args.mqtt_at, chaos.restart_mqtt),
                            ("pg", args.pg_at, chaos.restart_pg),
                        )
                        if name in chosen
                    ),
                    key=lambda p: p[0],
                )
                for at_s, fault in plan:
                    while time.monotonic() < chaos.t0 + at_s:
                        time.sleep(0.05)
                    if sim.poll() is not None:
                        print("chaos: the simulator ended before this fault", file=sys.stderr)
                    fault()
                stdout, _ = sim.communicate(timeout=1800)
            sim_s = time.monotonic() - chaos.t0
            if sim.returncode:
                tail = (work / "simulate.log").read_text()[-2000:]
                raise SystemExit(f"simulator exited with {sim.returncode}:\n{tail}")
            summary = json.loads(stdout.strip().splitlines()[-1])
            truth = read_truth(truth_dir / "published.csv")
            telemetry = truth.pairs.get("telemetry", set())
            faults = truth.pairs.get("faults", set())
            with connect_retrying(url) as conn:
                has_dm1 = table_exists(conn, "dm1_reports")
            targets = {"readings": len(telemetry)}
            if has_dm1:
                targets["dm1_reports"] = len(faults)
            t_wait = time.monotonic()
            wait_caught_up(url, targets, timeout_s=args.catch_up_s, quiet_s=60.0)
            caught_up_s = time.monotonic() - t_wait
        finally:
            if sim is not None and sim.poll() is None:
                sim.kill()
            chaos.ingest.stop()
            clear_sessions(settings, client_ids)
            # The simulated machines' retained births would be sent to every later subscriber.
            clear_retained(
                settings,
                {m.serial: topic(m.kind, m.serial, Channel.STATUS) for m in fleet.machines},
            )
        with connect_retrying(url) as conn:
            readings = compare(conn, "readings", ids, telemetry)
            dm1 = compare(conn, "dm1_reports", ids, faults) if has_dm1 else None
            rejected = conn.execute("SELECT count(*) FROM rejected").fetchone()
    lost = readings["lost"] + (dm1["lost"] if dm1 is not None else [])
    out.update(
        {
            "published": readings["published"],
            "stored": readings["stored"],
            "lost": len(readings["lost"]),
            "duplicates": readings["duplicates"],
            "unexpected": readings["unexpected"],
            "faults": {**dm1, "lost": len(dm1["lost"])} if dm1 else "no dm1_reports table",
            "lost_examples": [f"{s}#{q}" for s, q in lost[:5]],
            "lost_by_publish_time": lost_timeline(truth, lost, sim_s),
            "rejected": int(rejected[0]) if rejected else None,  # type: ignore[call-overload]
            "injected": chaos.injected,
            "worker_restarted_by": chaos.worker_restarts,
            "machines": len(ids),
            "messages_published": summary.get("messages_published"),
            "resends": summary.get("resends"),
            # PUBACK "no matching subscribers": sent while ingest had not re-subscribed after the
            # broker restart; the controllers held them and sent them again
            "unrouted_held_and_resent": summary.get("unrouted"),
            "simulator_unacknowledged": summary.get("unacknowledged"),
            "simulator_s": round(sim_s, 1),
            "catch_up_s": round(caught_up_s, 1),
            "logs": str(work),
        }
    )
    out["ok"] = not lost and not readings["duplicates"] and not (dm1 and dm1["duplicates"])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
