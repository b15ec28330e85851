"""Two scheduler processes on one database: the leader is killed with SIGKILL, the standby takes
over within its poll interval, and no (job, slot) runs twice (job_runs and the jobs' own rows)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from maintenance.slots import slot_of

ROOT = Path(__file__).resolve().parents[3]
POLL_S = 0.2
DEADLINE_S = 30.0
CHILD = "tests.integration.maintenance.scheduler_child"

Conn = psycopg.Connection[tuple[object, ...]]


def _wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"scheduler exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S} s")
        time.sleep(0.05)


def _runs(conn: Conn, *, job: str, runner: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM job_runs WHERE job = %s AND runner = %s", (job, runner)
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


@pytest.fixture
def start(db_url: str, tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(runner: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{runner}.log").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [sys.executable, "-m", CHILD, db_url, runner, str(POLL_S)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_standby_takes_over_a_killed_leader_without_running_a_slot_twice(
    conn: Conn, start: Callable[[str], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    conn.execute(
        "CREATE TABLE counted (job text NOT NULL, runner text NOT NULL,"
        " at timestamptz NOT NULL DEFAULT clock_timestamp())"
    )
    leader = start("a")
    _wait_for("run by the leader", lambda: _runs(conn, job="count-fast", runner="a") >= 3, leader)
    standby = start("b")
    _wait_for(
        "standby waiting for the lock",
        lambda: "standing by" in (tmp_path / "b.log").read_text(),
        standby,
    )
    _wait_for("more leader runs", lambda: _runs(conn, job="count-fast", runner="a") >= 6, leader)

    leader.send_signal(signal.SIGKILL)
    leader.wait()
    _wait_for("run by the standby", lambda: _runs(conn, job="count-fast", runner="b") >= 3, standby)
    standby.terminate()  # clean stop: its running job finishes and is recorded
    assert standby.wait(timeout=DEADLINE_S) == 0

    runs = [
        (str(job), _at(slot), str(runner), str(status))
        for job, slot, runner, status in conn.execute(
            "SELECT job, slot, runner, status FROM job_runs ORDER BY job, slot"
        ).fetchall()
    ]
    counted = [
        (str(job), str(runner), _at(at))
        for job, runner, at in conn.execute("SELECT job, runner, at FROM counted").fetchall()
    ]
    # The hourly job's slot was run by the leader; the standby, starting in the same hour, found
    # it claimed and skipped it (a second hour only if the test crossed an hour boundary).
    hourly_runs = [(slot, runner) for job, slot, runner, _ in runs if job == "count-hourly"]
    hourly_counted = sorted(
        slot_of(at, every_s=3_600.0) for job, _, at in counted if job == "count-hourly"
    )
    assert hourly_counted == [slot for slot, _ in hourly_runs]
    assert hourly_runs[0][1] == "a"
    # Every fast run was claimed once; the killed leader may have died between claim and count.
    fast = [(slot, runner, status) for job, slot, runner, status in runs if job == "count-fast"]
    for name in ("a", "b"):
        claimed = [status for _, runner, status in fast if runner == name]
        n = sum(1 for job, runner, _ in counted if job == "count-fast" and runner == name)
        assert claimed.count("done") <= n <= len(claimed)
    assert {status for _, runner, status in fast if runner == "b"} == {"done"}
    assert max(s for s, r, _ in fast if r == "a") < min(s for s, r, _ in fast if r == "b")


def _at(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value
