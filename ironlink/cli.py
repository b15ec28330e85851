"""The `ironlink` command: the only module (with ironlink.demo) that imports every package."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ironlink import broker_auth, migrate
from ironlink import log as logsetup
from ironlink.settings import Settings, SettingsError, load, unknown_keys

if TYPE_CHECKING:
    from maintenance.alerts.channels import Sender
    from maintenance.alerts.model import Channel

log = logging.getLogger("ironlink")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect

    migrate.ensure_database(settings.database_url)
    with connect(settings.database_url) as conn:
        applied = migrate.apply(conn, migrate.discover())
    print(f"migrations applied: {len(applied)}" + (f" ({', '.join(applied)})" if applied else ""))
    return 0


def cmd_broker_sync(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect

    # Machines provisioned through the admin API keep the password issued to them; the others get
    # the development password derived from the device secret.
    with connect(settings.database_url) as conn:
        serials = [
            str(r[0])
            for r in conn.execute(
                "SELECT serial FROM machines m WHERE NOT EXISTS"
                " (SELECT 1 FROM machine_credentials c WHERE c.machine_id = m.id) ORDER BY serial"
            ).fetchall()
        ]
    changed = broker_auth.sync_users(settings, serials)
    print(
        f"broker users: {len(serials)} machines + services",
        "(updated)" if changed else "(unchanged)",
    )
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.demo import seed_with_keys

    keys = seed_with_keys(settings, tractors=args.tractors, excavators=args.excavators)
    if args.keys_file:
        Path(args.keys_file).write_text(json.dumps(keys, indent=2))
    for label, key in keys.items():
        print(f"{label:28} {key}")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    if args.workers <= 1:
        _ingest_worker(settings, 0)
        return 0
    import multiprocessing

    # The parent supervises: a worker that dies (even kill -9) is started again with the same
    # index, so it resumes the same persistent MQTT session and gets its unacknowledged messages.
    ctx = multiprocessing.get_context("spawn")
    stop = _stop_on_signals()
    procs = {}
    for i in range(args.workers):
        procs[i] = ctx.Process(target=_ingest_worker, args=(settings, i), name=f"ingest-{i}")
        procs[i].start()
    while not stop.wait(1.0):
        for i, proc in list(procs.items()):
            if not proc.is_alive():
                log.warning("ingest worker %d exited with %s; restarting it", i, proc.exitcode)
                procs[i] = ctx.Process(
                    target=_ingest_worker, args=(settings, i), name=f"ingest-{i}"
                )
                procs[i].start()
    for proc in procs.values():
        if proc.pid and proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        proc.join()
    return 0


def _ingest_worker(settings: Settings, index: int) -> None:
    from maintenance.evaluate import rules_after_ingest
    from maintenance.rules.store import ActiveRules
    from telemetry.ingest import IngestWorker

    logsetup.configure(settings.log_level)
    hook = rules_after_ingest(ActiveRules())  # the active rule set, re-read when a newer is loaded
    IngestWorker(
        settings,
        worker_index=index,
        on_committed=hook,
        stop=_stop_on_signals(),
        serve_metrics=True,
    ).run()


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning"
    )
    return 0


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import make_pool
    from maintenance import scheduler
    from maintenance.jobs import job_table
    from maintenance.rules.store import ActiveRules

    stop = _stop_on_signals()
    pool = make_pool(settings.database_url, min_size=1, max_size=4)
    try:
        jobs = job_table(
            pool,
            ActiveRules(),
            sweep_every_s=args.sweep_every_s,
            silence_every_s=args.silence_every_s,
            alert_senders=_alert_senders(settings),
            sla_near_fraction=settings.sla_near_fraction,
            retention_days=settings.retention_days,
            alert_retention_days=settings.alert_retention_days,
            service_due_lead_days=settings.service_due_lead_days,
        )
        scheduler.run(settings.database_url, jobs, stop=stop)
    finally:
        pool.close()
    return 0


def _alert_senders(settings: Settings) -> dict[Channel, Sender]:
    from maintenance.alerts.delivery import senders

    return senders(
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_sender=settings.smtp_sender,
        timeout_s=settings.alert_timeout_s,
        smtp_starttls=settings.smtp_starttls,
        smtp_user=settings.smtp_user,
        smtp_password=settings.smtp_password,
    )


def cmd_alerts_deliver(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.alerts.delivery import deliver_due

    with connect(settings.database_url) as conn:
        run = deliver_due(conn, now=datetime.now(UTC), senders=_alert_senders(settings))
    print(
        f"alerts: {run.delivered} delivered, {run.retried} to retry, {run.dead} dead,"
        f" {run.deferred} deferred (quiet hours)"
    )
    return 0


def cmd_alerts_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.alerts import policy, subscriptions
    from maintenance.alerts.model import Audience, Channel
    from maintenance.errors import DomainError

    audience = Audience.OWNER if args.owner else Audience.DEALER
    channel = Channel.WEBHOOK if args.webhook else Channel.EMAIL
    try:
        quiet = policy.parse_quiet(args.quiet, timezone=args.timezone) if args.quiet else None
        kinds = [k for k in args.kinds.split(",") if k.strip()] if args.kinds else None
        with connect(settings.database_url) as conn, conn.transaction():
            recipient = subscriptions.recipient_id(
                conn, audience=audience, ref=args.owner or args.dealer
            )
            sid = subscriptions.subscribe(
                conn,
                audience=audience,
                recipient_id=recipient,
                channel=channel,
                target=args.webhook or args.email,
                secret=args.secret or os.environ.get("IRONLINK_WEBHOOK_SECRET"),
                event_kinds=kinds,
                quiet=quiet,
            )
    except DomainError as exc:
        print(f"ironlink alerts subscribe: {exc}", file=sys.stderr)
        return 2
    print(f"subscription {sid}: {audience} {recipient} by {channel}")
    return 0


def cmd_alerts_list(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.alerts import subscriptions

    with connect(settings.database_url) as conn:
        rows = subscriptions.subscriptions(conn)
    for s in rows:
        who = f"owner {s.owner_id}" if s.owner_id is not None else f"dealer {s.dealer_id}"
        quiet = (
            f" quiet {s.quiet.start:%H:%M}-{s.quiet.end:%H:%M} {s.quiet.timezone}"
            if s.quiet
            else ""
        )
        state = "" if s.active else " (off)"
        kinds = ",".join(s.event_kinds)
        print(f"{s.id:>5} {who:<14} {s.channel:<8} {s.target} [{kinds}]{quiet}{state}")
    return 0


def cmd_reorder_chunks(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from telemetry.chunk_reorder import reorder_due

    limit = {} if args.max is None else {"max_chunks": args.max}
    with connect(settings.database_url) as conn:
        done = reorder_due(conn, now=datetime.now(UTC), **limit)
    for r in done:
        again = f", rewrite {r.reorders}" if r.reorders > 1 else ""
        print(
            f"{r.chunk} ({r.hypertable} {r.range_start:%Y-%m-%d %H:%M} .. "
            f"{r.range_end:%Y-%m-%d %H:%M}): {r.took_s:.1f} s,"
            f" {r.heap_bytes_before / 2**20:.1f} -> {r.heap_bytes / 2**20:.1f} MiB{again}"
        )
    print(f"chunks reordered: {len(done)}")
    return 0


def cmd_rollup(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from telemetry.hourly_rollup import refresh

    with connect(settings.database_url) as conn:
        done = refresh(conn, now=datetime.now(UTC))
    first = "; first run: every stored hour was marked dirty" if done.started else ""
    print(
        f"machine-hours rolled up: {done.hours} in {done.batches} batches"
        f" (hours before {done.rolled_up_before:%Y-%m-%d %H:%M} UTC){first}"
    )
    return 0


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "cli"


def cmd_rules_load(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.errors import DomainError
    from maintenance.rules.load import read_document
    from maintenance.rules.store import adopt_shipped, load_rule_set

    actor = args.actor or _cli_actor()
    if args.shipped:
        with connect(settings.database_url) as conn:
            shipped = adopt_shipped(conn, actor=actor)
        if shipped is None:
            print("the database has the shipped rule set or a newer one; nothing loaded")
        else:
            print(f"rule set {shipped} is active (shipped)")
        return 0
    path = Path(args.file)
    try:
        document = read_document(path.read_text())
        with connect(settings.database_url) as conn:
            version = load_rule_set(
                conn, document=document, source=str(path.resolve()), actor=actor
            )
    except (OSError, DomainError) as exc:
        print(f"ironlink rules load: {exc}", file=sys.stderr)
        return 1
    print(f"rule set {version} is active (from {path})")
    return 0


def cmd_rules_show(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.rules.load import default_rules
    from maintenance.rules.store import active_rules, rule_set_rows

    with connect(settings.database_url) as conn:
        ruleset = active_rules(conn)
        rows = rule_set_rows(conn)
    for row in rows:
        print(
            f"{'*' if row.active else ' '} v{row.version:<4} {row.rules:3} rules"
            f"  {row.loaded_at:%Y-%m-%d %H:%M:%S%z}  {row.loaded_by:12} {row.source}"
        )
    print(f"active rule set {ruleset.version}:")
    for rule in ruleset.rules:
        kind = type(rule).__struct_config__.tag
        print(f"  {rule.key:28} {kind!s:17} {rule.priority!s:9} {rule.title}")
    shipped = default_rules().version
    if shipped > ruleset.version:
        print(f"the shipped rule set {shipped} is newer: ironlink rules load --shipped")
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from maintenance.fleet.seed import serial_for
    from simulators import fleet
    from simulators.machine import MachineSpec
    from simulators.profiles import demo_model
    from simulators.scenarios import PlanError, load_plan
    from telemetry.wire import Kind

    try:
        plan = load_plan(args.scenario)
    except PlanError as exc:
        print(f"ironlink simulate: {exc}", file=sys.stderr)
        return 2
    machines = tuple(
        MachineSpec(serial_for(kind, n), kind, demo_model(kind, n))
        for kind, count in ((Kind.TRACTOR, args.tractors), (Kind.EXCAVATOR, args.excavators))
        for n in range(1, count + 1)
    )
    config = fleet.FleetConfig(
        machines=machines,
        plan=plan,
        speedup=args.speedup,
        seed=args.seed,
        sample_s=args.sample_s,
        history_h=args.history_h,
        start=datetime.fromisoformat(args.start) if args.start else None,
        off_report_s=args.off_report_s,
        truth_dir=Path(args.truth) if args.truth else None,
    )
    passwords = {
        m.serial: broker_auth.device_password(settings.device_secret, m.serial) for m in machines
    }
    stats = fleet.run(
        config,
        passwords=passwords,
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        stop=_stop_on_signals(),
        duration_s=args.duration,
    )
    summary = dataclasses.asdict(stats)
    summary["simulated_until"] = stats.simulated_until.isoformat()
    print(json.dumps(summary))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.demo import run_demo

    return run_demo(
        settings,
        duration_s=args.duration,
        tractors=args.tractors,
        excavators=args.excavators,
        alerts_port=args.alerts_port,
    )


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from api import keys
    from api.auth import Role
    from ironlink.db import connect
    from maintenance.errors import DomainError

    try:
        with connect(settings.database_url) as conn:
            issued, row = keys.create(
                conn,
                role=Role(args.role),
                owner=args.owner,
                dealer=args.dealer,
                label=args.label,
                rate_per_s=args.rate_per_s,
                burst=args.burst,
            )
    except DomainError as exc:
        print(f"ironlink keys create: {exc}", file=sys.stderr)
        return 2
    # The key alone on stdout, so `KEY=$(ironlink keys create ...)` captures it.
    print(issued.key)
    print(
        f"key {row.id} ({row.prefix}): {row.role}, {row.scope}, limit {row.limit_text}."
        " Store it now: only its hash is kept, it cannot be shown again.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    from api import keys
    from ironlink.db import connect

    with connect(settings.database_url) as conn:
        rows = keys.list_keys(conn, include_revoked=args.all)
    for line in [keys.as_json(r) for r in rows] if args.json else keys.table(rows):
        print(line)
    return 0


def cmd_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from api import keys
    from ironlink.db import connect
    from maintenance.errors import DomainError

    try:
        with connect(settings.database_url) as conn:
            row, revoked_now = keys.revoke(conn, args.key)
    except DomainError as exc:
        print(f"ironlink keys revoke: {exc}", file=sys.stderr)
        return 2
    state = "revoked" if revoked_now else "was already revoked"
    print(f"key {row.id} ({row.prefix}, {row.role}, {row.scope}) {state} at {row.revoked_at}")
    return 0


class _MalformedCsv(Exception):
    pass


def _read_nab_csv(path: Path) -> tuple[list[list[str]], list[datetime], list[float]]:
    """Rows of a NAB series (header `timestamp,value`); an empty or `nan` value is missing."""
    import csv

    rows: list[list[str]] = []
    stamps: list[datetime] = []
    values: list[float] = []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["timestamp", "value"]:
            raise _MalformedCsv(f"line 1: header must be 'timestamp,value', got {header!r}")
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != 2:
                raise _MalformedCsv(f"line {line}: expected 2 fields, got {len(row)}")
            try:
                stamp = datetime.fromisoformat(row[0].strip())
            except ValueError:
                raise _MalformedCsv(f"line {line}: bad timestamp {row[0][:64]!r}") from None
            if stamp.tzinfo is not None:
                stamp = stamp.astimezone(UTC).replace(tzinfo=None)
            try:
                value = float(row[1]) if row[1].strip() else math.nan
            except ValueError:
                raise _MalformedCsv(f"line {line}: bad value {row[1][:64]!r}") from None
            rows.append(row)
            stamps.append(stamp)
            values.append(value)
    return rows, stamps, values


def cmd_anomaly_score(settings: Settings, args: argparse.Namespace) -> int:
    import csv

    import numpy as np

    from maintenance.anomaly.detectors import score_series

    source = Path(args.input)
    try:
        rows, stamps, values = _read_nab_csv(source)
    except (_MalformedCsv, OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"ironlink anomaly score: {source}: {exc}", file=sys.stderr)
        return 2
    scores = score_series(
        np.array(stamps, dtype="datetime64[s]"), np.array(values, dtype=np.float64)
    )
    with Path(args.output).open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score"])
        # repr-exact floats: a score held just below the threshold must not round up to it.
        writer.writerows(
            [*row, repr(score)] for row, score in zip(rows, scores.tolist(), strict=True)
        )
    return 0


def cmd_anomaly_machine(settings: Settings, args: argparse.Namespace) -> int:
    from ironlink.db import connect
    from maintenance.anomaly.findings import minute_time
    from maintenance.anomaly.sweep import score_machine
    from maintenance.fleet.machine_records import machine

    with connect(settings.database_url) as conn:
        record = machine(conn, serial=args.serial)
        if record is None:
            print(f"ironlink anomaly machine: no machine {args.serial!r}", file=sys.stderr)
            return 2
        report = score_machine(
            conn, record.id, now=datetime.now(UTC), hours=args.hours, peers=args.peers
        )
    print(
        f"{args.serial}: {report.since:%Y-%m-%d %H:%M} .. {report.until:%Y-%m-%d %H:%M} UTC, "
        f"{report.peers} same-model peers"
    )
    for name, latest in report.latest.items():
        observed, expected = latest["observed"], latest["expected"]
        if observed is None or expected is None:
            print(f"  {name:10} not judged yet (too few steady running minutes)")
        else:
            print(f"  {name:10} observed {observed:8.2f}  expected {expected:8.2f}")
    for e in report.events:
        print(
            f"  {minute_time(e.minute):%Y-%m-%d %H:%M} {e.kind:9} {e.signal:10} {e.statistic:12}"
            f" score {e.score:.2f} observed {e.observed:.1f} expected {e.expected:.1f}"
        )
    if not report.events:
        print("  no anomaly episodes")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ironlink", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "broker-sync", help="write machine and service MQTT credentials, reload the broker"
    ).set_defaults(func=cmd_broker_sync)
    p = sub.add_parser("seed", help="create the demo fleet, owners, dealers and API keys")
    p.add_argument("--tractors", type=int, default=12)
    p.add_argument("--excavators", type=int, default=8)
    p.add_argument("--keys-file", help="also write the new demo keys to this JSON file")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("ingest", help="MQTT -> TimescaleDB ingest workers")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_ingest)
    sub.add_parser("api", help="serve the HTTP API").set_defaults(func=cmd_api)
    p = sub.add_parser("scheduler", help="run periodic jobs (one active scheduler at a time)")
    p.add_argument("--sweep-every-s", type=float, default=60.0)
    p.add_argument("--silence-every-s", type=float, default=300.0)
    p.set_defaults(func=cmd_scheduler)
    p = sub.add_parser(
        "reorder-chunks",
        help="rewrite finished telemetry chunks in (machine, time) order, oldest first, once",
    )
    p.add_argument("--max", type=int, help="chunks at most (default: the hourly job's)")
    p.set_defaults(func=cmd_reorder_chunks)
    sub.add_parser(
        "rollup", help="recompute the settled dirty hours of readings_hourly once (the job's run)"
    ).set_defaults(func=cmd_rollup)
    p = sub.add_parser("alerts", help="alert subscriptions and the outbox's delivery")
    alerts = p.add_subparsers(dest="alerts_command", required=True)
    p = alerts.add_parser("deliver", help="send the alerts due now, once (the scheduler's job)")
    p.set_defaults(func=cmd_alerts_deliver)
    p = alerts.add_parser("subscribe", help="an owner's or dealer's webhook or e-mail subscription")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", help="owner id or code")
    who.add_argument("--dealer", help="dealer id or code")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--webhook", help="http(s) URL to POST signed JSON to")
    how.add_argument("--email", help="address to mail")
    p.add_argument("--secret", help="webhook signing secret (default: $IRONLINK_WEBHOOK_SECRET)")
    p.add_argument("--kinds", help="comma-separated alert kinds (default: the audience's)")
    p.add_argument("--quiet", help="quiet hours HH:MM-HH:MM (critical alerts still go)")
    p.add_argument("--timezone", default="UTC", help="IANA zone of the quiet hours")
    p.set_defaults(func=cmd_alerts_subscribe)
    p = alerts.add_parser("list", help="every subscription")
    p.set_defaults(func=cmd_alerts_list)
    p = sub.add_parser("rules", help="rule sets in the database: load a new version, show them")
    rules = p.add_subparsers(dest="rules_command", required=True)
    p = rules.add_parser("load", help="validate a YAML/JSON rule file and make it the active set")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="rule file; its version must be above the newest")
    source.add_argument(
        "--shipped", action="store_true", help="the shipped rule set, if newer than the database's"
    )
    p.add_argument("--actor", default=None, help="recorded as loaded_by (default: cli:<user>)")
    p.set_defaults(func=cmd_rules_load)
    p = rules.add_parser("show", help="list stored rule sets and the active set's rules")
    p.set_defaults(func=cmd_rules_show)
    p = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    keys = p.add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser(
        "create",
        help="issue a bearer key; prints it once on stdout",
        description="owner keys need --owner; dispatcher keys take --dealer (else all dealers);"
        " admin keys take neither. Owners and dealers are given by id, code or (unique) name.",
    )
    p.add_argument("--role", required=True, choices=["owner", "dispatcher", "admin"])
    p.add_argument("--owner", help="owner id, code or name (owner keys)")
    p.add_argument("--dealer", help="dealer id, code or name (dispatcher keys; default all)")
    p.add_argument("--label", default="", help="free text shown by `keys list`")
    p.add_argument(
        "--rate-per-s", type=float, default=None, help="sustained requests/s (default: the API's)"
    )
    p.add_argument("--burst", type=int, default=None, help="requests allowed at once")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", help="keys without their secrets, oldest first")
    p.add_argument("--all", action="store_true", help="include revoked keys")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by id or prefix; it stops working at once")
    p.add_argument("key", help="key id, 12-character prefix, or the whole key")
    p.set_defaults(func=cmd_keys_revoke)
    p = sub.add_parser("simulate", help="simulate a fleet of controllers publishing over MQTT")
    p.add_argument("--tractors", type=int, default=12)
    p.add_argument("--excavators", type=int, default=8)
    p.add_argument("--speedup", type=float, default=720.0, help="simulated seconds per wall second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--scenario",
        default="default",
        help="run plan: 'default', 'demo' or a YAML file (faults, connectivity; see "
        "simulators/data/default_plan.yaml)",
    )
    p.add_argument(
        "--sample-s", type=float, default=60.0, help="simulated seconds between readings"
    )
    p.add_argument(
        "--history-h", type=float, default=24.0, help="simulated hours replayed up to now"
    )
    p.add_argument(
        "--start",
        default=None,
        help="fixed simulated start (ISO 8601 with zone); the run then ends after --history-h",
    )
    p.add_argument(
        "--off-report-s", type=float, default=600.0, help="reporting period of a parked machine"
    )
    p.add_argument("--truth", default=None, help="write ground-truth CSV files to this folder")
    p.add_argument("--duration", type=float, default=None, help="stop after this many wall seconds")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("anomaly", help="anomaly detectors: a NAB series, one machine on demand")
    anomaly = p.add_subparsers(dest="anomaly_command", required=True)
    p = anomaly.add_parser(
        "score", help="score a NAB-format CSV (timestamp,value); adds an anomaly_score column"
    )
    p.add_argument("input", help="CSV with header timestamp,value")
    p.add_argument("output", help="written: the same rows plus anomaly_score")
    p.set_defaults(func=cmd_anomaly_score)
    p = anomaly.add_parser(
        "machine", help="score one machine now against its same-model peers (nothing is written)"
    )
    p.add_argument("serial")
    p.add_argument("--hours", type=float, default=48.0, help="how far back to read")
    p.add_argument("--peers", type=int, default=40, help="same-model machines to compare with")
    p.set_defaults(func=cmd_anomaly_machine)
    p = sub.add_parser("demo", help="seed, then run simulator, ingest, scheduler and API together")
    p.add_argument(
        "--duration", type=float, default=None, help="stop by itself after this many seconds"
    )
    p.add_argument("--tractors", type=int, default=12)
    p.add_argument("--excavators", type=int, default=8)
    p.add_argument(
        "--alerts-port",
        type=int,
        default=0,
        help="port of the demo's webhook receiver on 127.0.0.1 (default: a free one)",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(os.environ)
    except SettingsError as exc:
        print(f"ironlink: bad settings: {exc}", file=sys.stderr)
        return 2
    logsetup.configure(settings.log_level)
    if unknown := unknown_keys(os.environ):
        log.warning("ignoring unknown settings (misspelt?): %s", ", ".join(unknown))
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
