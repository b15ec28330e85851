from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from telemetry import store
from telemetry.wire import Dm1, Dtc, Lamp, Reading
from tests.factories import make_dealer, make_machine, make_owner

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def machine(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    dealer = make_dealer(conn)
    return make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)[0]


def reading(seq: int, *, minutes: int, hours: float, coolant: float = 80.0) -> Reading:
    return Reading(
        seq=seq, ts=T0 + timedelta(minutes=minutes), engine_hours=hours, coolant_c=coolant, lat=52.0
    )


def write(conn: psycopg.Connection[tuple[object, ...]], **kw: object) -> store.BatchResult:
    store.prepare(conn)
    with conn.transaction():
        return store.write_batch(conn, **{"readings": [], "reports": [], **kw})  # type: ignore[arg-type]


def test_a_resent_reading_is_stored_once(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    m = machine(conn)
    first = write(
        conn,
        readings=[(m, reading(1, minutes=0, hours=10.0)), (m, reading(2, minutes=1, hours=10.1))],
    )
    again = write(
        conn,
        readings=[
            (m, reading(2, minutes=1, hours=10.1)),
            (m, reading(2, minutes=1, hours=10.1)),
            (m, reading(3, minutes=2, hours=10.2)),
        ],
    )
    assert (first.readings_stored, first.duplicates) == (2, 0)
    assert (again.readings_stored, again.duplicates) == (1, 2)
    seqs = [
        r[0]
        for r in conn.execute("SELECT seq FROM readings WHERE machine_id = %s ORDER BY seq", (m,))
    ]
    assert seqs == [1, 2, 3]


def test_late_reading_does_not_move_state_backwards(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    m = machine(conn)
    write(conn, readings=[(m, reading(10, minutes=60, hours=20.0, coolant=90.0))])
    write(
        conn, readings=[(m, reading(5, minutes=30, hours=19.5, coolant=70.0))]
    )  # backlog after a gap
    state = conn.execute(
        "SELECT seq, engine_hours, coolant_c FROM machine_state WHERE machine_id = %s", (m,)
    ).fetchone()
    assert state == (10, 20.0, 90.0)
    assert conn.execute("SELECT count(*) FROM readings WHERE machine_id = %s", (m,)).fetchone() == (
        2,
    )


def test_state_takes_the_newest_reading_within_a_batch(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    m = machine(conn)
    write(
        conn,
        readings=[(m, reading(3, minutes=3, hours=3.0)), (m, reading(1, minutes=1, hours=1.0))],
    )
    assert conn.execute("SELECT seq FROM machine_state WHERE machine_id = %s", (m,)).fetchone() == (
        3,
    )


def test_dm1_report_stores_each_dtc_and_the_active_list(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    m = machine(conn)
    report = Dm1(
        seq=7, ts=T0, active=[Dtc(spn=110, fmi=0, oc=2, lamp=Lamp.RED), Dtc(spn=97, fmi=16)]
    )
    result = write(conn, reports=[(m, report)])
    cleared = Dm1(seq=9, ts=T0 + timedelta(minutes=5), active=[])
    write(conn, reports=[(m, cleared), (m, report)])  # the resend of seq 7 is absorbed
    rows = conn.execute(
        "SELECT spn, fmi, oc, lamp FROM faults WHERE machine_id = %s ORDER BY spn", (m,)
    ).fetchall()
    active = conn.execute(
        "SELECT active_faults FROM machine_state WHERE machine_id = %s", (m,)
    ).fetchone()
    assert result.fault_rows_stored == 2
    assert rows == [(97, 16, 1, "amber"), (110, 0, 2, "red")]
    assert active == ([],)


def test_rejected_messages_are_kept_with_their_bytes(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    bad = store.RejectedMessage(
        "ironlink/v1/tractor/X/telemetry", b"\x00\xffnot json", "not_json", "detail"
    )
    write(conn, rejected=[bad])
    row = conn.execute("SELECT topic, payload, reason FROM rejected").fetchone()
    assert row == ("ironlink/v1/tractor/X/telemetry", b"\x00\xffnot json", "not_json")


def dm1(seq: int, minutes: int, *codes: tuple[int, int, int]) -> Dm1:
    return Dm1(
        seq=seq,
        ts=T0 + timedelta(minutes=minutes),
        active=[Dtc(spn=s, fmi=f, oc=oc, lamp=Lamp.AMBER) for s, f, oc in codes],
    )


EPISODE_COLUMNS = "spn, fmi, onset_ts, cleared_ts, max_oc, reports"


def stored_episodes(
    conn: psycopg.Connection[tuple[object, ...]], m: int
) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT {EPISODE_COLUMNS} FROM fault_episodes WHERE machine_id = %s ORDER BY onset_ts",
        (m,),
    ).fetchall()


def test_dm1_reports_become_episodes_whatever_order_they_arrive_in(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    reports = [
        dm1(1, 0, (110, 16, 1)),
        dm1(2, 10, (110, 16, 1), (97, 16, 1)),
        dm1(3, 20, (97, 16, 1)),  # 110/16 cleared
        dm1(4, 30),  # everything cleared: an empty list, still stored
        dm1(5, 40, (110, 16, 2)),  # back again, still active
    ]
    in_order, shuffled = machine(conn), machine(conn)
    for r in reports:
        write(conn, reports=[(in_order, r)])
    for batch in ([reports[4], reports[1]], [reports[3]], [reports[0], reports[2], reports[2]]):
        write(conn, reports=[(shuffled, r) for r in batch])

    expected = [
        (110, 16, T0, T0 + timedelta(minutes=20), 1, 2),
        (97, 16, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30), 1, 2),
        (110, 16, T0 + timedelta(minutes=40), None, 2, 1),
    ]
    assert stored_episodes(conn, in_order) == expected
    assert stored_episodes(conn, shuffled) == expected
    for m in (in_order, shuffled):
        seqs = conn.execute(
            "SELECT seq FROM dm1_reports WHERE machine_id = %s ORDER BY seq", (m,)
        ).fetchall()
        assert [s for (s,) in seqs] == [1, 2, 3, 4, 5]  # each once, the empty list included
