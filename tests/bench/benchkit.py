"""What bench_ingest.py and chaos.py share: a fresh database per run, machines and their broker
users, `ironlink ingest` as a subprocess, removal of persistent MQTT sessions, and CPU sampling of
the processes involved (from /proc, as pidstat would)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from ironlink import migrate
from ironlink.broker_auth import device_password, sync_users
from ironlink.settings import Settings, default_state_dir
from simulators.mqtt_link import LinkPool

# The broker re-reads its password file after SIGHUP, asynchronously.
BROKER_RELOAD_S = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def fresh_database(settings: Settings, *, prefix: str, keep: bool = False) -> Iterator[str]:
    """A new, migrated database for one run; dropped afterwards unless keep."""
    admin = psycopg.conninfo.make_conninfo(settings.database_url, dbname="postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(settings.database_url, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.apply(conn, migrate.discover())
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        else:
            print(f"kept database {name}", file=sys.stderr)


def add_machines(url: str, machines: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """One dealer, one owner and these (serial, kind, model) machines; serial -> id."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO dealers (code, name, region, lat, lon)"
            " VALUES ('DLR-BENCH', 'Bench Dealer', 'Bench', 52.0, -1.0)"
        )
        conn.execute(
            "INSERT INTO owners (code, name, kind, dealer_id)"
            " VALUES ('OWN-BENCH', 'Bench Farms', 'farmer', 1)"
        )
        ids: dict[str, int] = {}
        for serial, kind, model in machines:
            row = conn.execute(
                "INSERT INTO machines (serial, kind, model, year, owner_id, dealer_id)"
                " VALUES (%s, %s, %s, 2022, 1, 1) RETURNING id",
                (serial, kind, model),
            ).fetchone()
            assert row is not None
            ids[serial] = int(row[0])  # type: ignore[call-overload]
    return ids


def sync_broker_users(settings: Settings, serials: Sequence[str]) -> None:
    if sync_users(settings, serials):
        time.sleep(BROKER_RELOAD_S)


def clear_sessions(settings: Settings, client_ids: Sequence[str]) -> None:
    """Ends the broker's persistent sessions of these clients (and their subscriptions), so that
    no queue keeps filling for them: connect with clean start and a session expiry of 0, leave."""
    if not client_ids:
        return
    with LinkPool(settings.mqtt_host, settings.mqtt_port, session_expiry_s=0) as pool:
        for client_id in client_ids:
            pool.add(client_id, settings.mqtt_user, settings.mqtt_password)
        pool.connect_all(timeout_s=15.0)


def clear_retained(settings: Settings, topics: dict[str, str]) -> None:
    """Deletes retained messages (machine serial -> its status topic), publishing an empty
    retained message as each machine, so later subscribers are not sent another run's births."""
    with LinkPool(settings.mqtt_host, settings.mqtt_port, session_expiry_s=0) as pool:
        links = {
            serial: pool.add(
                f"clear-{serial}", serial, device_password(settings.device_secret, serial)
            )
            for serial in topics
        }
        pool.connect_all(timeout_s=30.0)
        for serial, link in links.items():
            pool.publish(link, topics[serial], b"", retain=True)


def free_ports(n: int) -> int:
    """A base port b such that b .. b+n-1 are free on the loopback interface (right now)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n > 65_000:
            continue
        ok = True
        for port in range(base + 1, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError(f"no {n} consecutive free ports")


def state_dir() -> Path:
    return Path(os.environ.get("IRONLINK_STATE_DIR", str(default_state_dir())))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def postmaster_pid() -> int | None:
    try:
        return int((state_dir() / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def mosquitto_pid(settings: Settings) -> int | None:
    try:
        return int(Path(settings.mqtt_pid_file).read_text().strip())
    except (OSError, ValueError):
        return None


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


@dataclass
class CpuSampler:
    """CPU time per group of processes over a phase, in cores (1.0 = one core busy). Groups are
    re-resolved at every sample, so processes started during the phase are counted; the CPU of
    processes that end during the phase is counted up to the last sample that saw them."""

    groups: dict[str, Callable[[], Sequence[int]]]  # name -> the group's pids right now
    interval_s: float = 0.25
    _last: dict[int, tuple[str, int]] = field(default_factory=dict)
    _used: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    _t1: float = 0.0

    def _sample(self) -> None:
        for name, find in self.groups.items():
            for pid in find():
                ticks = cpu_ticks(pid)
                prev = self._last.get(pid)
                if prev is None:
                    self._last[pid] = (name, ticks)
                    continue
                self._used[name] = self._used.get(name, 0) + max(0, ticks - prev[1])
                self._last[pid] = (name, ticks)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._t0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._sample()
        self._t1 = time.monotonic()

    def cores(self) -> dict[str, float]:
        wall = max(self._t1 - self._t0, 1e-9)
        return {name: round(self._used.get(name, 0) / CLK_TCK / wall, 2) for name in self.groups}


def postgres_pids() -> list[int]:
    pid = postmaster_pid()
    return descendants(pid) if pid else []


class IngestProcess:
    """`ironlink ingest --workers N` on a given database and shared-subscription group; its log
    goes to a file, whose lines also tell when every worker has subscribed."""

    def __init__(
        self,
        *,
        database_url: str,
        group: str,
        workers: int,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.group, self.workers, self.log_path = group, workers, log_path
        self.env = dict(os.environ)
        self.env.update(
            IRONLINK_DATABASE_URL=database_url,
            IRONLINK_INGEST_GROUP=group,
            PYTHONUNBUFFERED="1",
        )
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._subscribing: set[str] = set()
        self._lines = 0
        self._reader: threading.Thread | None = None
        self._log = log_path.open("ab")

    @property
    def client_ids(self) -> list[str]:
        return [f"ironlink-{self.group}-{i}" for i in range(self.workers)]

    def start(self) -> None:
        ironlink = Path(sys.executable).parent / "ironlink"
        self.proc = subprocess.Popen(
            [str(ironlink), "ingest", "--workers", str(self.workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        pattern = re.compile(rb"connected as (\S+), subscribing")
        for line in self.proc.stderr:
            self._log.write(line)
            self._log.flush()
            self._lines += 1
            if m := pattern.search(line):
                self._subscribing.add(m.group(1).decode())

    def wait_subscribing(self, timeout_s: float = 60.0) -> bool:
        """True once every worker has logged its subscription (or been restarted and done so)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if set(self.client_ids) <= self._subscribing:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"ingest exited with {self.proc.returncode}; see {self.log_path}"
                )
            time.sleep(0.05)
        return False

    def worker_pids(self) -> list[int]:
        """The worker processes (spawned children), not multiprocessing's resource tracker."""
        if self.proc is None:
            return []
        return [p for p in _children(self.proc.pid) if "multiprocessing.spawn" in cmdline(p)]

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc is not None else []

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                print("ingest did not stop on SIGTERM; killing it", file=sys.stderr)
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
