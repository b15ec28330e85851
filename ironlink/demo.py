"""`ironlink demo`: the whole chain on the local services, as separate processes like production.

Seeds the demo fleet, then runs `ironlink ingest`, `scheduler`, `api` and `simulate` as child
processes, prints progress every few seconds and, when given a duration, stops them cleanly and
prints
one JSON summary line, checked through the owner API itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Final, LiteralString

from api.auth import Role, create_key, revoke_label
from ironlink import broker_auth, migrate
from ironlink.db import connect
from ironlink.settings import Settings
from maintenance.crm.customer import grade_all
from maintenance.fleet.seed import seed_demo
from maintenance.rules.store import active_version, adopt_shipped

DEMO_LABEL: Final = "demo"
PROGRESS_EVERY_S: Final = 5.0
HISTORY_H: Final = 72.0  # three simulated days always include working days and a developing fault

COUNTS: Final = """
SELECT (SELECT count(*) FROM machines),
       (SELECT count(*) FROM readings),
       (SELECT count(*) FROM faults),
       (SELECT count(*) FROM tickets WHERE status NOT IN ('resolved', 'closed', 'cancelled')),
       (SELECT count(*) FROM parts_requests),
       (SELECT count(*) FROM rejected)
"""


# The demo replays the same three simulated days each time it starts; what an earlier demo stored
# for those days would conflict with the replay (engine hours "from the future"), so every demo
# starts from empty telemetry and tickets, and the anomaly detector forgets what it learned (its
# cursors would skip the replayed minutes). Fleet records and keys are kept (and re-issued).
RESET_DEMO_DATA: Final[LiteralString] = """
TRUNCATE readings, faults, dm1_reports, fault_episodes, machine_state, rejected,
         ticket_events, parts_requests, service_requests, tickets, service_records, anomaly_state,
         alert_outbox
"""


def seed_with_keys(settings: Settings, *, tractors: int, excavators: int) -> dict[str, str]:
    """Migrates, makes the shipped rule set active if the database has no newer one, seeds the
    fleet, syncs broker users and issues fresh demo keys (old ones revoked)."""
    migrate.ensure_database(settings.database_url)
    with connect(settings.database_url) as conn:
        migrate.apply(conn, migrate.discover())
        # The demo's ingest and scheduler run the active rule set from the table; a database set up
        # by an older checkout would otherwise keep the rule set it first bootstrapped.
        adopt_shipped(conn, actor=DEMO_LABEL)
        with conn.transaction():
            conn.execute(RESET_DEMO_DATA)
            fleet = seed_demo(conn, tractors=tractors, excavators=excavators)
            # Graded before the stream starts, so the demo's tickets take the owners' grades.
            grade_all(conn, now=datetime.now(UTC))
            revoke_label(conn, label=DEMO_LABEL)
            keys: dict[str, str] = {}
            for code, owner_id in fleet.owner_ids.items():
                keys[f"owner:{code}"] = create_key(
                    conn, role=Role.OWNER, owner_id=owner_id, label=DEMO_LABEL
                )
            keys["dispatcher:all"] = create_key(conn, role=Role.DISPATCHER, label=DEMO_LABEL)
            keys["admin"] = create_key(conn, role=Role.ADMIN, label=DEMO_LABEL)
    broker_auth.sync_users(settings, [m.serial for m in fleet.machines])
    return keys


def _get(url: str, key: str) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _counts(settings: Settings) -> dict[str, int]:
    with connect(settings.database_url) as conn:
        row = conn.execute(COUNTS).fetchone()
    assert row is not None
    names = (
        "machines",
        "readings_stored",
        "faults_stored",
        "tickets_open",
        "parts_requests",
        "rejected",
    )
    return dict(zip(names, (int(v) for v in row), strict=True))  # type: ignore[call-overload]


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ironlink.cli", *args], env=os.environ.copy())


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _owner_api_check(base: str, keys: dict[str, str]) -> dict[str, object]:
    """Finds a ticket with parts through its owner's key, and checks another owner gets 404 for
    it."""
    owner_keys = {k: v for k, v in keys.items() if k.startswith("owner:")}
    for label, key in owner_keys.items():
        status, body = _get(f"{base}/v1/owner/tickets", key)
        items = body.get("items", []) if status == 200 and isinstance(body, dict) else []
        with_parts = [t for t in items if t.get("parts")]
        if not with_parts:
            continue
        ticket = with_parts[0]
        other_label, other_key = next((lb, k) for lb, k in owner_keys.items() if lb != label)
        other_status, _ = _get(f"{base}/v1/owner/tickets/{ticket['id']}", other_key)
        own_status, _ = _get(f"{base}/v1/owner/tickets/{ticket['id']}", key)
        return {
            "ticket_id": ticket["id"],
            "ticket_title": ticket["title"],
            "ticket_serial": ticket["serial"],
            "ticket_parts": [p["part_no"] for p in ticket["parts"]],
            "owner": label.removeprefix("owner:"),
            "owner_status": own_status,
            "other_owner": other_label.removeprefix("owner:"),
            "other_owner_status": other_status,
        }
    return {"ticket_id": None}


def run_demo(
    settings: Settings, *, duration_s: float | None, tractors: int, excavators: int
) -> int:
    keys = seed_with_keys(settings, tractors=tractors, excavators=excavators)
    base = f"http://{settings.api_host}:{settings.api_port}"
    # Replay three simulated days: within 60 % of a bounded demo, else within two minutes.
    catch_up_s = 0.6 * duration_s if duration_s else 120.0
    speedup = max(1.0, HISTORY_H * 3600 / catch_up_s)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    services = [_spawn("ingest"), _spawn("scheduler", "--sweep-every-s", "15"), _spawn("api")]
    simulator: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(100):
            try:
                if _get(f"{base}/health", "")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        simulator = _spawn(
            "simulate",
            "--tractors",
            str(tractors),
            "--excavators",
            str(excavators),
            "--speedup",
            f"{speedup:.0f}",
            "--history-h",
            str(HISTORY_H),
            "--scenario",
            "demo",
        )
        print(f"IronLink demo: API at {base} (OpenAPI docs at {base}/docs)", flush=True)
        with connect(settings.database_url) as conn:
            version = active_version(conn)
        print(
            f"  rule set {version} is active (`ironlink rules show`; a newer one loaded with"
            " `ironlink rules load FILE` takes effect within seconds)",
            flush=True,
        )
        for label, key in keys.items():
            print(f"  {label:28} {key}", flush=True)
        owner_key = next(iter(keys.values()))
        print(
            f"  try: curl -H 'Authorization: Bearer {owner_key}' {base}/v1/owner/tickets",
            flush=True,
        )
        started = time.monotonic()
        while not stop.wait(PROGRESS_EVERY_S):
            elapsed = time.monotonic() - started
            counts = _counts(settings)
            print(
                f"[{elapsed:5.0f}s] " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True
            )
            if duration_s is not None and elapsed >= duration_s:
                break
            if any(p.poll() is not None for p in services):
                print("a service process ended unexpectedly; stopping", file=sys.stderr, flush=True)
                return 1
        _stop(simulator)
        time.sleep(2 * settings.ingest_flush_s + 1.0)  # let ingest commit what was just published
        summary: dict[str, object] = dict(_counts(settings))
        summary.update(_owner_api_check(base, keys))
    finally:
        for proc in [simulator, *services]:
            if proc is not None:
                _stop(proc)
    print(json.dumps(summary), flush=True)
    return 0
