"""Ingest benchmark: `ironlink ingest` against what the broker can deliver at all (bare subscribers
that only count, the ceiling) and against a naive ingest (INSERT and COMMIT per message), on the
same prepared telemetry messages, on a fresh database. One JSON line, last.

    .venv/bin/python tests/bench/bench_ingest.py [--messages N] [--machines M] [--workers W]

Phases, each with its own shared-subscription group and persistent sessions that are removed
afterwards (so no broker queue keeps filling for them):
  ceiling  W processes of ingest's own receiver (telemetry.mqtt_receiver), MQTT 5, QoS 1,
           $share/<group>/ironlink/v1/+/+/+, persistent session and the Receive Maximum ingest
           uses; they count and acknowledge each read at once. Rate = messages / (first to last
           message received, over all processes) while the LinkPool publishes as fast as it can.
           `ratio_to_ceiling` is ingest against this: what storing costs on top of receiving.
  paho     the same with W bare paho-mqtt subscribers (the client ingest used before its own
           receiver), for reference: `paho_ceiling_msgs_per_s`, `ratio_to_paho_ceiling`.
  ingest   `ironlink ingest --workers W` on the fresh database; rate = messages / (first publish
           to `SELECT count(*) FROM readings` reaching the total, polled every 50 ms once the last
           reading of every machine is stored). Then a paced run (--paced-rate, default half the
           measured rate) measures latency: the commit histogram ingest serves
           (ironlink_ingest_commit_seconds) and, from outside, publish time to readings.received_at
           (the storing transaction's start, so it leaves out the write itself).
  naive    W paho processes (manual ack) that decode, INSERT, COMMIT and ack each message, on a
           slice (--naive-messages) into the truncated table.

BENCH_PROFILE_DIR=DIR profiles the ingest processes (cProfile, every thread) into DIR/*.prof.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from benchkit import (
    CpuSampler,
    IngestProcess,
    add_machines,
    clear_sessions,
    free_ports,
    fresh_database,
    mosquitto_pid,
    postgres_pids,
    sync_broker_users,
)
from subscribers import SubscriberConfig, Subscribers

from ironlink.broker_auth import device_password
from ironlink.settings import Settings, load
from simulators.mqtt_link import LinkPool
from telemetry.wire import TOPIC_ROOT, Channel, Kind, Reading, encode, topic

MODEL = "6155M"
SERIAL_PREFIX = "BI-"
POLL_S = 0.05
# The paced run publishes rate x PACED_SLICE_S messages at a time, so its rate holds within 10 ms.
PACED_SLICE_S = 0.01
PROFILE_HOOK = """
import atexit, cProfile, os, sys, threading
_dir = os.environ.get("BENCH_PROFILE_DIR")
if _dir:
    _profiles = []
    def _start():
        p = cProfile.Profile()
        _profiles.append((threading.current_thread().name, p))
        p.enable()
    def _first_call(frame, event, arg):
        sys.setprofile(None)
        _start()
    threading.setprofile(_first_call)
    _start()
    def _dump():
        for name, p in _profiles:
            p.disable()
            safe = "".join(c if c.isalnum() else "_" for c in name)
            p.dump_stats(os.path.join(_dir, f"{os.getpid()}-{safe}.prof"))
    atexit.register(_dump)
