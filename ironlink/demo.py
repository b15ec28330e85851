"""`ironlink demo`: the whole chain on the local services, as separate processes like production.

Seeds the demo fleet, then runs `ironlink ingest`, `scheduler`, `api` and `simulate` as child
processes, prints progress every few seconds and, when given a duration, stops them cleanly and
prints
one JSON summary line, checked through the owner API itself.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Final, LiteralString

import psycopg

from api.auth import Role, create_key, revoke_label
from ironlink import broker_auth, migrate
from ironlink.db import connect
from ironlink.settings import Settings
from maintenance.alerts import subscriptions
from maintenance.alerts.model import Audience, Channel
from maintenance.alerts.receiver import Received, Receiver, Verifier
from maintenance.crm.customer import grade_all
from maintenance.fleet.seed import SeededFleet, seed_demo
from maintenance.forecast.parts_repo import forecast_every_dealer
from maintenance.rules.store import active_version, adopt_shipped

DEMO_LABEL: Final = "demo"
PROGRESS_EVERY_S: Final = 5.0
# Four simulated days always include working days and a developing fault, and give the service
# forecast the three whole days of hour-meter usage it needs for a rate (service_due.MIN_DAYS).
HISTORY_H: Final = 96.0
# The demo's webhook receiver listens under this path; subscriptions whose target is on loopback
# under it are the demo's own, replaced on every seed (the receiver's port and secret change).
DEMO_ALERTS_PATH: Final = "/ironlink-demo/alerts"
# How long the end of a bounded demo waits for the alert-delivery job (every 10 s) to send what
# the last minutes enqueued, before it counts what is still pending.
ALERTS_DRAIN_S: Final = 15.0

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
         alert_outbox, service_due_alerts, owner_digests
"""
DELETE_DEMO_SUBSCRIPTIONS: Final[LiteralString] = """
DELETE FROM alert_subscriptions s
WHERE s.channel = 'webhook' AND s.target LIKE %(pattern)s
  AND NOT EXISTS (SELECT 1 FROM alert_outbox o WHERE o.subscription_id = s.id)
"""
PENDING_ALERTS: Final[LiteralString] = "SELECT count(*) FROM alert_outbox WHERE status = 'pending'"
DEALER_CODES: Final[LiteralString] = "SELECT code FROM dealers ORDER BY code"


def _subscribe_demo(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    fleet: SeededFleet,
    alerts_url: str | None,
    alerts_secret: str,
) -> None:
    """Every named owner and every demo dealer gets a webhook to the demo's receiver, one path
    each (the receiver prints whom an alert came to); an earlier demo's are removed first, so
    `ironlink seed` without a receiver leaves none pointing at a closed port."""
    conn.execute(DELETE_DEMO_SUBSCRIPTIONS, {"pattern": f"http://127.0.0.1:%{DEMO_ALERTS_PATH}/%"})
    if alerts_url is None:
        return
    recipients = [(Audience.OWNER, code, i) for code, i in fleet.owner_ids.items()]
    recipients += [(Audience.DEALER, code, i) for code, i in fleet.dealer_ids.items()]
    for audience, code, recipient_id in recipients:
        subscriptions.subscribe(
            conn,
            audience=audience,
            recipient_id=recipient_id,
            channel=Channel.WEBHOOK,
            target=f"{alerts_url}/{audience}/{code}",
            secret=alerts_secret,
        )


def seed_with_keys(
    settings: Settings,
    *,
    tractors: int,
    excavators: int,
    alerts_url: str | None = None,
    alerts_secret: str = "",
) -> dict[str, str]:
    """Migrates, makes the shipped rule set active if the database has no newer one, seeds the
    fleet, syncs broker users and issues fresh demo keys (old ones revoked). With `alerts_url`
    (the demo's receiver), owners and dealers get webhook subscriptions signed with
    `alerts_secret`."""
    migrate.ensure_database(settings.database_url)
    with connect(settings.database_url) as conn:
        migrate.apply(conn, migrate.discover())
        # The demo's ingest and scheduler run the active rule set from the table; a database set up
        # by an older checkout would otherwise keep the rule set it first bootstrapped.
        adopt_shipped(conn, actor=DEMO_LABEL)
        with conn.transaction():
            conn.execute(RESET_DEMO_DATA)
            fleet = seed_demo(conn, tractors=tractors, excavators=excavators)
            _subscribe_demo(conn, fleet=fleet, alerts_url=alerts_url, alerts_secret=alerts_secret)
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


