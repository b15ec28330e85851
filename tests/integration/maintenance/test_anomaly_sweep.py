"""The fleet anomaly sweep on readings in TimescaleDB: per-minute aggregates read with time_bucket,
the detector's alarms as tickets (one per machine and kind, raised in priority when sustained),
its state saved and resumed, and one machine scored on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from maintenance.anomaly.findings import minute_time
from maintenance.anomaly.sweep import FleetSweeper, load_state, read_frame, score_machine
from tests.anomaly_fleets import DAY, START, synthetic_fleet
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
SIGNALS = ("coolant_c", "hyd_oil_c", "oil_kpa", "battery_v", "hyd_bar", "fuel_lph")


def write_fleet(conn: Conn, machines: int, days: int, *, fault: str | None) -> list[int]:
    """The synthetic fleet's minutes as readings: two readings a minute while running, one every
    10 minutes while off (as controllers report)."""
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    ids = [make_machine(conn, owner_id=owner, dealer_id=dealer)[0] for _ in range(machines)]
    frame = synthetic_fleet(machines, days, seed=4, fault=fault)
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY readings (machine_id, ts, seq, engine_hours, rpm, load_pct, "
            + ", ".join(SIGNALS)
            + ") FROM STDIN"
        ) as copy,
    ):
        for m, machine_id in enumerate(ids):
            seq = 0
            hours = 1000.0
            for t in range(frame.minutes):
                minute = minute_time(START + t)
                on = np.isfinite(frame.running[m, t])
                if on:
                    hours += 1 / 60
                    for second in (10, 40):
                        seq += 1
                        copy.write_row(
                            (
                                machine_id,
                                minute + timedelta(seconds=second),
                                seq,
                                hours,
                                float(frame.rpm[m, t]),
                                float(frame.load[m, t]),
                                *(float(v) for v in frame.values[m, t]),
                            )
                        )
                elif t % 10 == 0:
                    seq += 1
                    row = (machine_id, minute, seq, hours, 0.0, 0.0, *([None] * len(SIGNALS)))
                    copy.write_row(row)
    conn.commit()
    return ids


def sweep_through(conn: Conn, sweeper: FleetSweeper, start: datetime, end: datetime) -> None:
    now = start
    while now <= end:
        sweeper.run(conn, now=now)
        conn.commit()
        now += timedelta(minutes=60)


def test_read_frame_aggregates_minutes_like_the_detector_expects(conn: Conn) -> None:
    ids = write_fleet(conn, 3, 1, fault=None)
    since = minute_time(START + 100)
    frame = read_frame(
        conn, since=since, until=since + timedelta(minutes=30), now=since + timedelta(days=1)
    )
    assert frame is not None
    assert frame.machine_ids.tolist() == ids
    assert frame.minutes == 30
    expected = synthetic_fleet(3, 1, seed=4)
    np.testing.assert_allclose(frame.values, expected.values[:, 100:130], rtol=1e-6)
    np.testing.assert_allclose(frame.load, expected.load[:, 100:130], rtol=1e-6)
    assert np.all(frame.running == 1.0)
    # A minute is complete once SETTLE old: the watermark stops short of `now` otherwise.
    recent = read_frame(
        conn, since=since, until=since + timedelta(minutes=30), now=since + timedelta(minutes=20)
    )
    assert recent is not None
    assert recent.valid_through.max() < START + 100 + 20


def test_a_developing_fault_opens_one_ticket_raised_when_sustained(conn: Conn) -> None:
    ids = write_fleet(conn, 10, 4, fault="step")
    sweeper = FleetSweeper()
    begin = minute_time(START) + timedelta(minutes=61)
    sweep_through(conn, sweeper, begin, minute_time(START + 4 * DAY) + timedelta(minutes=3))

    tickets = conn.execute(
        "SELECT machine_id, rule_key, kind, priority, status, evidence FROM tickets"
    ).fetchall()
    assert [(t[0], t[1], t[2]) for t in tickets] == [(ids[0], "anomaly:coolant_c", "anomaly")]
    _, _, _, priority, status, evidence = tickets[0]
    assert priority == "normal"  # opened LOW, raised when the episode was sustained
    assert status == "open"
    events = [e["event"] for e in evidence]  # type: ignore[attr-defined, union-attr]
    assert events[:2] == ["raised", "sustained"]
    first = evidence[0]  # type: ignore[index]
    assert first["signal"] == "coolant_c"
    assert first["observed"] > first["expected"] + 3.0
    kinds = [
        r[0]
        for r in conn.execute(
            "SELECT kind FROM ticket_events WHERE ticket_id = (SELECT id FROM tickets) ORDER BY id"
        ).fetchall()
    ]
    assert "opened" in kinds
    assert "escalated" in kinds


def test_the_state_is_saved_and_a_restarted_sweeper_resumes(conn: Conn) -> None:
    write_fleet(conn, 6, 2, fault=None)
    first = FleetSweeper()
    end = minute_time(START + 2 * DAY) + timedelta(minutes=3)
    sweep_through(conn, first, minute_time(START) + timedelta(minutes=61), end)
    saved = load_state(conn, name=first.name)
    assert saved is not None
    assert first.state is not None
    assert saved.rows == first.state.rows
    # The saved cursors are at most SAVE_EVERY behind; a new sweeper continues from them and does
    # not process a minute twice (its cursors only move forward).
    second = FleetSweeper()
    result = second.run(conn, now=end + timedelta(minutes=5))
    assert second.state is not None
    assert (second.state.cursor >= saved.cursor).all()
    assert result.minutes <= 75


def test_one_machine_is_scored_on_demand_against_its_peers(conn: Conn) -> None:
    ids = write_fleet(conn, 10, 4, fault="step")
    now = minute_time(START + 4 * DAY) + timedelta(minutes=3)
    report = score_machine(conn, ids[0], now=now, hours=4 * DAY / 60)
    assert report.peers == 9
    assert any(e.kind == "raised" and e.signal == "coolant_c" for e in report.events)
    coolant = report.latest["coolant_c"]
    assert coolant["observed"] is not None
    assert coolant["expected"] is not None
    assert coolant["observed"] > coolant["expected"] + 3.0
    healthy = score_machine(conn, ids[1], now=now, hours=4 * DAY / 60)
    assert [e for e in healthy.events if e.kind == "raised"] == []
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)  # nothing written


def test_a_sweep_without_readings_does_nothing(conn: Conn) -> None:
    result = FleetSweeper().run(conn, now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert (result.machines, result.minutes, result.events) == (0, 0, [])
