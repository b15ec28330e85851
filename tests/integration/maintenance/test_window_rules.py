"""Window rules on readings in the database: thresholds through run_rules and the ingest hook,
silence through the scheduler's sweep, and the window query behind them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ironlink.db import make_pool
from maintenance.evaluate import (
    for_ingest,
    read_window,
    rules_after_ingest,
    run_rules,
    window_signals,
    window_span,
)
from maintenance.jobs import silence_sweep
from maintenance.rules.load import default_rules, parse
from maintenance.rules.model import Rule
from maintenance.rules.store import ActiveRules
from telemetry import reader
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Batch:
    machine_ids: set[int] = field(default_factory=set)


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    p = make_pool(db_url, min_size=1, max_size=2)
    yield p
    p.close()


def machine(conn: Conn) -> int:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    machine_id, _ = make_machine(conn, owner_id=owner, dealer_id=dealer)
    return machine_id


def report(
    conn: Conn,
    machine_id: int,
    *,
    start: datetime,
    every_s: float,
    coolant_c: list[float],
    rpm: float = 1500.0,
) -> datetime:
    """Readings every `every_s` from `start`, one per coolant value; machine_state follows the
    newest like ingest keeps it. Returns the newest reading's time."""
    seq = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM readings WHERE machine_id = %s", (machine_id,)
    ).fetchone()
    assert seq is not None
    ts = start
    for i, coolant in enumerate(coolant_c):
        ts = start + timedelta(seconds=i * every_s)
        conn.execute(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm, coolant_c, lat, lon,"
            " oil_kpa, battery_v, hyd_oil_c)"
            " VALUES (%s, %s, %s, %s, %s, %s, 52.1, 5.2, 400, 13.9, 60)",
            (machine_id, ts, int(seq[0]) + i + 1, 1200.0 + i / 120, rpm, coolant),  # type: ignore[call-overload]
        )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, engine_hours) VALUES (%s, %s, 1200)"
        " ON CONFLICT (machine_id) DO UPDATE SET ts = EXCLUDED.ts",
        (machine_id, ts),
    )
    return ts


def tickets(conn: Conn, machine_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT rule_key, kind, status, rule_set_version FROM tickets WHERE machine_id = %s"
        " ORDER BY id",
        (machine_id,),
    ).fetchall()


def test_coolant_above_105_for_3_minutes_opens_a_coolant_hot_ticket(conn: Conn) -> None:
    m = machine(conn)
    # Warm at 95 °C, then 107 °C for three minutes (readings every 30 s).
    newest = report(
        conn, m, start=NOW - timedelta(minutes=5), every_s=30, coolant_c=[95.0] * 4 + [107.0] * 7
    )
    run = run_rules(conn, rules=default_rules().rules, machine_ids=[m], now=newest)
    assert tickets(conn, m) == [("coolant-hot", "threshold", "open", None)]
    assert len(run.opened) == 1
    evidence = conn.execute("SELECT evidence -> 0 FROM tickets WHERE machine_id = %s", (m,))
    row = evidence.fetchone()
    assert row is not None
    assert row[0]["observed"] == 107.0  # type: ignore[index]
    assert row[0]["readings"] == 7  # type: ignore[index]


def test_coolant_above_105_for_less_than_the_hold_opens_nothing(conn: Conn) -> None:
    m = machine(conn)
    newest = report(conn, m, start=NOW, every_s=30, coolant_c=[95.0] * 4 + [107.0] * 3)
    run_rules(conn, rules=default_rules().rules, machine_ids=[m], now=newest)
    assert tickets(conn, m) == []


SWEEP_AND_INGEST = pytest.mark.parametrize(
    "rules",
    [default_rules().rules, for_ingest(default_rules().rules)],
    ids=["all rules (sweep)", "ingest hook's (thresholds read in two steps)"],
)