def _parts_forecast_check(settings: Settings, base: str, key: str) -> dict[str, object]:
    """Runs the daily parts-forecast job once now that the replayed history is in (the scheduler
    ran it at start, before any hour meter had a usage rate), then reads every dealer's 90-day
    forecast through the dispatcher API: service-kit and fault-driven units, and the stock the
    forecast needs against the stock kept by habit."""
    with connect(settings.database_url) as conn:
        _, visits = forecast_every_dealer(conn, now=datetime.now(UTC))
        codes = [str(code) for (code,) in conn.execute(DEALER_CODES)]
    statuses: set[int] = set()
    kits = faults = forecast_stock = habit_stock = 0.0
    for code in codes:
        status, body = _get(
            f"{base}/v1/dispatch/dealers/{code}/parts-forecast?horizon_days=90", key
        )
        statuses.add(status)
        if status != 200 or not isinstance(body, dict):
            continue
        kits += sum(line["service_demand_mean"] for line in body["lines"])
        faults += sum(line["fault_demand_mean"] for line in body["lines"])
        forecast_stock += body["totals"]["forecast_stock"]
        habit_stock += body["totals"]["habit_stock"]
    return {
        "parts_forecast_status": sorted(statuses),
        "service_visits_90d": visits,
        "service_kit_units_90d": int(kits),
        "fault_units_90d": round(faults, 1),
        "forecast_stock": int(forecast_stock),
        "habit_stock": int(habit_stock),
    }


def _print_alert(alert: Received) -> None:
    to = alert.path.removeprefix(DEMO_ALERTS_PATH + "/").replace("/", " ")
    kind = alert.event.removeprefix("ticket.")
    print(f"  alert to {to}: {kind} {alert.serial} {alert.title!r} ({alert.priority})", flush=True)


def _pending_alerts(settings: Settings) -> int:
    with connect(settings.database_url) as conn:
        row = conn.execute(PENDING_ALERTS).fetchone()
    assert row is not None
    assert isinstance(row[0], int)
    return row[0]


def run_demo(
    settings: Settings,
    *,
    duration_s: float | None,
    tractors: int,
    excavators: int,
    alerts_port: int = 0,
) -> int:
    """The demo, with its webhook receiver on 127.0.0.1:`alerts_port` (0: a free port)."""
    secret = secrets.token_urlsafe(24)
    verifier = Verifier(secret, on_alert=_print_alert)
    with Receiver(verifier, port=alerts_port, path=DEMO_ALERTS_PATH) as receiver:
        return _run(
            settings,
            receiver=receiver,
            secret=secret,
            duration_s=duration_s,
            tractors=tractors,
            excavators=excavators,
        )


def _run(
    settings: Settings,
    *,
    receiver: Receiver,
    secret: str,
    duration_s: float | None,
    tractors: int,
    excavators: int,
) -> int:
    keys = seed_with_keys(
        settings,
        tractors=tractors,
        excavators=excavators,
        alerts_url=receiver.url,
        alerts_secret=secret,
    )
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
        print(
            f"  dispatcher console: {base}/console/ (sign in with the dispatcher:all key)",
            flush=True,
        )
        owner_key = next(iter(keys.values()))
        print(
            f"  try: curl -H 'Authorization: Bearer {owner_key}' {base}/v1/owner/tickets",
            flush=True,
        )
        print(
            f"  alerts: owners' and dealers' webhooks to {receiver.url}/..., sent by the"
            " scheduler's alert-delivery job, signature verified and repeats dropped here (e-mail"
            " subscriptions work the same way but need an SMTP relay; the demo has none)",
            flush=True,
        )
        started = time.monotonic()
        while not stop.wait(PROGRESS_EVERY_S):
            elapsed = time.monotonic() - started
            counts = _counts(settings)
            counts["alerts_received"] = receiver.verifier.counts().received
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
        drain_until = time.monotonic() + ALERTS_DRAIN_S
        while _pending_alerts(settings) and time.monotonic() < drain_until:
            time.sleep(0.5)
        summary: dict[str, object] = dict(_counts(settings))
        summary.update(_owner_api_check(base, keys))
        summary.update(_parts_forecast_check(settings, base, keys["dispatcher:all"]))
        received = receiver.verifier.counts()
        summary["alerts_received"] = received.received
        summary["alerts_duplicates"] = received.duplicates
        summary["alerts_bad_signature"] = received.bad_signature
        summary["alerts_pending"] = _pending_alerts(settings)
    finally:
        for proc in [simulator, *services]:
            if proc is not None:
                _stop(proc)
    print(json.dumps(summary), flush=True)
    return 0