"""


# --- prepared messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    links: list[int]  # message i is published by machine links[i]
    payloads: list[bytes]
    pairs: list[tuple[int, int]]  # (machine index, seq) of message i
    last: dict[int, tuple[datetime, int]]  # machine index -> (ts, seq) of its last message


def reading(machine: int, seq: int, start: datetime) -> Reading:
    """A plausible tractor reading: a working day's load cycle, fuel burning down, hours rising."""
    phase = (seq * 7919 + machine * 104_729) % 997 / 997
    load_pct = 35 + 55 * phase
    return Reading(
        seq=seq,
        ts=start + timedelta(minutes=seq, seconds=machine % 60),
        engine_hours=round(1200 + machine * 3.7 + seq / 60, 3),
        rpm=round(850 + 13 * load_pct),
        load_pct=round(load_pct, 1),
        coolant_c=round(82 + load_pct / 12, 1),
        oil_kpa=round(280 + 2.4 * load_pct),
        fuel_pct=round(95 - (seq % 900) / 10, 1),
        fuel_lph=round(2.5 + 0.32 * load_pct, 1),
        def_pct=round(90 - (seq % 900) / 30, 1),
        battery_v=round(13.8 + phase / 2, 2),
        hyd_oil_c=round(55 + load_pct / 4, 1),
        hyd_bar=round(40 + 2.1 * load_pct),
        lat=round(52.1 + machine / 500 + seq * 2e-6, 6),
        lon=round(-1.2 - machine / 500 - seq * 2e-6, 6),
        speed_kmh=round(3 + 9 * phase, 1),
        pto_rpm=540.0 if phase > 0.3 else 0.0,
        idle_hours=round(150 + machine * 0.4 + seq / 600, 3),
    )


def prepare(n: int, machines: int, *, first_seq: int, start: datetime) -> Prepared:
    """Message i belongs to machine i % machines; each machine's seq and ts advance in order."""
    links, payloads, pairs = [], [], []
    last: dict[int, tuple[datetime, int]] = {}
    for i in range(n):
        m, seq = i % machines, first_seq + i // machines
        r = reading(m, seq, start)
        links.append(m)
        payloads.append(encode(r))
        pairs.append((m, seq))
        last[m] = (r.ts, seq)
    return Prepared(links, payloads, pairs, last)


# --- publishing ------------------------------------------------------------------------------


class Publisher:
    """The simulators' LinkPool: one connection and broker user per machine."""

    def __init__(self, settings: Settings, serials: Sequence[str], *, pump_every: int) -> None:
        self.pool = LinkPool(settings.mqtt_host, settings.mqtt_port)
        self.links = [
            self.pool.add(f"bench-{s}", s, device_password(settings.device_secret, s))
            for s in serials
        ]
        self.topics = [topic(Kind.TRACTOR, s, Channel.TELEMETRY) for s in serials]
        self.pump_every = pump_every
        self.pool.connect_all()

    def flood(self, prepared: Prepared, *, start: int = 0, stop: int | None = None) -> float:
        """Publishes messages [start, stop) as fast as possible; monotonic time of the first."""
        links, topics, publish, pump = self.links, self.topics, self.pool.publish, self.pool.pump
        every = self.pump_every
        stop = len(prepared.payloads) if stop is None else stop
        t0 = time.monotonic()
        for i in range(start, stop):
            m = prepared.links[i]
            publish(links[m], topics[m], prepared.payloads[i])
            if i % every == every - 1:
                pump()
        pump()
        return t0

    def paced(self, prepared: Prepared, rate: float) -> list[float]:
        """Publishes at `rate` messages/s in slices; the wall time (time.time) each message was
        written to its socket, for latency against PostgreSQL's clock."""
        per_slice = max(1, round(rate * PACED_SLICE_S))
        sent_at: list[float] = []
        t0 = time.monotonic()
        n = len(prepared.payloads)
        for k, i in enumerate(range(0, n, per_slice)):
            while time.monotonic() < t0 + k * PACED_SLICE_S:
                self.pool.pump(0.001)
            for j in range(i, min(n, i + per_slice)):
                m = prepared.links[j]
                self.pool.publish(self.links[m], self.topics[m], prepared.payloads[j])
            self.pool.pump()
            now = time.time()
            sent_at.extend([now] * (min(n, i + per_slice) - i))
        return sent_at

    def idle(self, seconds: float) -> None:
        """Waits, pumping: keepalives and acknowledgements go on."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pool.pump(min(left, POLL_S))

    def flush(self) -> None:
        if not self.pool.flush(timeout_s=300):
            raise SystemExit(f"publisher: {self.pool.pending} messages unacknowledged after 300 s")

    def close(self) -> None:
        self.pool.close()


# --- measuring -------------------------------------------------------------------------------

LAST_STORED = """
SELECT count(*) FROM readings r
JOIN unnest(%s::int8[], %s::timestamptz[], %s::int8[]) AS l(machine_id, ts, seq)
  ON r.machine_id = l.machine_id AND r.ts = l.ts AND r.seq = l.seq