@SWEEP_AND_INGEST
def test_coolant_back_below_the_clearing_level_resolves_the_ticket(
    conn: Conn, rules: list[Rule]
) -> None:
    m = machine(conn)
    hot = report(conn, m, start=NOW, every_s=30, coolant_c=[107.0] * 7)
    run_rules(conn, rules=rules, machine_ids=[m], now=hot)
    warm = report(conn, m, start=hot + timedelta(seconds=30), every_s=30, coolant_c=[100.0])
    run = run_rules(conn, rules=rules, machine_ids=[m], now=warm)
    assert run.resolved == []  # 100 °C: between the clearing level and the limit
    cool = report(conn, m, start=warm + timedelta(seconds=30), every_s=30, coolant_c=[95.0])
    run = run_rules(conn, rules=rules, machine_ids=[m], now=cool)
    assert len(run.resolved) == 1
    assert tickets(conn, m) == [("coolant-hot", "threshold", "resolved", None)]


def test_the_ingest_hook_reads_minutes_of_readings_only_for_machines_a_threshold_could_change(
    conn: Conn,
) -> None:
    normal, hot, ticketed = machine(conn), machine(conn), machine(conn)
    report(conn, normal, start=NOW, every_s=30, coolant_c=[90.0] * 10)
    report(conn, hot, start=NOW, every_s=30, coolant_c=[90.0] * 9 + [107.0])
    # Back to normal with a coolant-hot ticket still open: its clear needs the span.
    report(conn, ticketed, start=NOW, every_s=30, coolant_c=[107.0] * 7)
    run_rules(conn, rules=default_rules().rules, machine_ids=[ticketed], now=NOW)
    report(conn, ticketed, start=NOW + timedelta(minutes=4), every_s=30, coolant_c=[100.0] * 3)
    rules = for_ingest(default_rules().rules)
    window = read_window(conn, rules=rules, machine_ids=[normal, hot, ticketed])
    assert window is not None
    assert sorted(set(window.machine_id.tolist())) == sorted([hot, ticketed])
    assert len(window) == 20  # their whole span; nothing of the machine working normally


def test_the_ingest_hook_runs_the_active_rule_set_and_records_its_version(conn: Conn) -> None:
    m = machine(conn)
    now = datetime.now(UTC)
    report(conn, m, start=now - timedelta(minutes=3), every_s=30, coolant_c=[107.0] * 7)
    rules_after_ingest(ActiveRules())(conn, Batch({m}))
    assert tickets(conn, m) == [("coolant-hot", "threshold", "open", default_rules().version)]


def test_the_ingest_hook_leaves_silence_to_the_sweep(conn: Conn) -> None:
    m = machine(conn)
    # A late upload of buffered readings measured two days ago, while the engine ran.
    report(conn, m, start=datetime.now(UTC) - timedelta(days=2), every_s=60, coolant_c=[90.0] * 3)
    rules_after_ingest(default_rules())(conn, Batch({m}))
    assert tickets(conn, m) == []


def test_a_machine_silent_for_25_hours_that_was_running_gets_a_silence_ticket(
    conn: Conn, pool: ConnectionPool
) -> None:
    silent, talking = machine(conn), machine(conn)
    now = datetime.now(UTC)
    report(
        conn, silent, start=now - timedelta(hours=25, minutes=5), every_s=60, coolant_c=[88.0] * 5
    )
    report(conn, talking, start=now - timedelta(minutes=5), every_s=60, coolant_c=[88.0] * 5)
    silence_sweep(pool, ActiveRules())
    assert tickets(conn, silent) == [("silent-24h", "silence", "open", default_rules().version)]
    assert tickets(conn, talking) == []


def test_a_silence_ticket_resolves_when_the_machine_reports_again(
    conn: Conn, pool: ConnectionPool
) -> None:
    m = machine(conn)
    now = datetime.now(UTC)
    report(conn, m, start=now - timedelta(hours=25), every_s=60, coolant_c=[88.0])
    silence_sweep(pool, default_rules())
    report(conn, m, start=now - timedelta(minutes=1), every_s=60, coolant_c=[88.0])
    silence_sweep(pool, default_rules())
    assert tickets(conn, m) == [("silent-24h", "silence", "resolved", default_rules().version)]


def test_a_parked_machine_that_said_offline_is_not_silent(conn: Conn, pool: ConnectionPool) -> None:
    m = machine(conn)
    report(
        conn, m, start=datetime.now(UTC) - timedelta(hours=25), every_s=60, coolant_c=[40.0], rpm=0
    )
    conn.execute(
        "UPDATE machine_state SET online = false, status_ts = ts WHERE machine_id = %s", (m,)
    )
    silence_sweep(pool, default_rules())
    assert tickets(conn, m) == []


def test_a_machine_silent_for_over_30_days_is_not_swept(conn: Conn, pool: ConnectionPool) -> None:
    m = machine(conn)
    report(conn, m, start=datetime.now(UTC) - timedelta(days=31), every_s=60, coolant_c=[88.0])
    silence_sweep(pool, default_rules())
    assert tickets(conn, m) == []


def test_the_window_reaches_back_from_each_machines_newest_reading(conn: Conn) -> None:
    recent, old = machine(conn), machine(conn)
    report(conn, recent, start=NOW - timedelta(minutes=20), every_s=300, coolant_c=[1, 2, 3, 4, 5])
    report(conn, old, start=NOW - timedelta(days=3), every_s=600, coolant_c=[6, 7, 8])
    rows = reader.recent_readings(
        conn, machine_ids=[recent, old], span=timedelta(minutes=15), signals=["coolant_c", "rpm"]
    )
    # Sorted by (machine_id, ts); values rise with ts, so the expected order is the sorted one.
    assert [(r[0], r[2]) for r in rows] == sorted(
        [(recent, 2.0), (recent, 3.0), (recent, 4.0), (recent, 5.0), (old, 7.0), (old, 8.0)]
    )
    assert all(r[3] == 1500.0 for r in rows)
    newest = reader.recent_readings(
        conn, machine_ids=[recent, old], span=timedelta(0), signals=["coolant_c"]
    )
    assert sorted((r[0], r[2]) for r in newest) == sorted([(recent, 5.0), (old, 8.0)])
    with pytest.raises(ValueError, match="coolant_f"):
        reader.recent_readings(conn, machine_ids=[recent], span=timedelta(0), signals=["coolant_f"])


def test_machines_with_newest_readings_a_year_apart_keep_every_row_of_their_spans(
    conn: Conn,
) -> None:
    # current and near are read by one query bounded by both (their newest are 2 h apart), parked
    # by another (a year back); silent has no reading at all.
    current, near, parked, silent = machine(conn), machine(conn), machine(conn), machine(conn)
    report(conn, current, start=NOW - timedelta(minutes=20), every_s=300, coolant_c=[1, 2, 3, 4, 5])
    report(conn, near, start=NOW - timedelta(minutes=130), every_s=300, coolant_c=[11, 12, 13])
    report(conn, parked, start=NOW - timedelta(days=400), every_s=600, coolant_c=[21, 22])
    rows = reader.recent_readings(
        conn,
        machine_ids=[silent, parked, near, current],
        span=timedelta(minutes=15),
        signals=["coolant_c"],
    )
    assert [(r[0], r[2]) for r in rows] == [
        *((current, c) for c in (2.0, 3.0, 4.0, 5.0)),
        *((near, c) for c in (11.0, 12.0, 13.0)),
        *((parked, c) for c in (21.0, 22.0)),
    ]


def test_window_span_and_signals_follow_the_rules() -> None:
    rules = default_rules().rules
    assert window_span([r for r in rules if r.key.startswith("svc-")]) is None
    assert window_span([r for r in rules if r.key == "silent-24h"]) == timedelta(0)
    assert window_span(rules) == timedelta(minutes=15)  # battery-low: 600 s hold + 300 s gap
    long_hold = parse(
        "version: 9\nrules:\n  - {key: hot-1, kind: threshold, signal: hyd_oil_c, op: gt,"
        " value: 90, hold_s: 1800, clear_below: 85}\n"
    ).rules
    assert window_span(long_hold) == timedelta(seconds=2100)
    assert window_signals(rules) == [
        "battery_v",
        "coolant_c",
        "engine_hours",
        "hyd_oil_c",
        "lat",
        "lon",
        "oil_kpa",
        "rpm",
    ]