"""


def wait_stored(
    conn: psycopg.Connection[Any],
    total: int,
    last: list[tuple[int, datetime, int]],
    *,
    timeout_s: float,
    idle: Callable[[float], None],
) -> float:
    """Monotonic time when count(*) of readings reached total. count(*) scans the whole table,
    so it is polled only once the last reading of every machine is in (one index probe per
    machine) and does not compete with ingest for the CPU before. idle(POLL_S) waits between
    polls (the publisher pumps, so its connections stay alive)."""
    deadline = time.monotonic() + timeout_s
    params = ([m for m, _, _ in last], [t for _, t, _ in last], [s for _, _, s in last])
    while time.monotonic() < deadline:
        if conn.execute(LAST_STORED, params).fetchone()[0] >= len(last):  # type: ignore[index]
            break
        idle(POLL_S)
    while time.monotonic() < deadline:
        if conn.execute("SELECT count(*) FROM readings").fetchone()[0] >= total:  # type: ignore[index]
            return time.monotonic()
        idle(POLL_S)
    got = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
    raise SystemExit(f"only {got} of {total} readings stored after {timeout_s} s")


def scrape(base_port: int, workers: int) -> dict[float, float] | None:
    """ironlink_ingest_commit_seconds buckets (le -> cumulative count) summed over workers, or
    None if the workers do not serve that metric."""
    pattern = re.compile(r'^ironlink_ingest_commit_seconds_bucket\{le="([^"]+)"\} (\S+)$', re.M)
    merged: dict[float, float] = {}
    for i in range(workers):
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{base_port + i}/metrics", timeout=5
            ) as r:
                text = r.read().decode()
        except OSError:
            return None
        found = pattern.findall(text)
        if not found:
            return None
        for le, value in found:
            key = math.inf if le == "+Inf" else float(le)
            merged[key] = merged.get(key, 0.0) + float(value)
    return merged


def bucket_p99(buckets: dict[float, float]) -> float | None:
    total = buckets.get(math.inf, 0.0)
    if not total:
        return None
    for le in sorted(buckets):
        if buckets[le] >= 0.99 * total:
            return le
    return math.inf


def subtract(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: v - before.get(le, 0.0) for le, v in after.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return None if math.isinf(seconds) else round(seconds * 1000, 1)


# --- the run ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive-messages", type=int, default=20_000)
    parser.add_argument("--paced-messages", type=int, default=20_000)
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=0.0,
        help="messages/s of the latency run; default: half the ingest rate just measured",
    )
    # Each pump writes every link's buffered messages with one send(); see bench_publish.py.
    parser.add_argument("--pump-every", type=int, default=20_000)
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


class Bench:
    """One run's shared state; the phases run in order and add their figures to `out`."""

    def __init__(self, args: argparse.Namespace, settings: Settings, url: str) -> None:
        self.args, self.settings, self.url = args, settings, url
        self.run = uuid.uuid4().hex[:6]
        self.serials = [f"{SERIAL_PREFIX}{i:05d}" for i in range(args.machines)]
        self.probe_serial = f"{SERIAL_PREFIX}PROBE"
        self.start = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
        self.flood = prepare(args.messages, args.machines, first_seq=1, start=self.start)
        self.per_machine = -(-args.messages // args.machines)
        self.paced = prepare(
            args.paced_messages, args.machines, first_seq=self.per_machine + 1, start=self.start
        )
        self.receive_maximum = min(65_535, 2 * settings.ingest_batch_max)
        self.log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        self.out: dict[str, Any] = {
            "bench": "ingest",
            "workers": args.workers,
            "messages": args.messages,
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        }
        self.cpu: dict[str, dict[str, float]] = {}
        self.sessions: list[str] = []  # every persistent session this run opens
        self.subscribers: list[Subscribers] = []
        self.broker_pid = mosquitto_pid(settings)
        self.ids = add_machines(
            url, [(s, "tractor", MODEL) for s in [*self.serials, self.probe_serial]]
        )
        self.machine_ids = [self.ids[s] for s in self.serials]
        sync_broker_users(settings, [*self.serials, self.probe_serial])
        self.poll: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        self.publisher = Publisher(settings, self.serials, pump_every=args.pump_every)

    def close(self) -> None:
        self.poll.close()
        # Whatever a failed run left behind: no persistent session keeps queueing.
        for group in self.subscribers:
            group.kill()
        clear_sessions(self.settings, self.sessions)

    def groups(self, name: str, pids: Callable[[], Sequence[int]]) -> dict[str, Any]:
        broker = [self.broker_pid] if self.broker_pid else []
        return {
            "mosquitto": lambda: broker,
            "postgres": postgres_pids,
            "bench_publisher": lambda: [os.getpid()],
            name: pids,
        }

    def last_rows(self, last: dict[int, tuple[datetime, int]]) -> list[tuple[int, datetime, int]]:
        return [(self.machine_ids[m], ts, seq) for m, (ts, seq) in last.items()]

    def subscribers_for(self, role: str) -> Subscribers:
        s = self.settings
        group = Subscribers(
            SubscriberConfig(
                role=role,
                host=s.mqtt_host,
                port=s.mqtt_port,
                user=s.mqtt_user,
                password=s.mqtt_password,
                group=f"bench-{role}-{self.run}",
                client_prefix=f"bench-{role}-{self.run}",
                receive_maximum=self.receive_maximum,
                session_expiry_s=s.ingest_session_expiry_s,
                topic_prefix=f"{TOPIC_ROOT}/{Kind.TRACTOR}/{SERIAL_PREFIX}",
                database_url=self.url if role == "naive" else "",
                machine_ids=self.ids if role == "naive" else None,
            ),
            self.args.workers,
        )
        self.sessions += group.client_ids
        self.subscribers.append(group)
        return group

    def measure_ceiling(self, role: str, key: str) -> None:
        ceiling = self.subscribers_for(role)
        ceiling.start()
        pump = self.publisher.pool.pump
        with CpuSampler(self.groups("subscribers", ceiling.pids)) as sampler:
            self.publisher.flood(self.flood)
            self.publisher.flush()
            deadline = time.monotonic() + 300
            while ceiling.received() < self.args.messages and time.monotonic() < deadline:
                pump(POLL_S)
        self.cpu[key] = sampler.cores()
        results = ceiling.finish()
        clear_sessions(self.settings, ceiling.client_ids)
        first = min(r[2] for r in results if r[1])
        last = max(r[3] for r in results if r[1])
        self.out[f"{key}_msgs_per_s"] = round(self.args.messages / (last - first))
        self.out[f"{key}_received"] = sum(r[1] for r in results)

    def ingest_process(self, metrics_port: int) -> IngestProcess:
        env = {"IRONLINK_METRICS_PORT": str(metrics_port)}
        if profile_dir := os.environ.get("BENCH_PROFILE_DIR"):
            hook = self.log_dir / "profile_hook"
            hook.mkdir(exist_ok=True)
            (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            env["BENCH_PROFILE_DIR"] = str(Path(profile_dir).resolve())
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p
            )
        ingest = IngestProcess(
            database_url=self.url,
            group=f"bench-{self.run}",
            workers=self.args.workers,
            log_path=self.log_dir / "ingest.log",
            extra_env=env,
        )
        self.sessions += ingest.client_ids
        return ingest

    def probe(self, ingest: IngestProcess) -> None:
        """One message through the whole path: subscribed, and the database reachable."""
        pool = self.publisher.pool
        link = pool.add(
            f"bench-{self.probe_serial}",
            self.probe_serial,
            device_password(self.settings.device_secret, self.probe_serial),
        )
        pool.connect_all()
        pool.publish(
            link,
            topic(Kind.TRACTOR, self.probe_serial, Channel.TELEMETRY),
            encode(reading(0, 1, self.start)),
        )
        self.publisher.flush()
        deadline = time.monotonic() + 30
        while not self.poll.execute("SELECT count(*) FROM readings").fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise SystemExit(f"the probe was not stored in 30 s:\n{ingest.tail()}")
            pool.pump(POLL_S)
        self.publisher.idle(0.5)  # the other workers' SUBACKs

    def measure_ingest(self) -> None:
        args, pump = self.args, self.publisher.pool.pump
        metrics_port = free_ports(args.workers)
        ingest = self.ingest_process(metrics_port)
        ingest.start()
        try:
            if not ingest.wait_subscribing(60):
                raise SystemExit(f"ingest did not subscribe in 60 s:\n{ingest.tail()}")
            self.probe(ingest)
            before = scrape(metrics_port, args.workers)
            with CpuSampler(self.groups("ingest", ingest.pids)) as sampler:
                t0 = self.publisher.flood(self.flood)
                self.publisher.flush()
                t_published = time.monotonic()
                t_done = wait_stored(
                    self.poll,
                    1 + args.messages,
                    self.last_rows(self.flood.last),
                    timeout_s=600,
                    idle=pump,
                )
            self.cpu["ingest"] = sampler.cores()
            ingest_s = t_done - t0
            self.out["ingest_msgs_per_s"] = round(args.messages / ingest_s)
            self.out["publish_msgs_per_s"] = round(args.messages / (t_published - t0))
            flood_buckets = scrape(metrics_port, args.workers)

            # paced: latency at a rate ingest keeps up with
            paced_rate = args.paced_rate or round(args.messages / ingest_s / 2)
            sent_at = self.publisher.paced(self.paced, paced_rate)
            self.publisher.flush()
            wait_stored(
                self.poll,
                1 + args.messages + args.paced_messages,
                self.last_rows(self.paced.last),
                timeout_s=120,
                idle=pump,
            )
            paced_buckets = scrape(metrics_port, args.workers)
        finally:
            ingest.stop()
            clear_sessions(self.settings, ingest.client_ids)
        self.out["ingest_log"] = str(ingest.log_path)
        self.report_latency(before, flood_buckets, paced_buckets, sent_at, paced_rate)
        self.check_stored()

    def report_latency(
        self,
        before: dict[float, float] | None,
        flood: dict[float, float] | None,
        paced: dict[float, float] | None,
        sent_at: list[float],
        paced_rate: float,
    ) -> None:
        out = self.out
        if flood is not None and before is not None:
            out["p99_commit_latency_ms"] = ms(bucket_p99(subtract(flood, before)))
            out["p99_source"] = (
                "ironlink_ingest_commit_seconds, workers' buckets merged, upper bound of the "
                "bucket holding the 99th percentile, during the flood"
            )
            if paced is not None:
                out["p99_commit_latency_paced_ms"] = ms(bucket_p99(subtract(paced, flood)))
        else:
            out["p99_commit_latency_ms"] = None
            out["p99_source"] = "ingest serves no ironlink_ingest_commit_seconds"
        rows = self.poll.execute(
            "SELECT machine_id, seq, extract(epoch FROM received_at)::float8"
            " FROM readings WHERE seq > %s",
            (self.per_machine,),
        ).fetchall()
        index_of = {mid: m for m, mid in enumerate(self.machine_ids)}
        sent = {pair: sent_at[i] for i, pair in enumerate(self.paced.pairs)}
        latencies = [
            float(at) - sent[(index_of[int(mid)], int(seq))]  # type: ignore[call-overload]
            for mid, seq, at in rows
        ]
        out["paced_rate_msgs_per_s"] = paced_rate
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            out[f"{name}_publish_to_stored_paced_ms"] = (
                round(percentile(latencies, q) * 1000, 1) if latencies else None
            )

    def check_stored(self) -> None:
        rows = self.poll.execute(
            "SELECT machine_id, seq FROM readings WHERE machine_id <> %s",
            (self.ids[self.probe_serial],),
        ).fetchall()
        stored = {(int(m), int(s)) for m, s in rows}  # type: ignore[call-overload]
        expected = {(self.machine_ids[m], s) for m, s in self.flood.pairs + self.paced.pairs}
        self.out["lost"] = len(expected - stored)
        self.out["duplicates"] = self.poll.execute(
            "SELECT count(*) - count(DISTINCT (machine_id, seq)) FROM readings"
        ).fetchone()[0]  # type: ignore[index]
        self.out["unexpected"] = len(stored - expected)
        # Other traffic on the broker (another run's machines, retained status messages of
        # machines this database does not know) ends up here.
        self.out["rejected"] = self.poll.execute("SELECT count(*) FROM rejected").fetchone()[0]  # type: ignore[index]

    def measure_naive(self) -> None:
        self.poll.execute("TRUNCATE readings")
        n = min(self.args.naive_messages, self.args.messages)
        naive = self.subscribers_for("naive")
        naive.start()
        last: dict[int, tuple[datetime, int]] = {}
        for i in range(n):
            m, seq = self.flood.pairs[i]
            last[m] = (self.start + timedelta(minutes=seq, seconds=m % 60), seq)
        with CpuSampler(self.groups("naive", naive.pids)) as sampler:
            t0 = self.publisher.flood(self.flood, stop=n)
            self.publisher.flush()
            t_done = wait_stored(
                self.poll, n, self.last_rows(last), timeout_s=600, idle=self.publisher.pool.pump
            )
        self.cpu["naive"] = sampler.cores()
        naive.finish()
        clear_sessions(self.settings, naive.client_ids)
        stored = self.poll.execute("SELECT count(DISTINCT (machine_id, seq)) FROM readings")
        self.out["naive_messages"] = n
        self.out["naive_msgs_per_s"] = round(n / (t_done - t0))
        self.out["naive_lost"] = n - stored.fetchone()[0]  # type: ignore[index, operator]

    def summary(self) -> dict[str, Any]:
        out = self.out
        out["ratio_to_ceiling"] = round(out["ingest_msgs_per_s"] / out["ceiling_msgs_per_s"], 3)
        out["ratio_to_paho_ceiling"] = round(
            out["ingest_msgs_per_s"] / out["paho_ceiling_msgs_per_s"], 3
        )
        out["ratio_to_naive"] = round(out["ingest_msgs_per_s"] / out["naive_msgs_per_s"], 1)
        out["cpu_cores"] = self.cpu
        out["targets_met"] = {
            "ingest_25k": out["ingest_msgs_per_s"] >= 25_000,
            "ratio_to_ceiling_0_8": out["ratio_to_ceiling"] >= 0.8,
            "ratio_to_naive_12": out["ratio_to_naive"] >= 12,
            "no_loss_no_duplicates": out["lost"] == 0 and out["duplicates"] == 0,
        }
        return out


def main() -> None:
    args = parse_args()
    settings = load(os.environ)
    with fresh_database(settings, prefix="ironlink_bench_ingest", keep=args.keep_db) as url:
        bench = Bench(args, settings, url)
        try:
            bench.measure_ceiling("receiver", "ceiling")
            bench.measure_ceiling("paho", "paho_ceiling")
            bench.measure_ingest()
            bench.measure_naive()
            bench.publisher.close()
        finally:
            bench.close()
    print(json.dumps(bench.summary()), flush=True)


if __name__ == "__main__":
    main()
