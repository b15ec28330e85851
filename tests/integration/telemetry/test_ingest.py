from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ironlink.settings import Settings
from telemetry.wire import Channel, Dm1, Dtc, Kind, Reading, encode, topic
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import publish, running_ingest
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.usefixtures("broker")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def count(conn: psycopg.Connection[tuple[object, ...]], query: str, *args: object) -> int:
    row = conn.execute(query, args).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


# Other machines' retained status messages on the shared broker reach every new subscriber and are
# rightly rejected as unknown here; each test looks only at its own machine's topics.
OWN_REJECTS = "SELECT reason, payload FROM rejected WHERE topic LIKE %s ORDER BY id"


def rejected(conn: psycopg.Connection[tuple[object, ...]], serial: str) -> int:
    return count(conn, "SELECT count(*) FROM rejected WHERE topic LIKE %s", f"%/{serial}/%")


@pytest.fixture
def tractor(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, str]:
    dealer = make_dealer(conn)
    return make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)


def readings(seqs: range, *, start: datetime) -> list[Reading]:
    return [
        Reading(seq=s, ts=start + timedelta(seconds=s), engine_hours=100 + s / 3600) for s in seqs
    ]


def test_readings_resends_and_bad_messages(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    machine_id, serial = tractor
    t = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)
    start = datetime.now(UTC) - timedelta(hours=1)
    batch = readings(range(1, 51), start=start)
    messages = [(t, encode(r)) for r in batch[:30]]
    messages.append((t, b"{not json"))  # a bad message between good ones
    messages.append((t, encode(batch[30:])))  # a store-and-forward backlog as one message
    messages.extend((t, encode(r)) for r in batch[20:25])  # resends after a reconnect
    messages.append(
        (
            topic(Kind.TRACTOR, serial, Channel.FAULTS),
            encode(Dm1(seq=51, ts=start, active=[Dtc(spn=110, fmi=0, oc=1)])),
        )
    )
    with running_ingest(settings) as worker:
        publish(settings, serial, messages)
        wait_for(
            lambda: (
                count(conn, "SELECT count(*) FROM readings") == 50
                and rejected(conn, serial) == 1
                and count(conn, "SELECT count(*) FROM faults") == 1
            )
        )
        time.sleep(0.3)  # anything still in flight would land now
    assert (
        count(conn, "SELECT count(DISTINCT seq) FROM readings WHERE machine_id = %s", machine_id)
        == 50
    )
    assert count(conn, "SELECT count(*) FROM readings") == 50
    assert conn.execute(OWN_REJECTS, (f"%/{serial}/%",)).fetchall() == [("not_json", b"{not json")]
    assert worker.stats.duplicates == 5
    state = conn.execute(
        "SELECT seq, active_faults FROM machine_state WHERE machine_id = %s", (machine_id,)
    ).fetchone()
    assert state == (50, [{"spn": 110, "fmi": 0, "oc": 1, "lamp": "amber"}])


def test_messages_sent_while_ingest_is_down_arrive_after_restart(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    _, serial = tractor
    t = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)
    start = datetime.now(UTC) - timedelta(hours=1)
    with running_ingest(settings):
        publish(settings, serial, [(t, encode(r)) for r in readings(range(1, 11), start=start)])
        wait_for(lambda: count(conn, "SELECT count(*) FROM readings") == 10)
    # The persistent session keeps the shared subscription's queue while no worker is connected.
    publish(settings, serial, [(t, encode(r)) for r in readings(range(11, 41), start=start)])
    with running_ingest(settings) as worker:
        wait_for(lambda: count(conn, "SELECT count(*) FROM readings") == 40)
        time.sleep(0.3)
    assert count(conn, "SELECT count(*) FROM readings") == 40
    assert (
        worker.stats.duplicates == 0
    )  # what was acknowledged before the restart is not redelivered


def test_unknown_serial_and_wrong_kind_are_rejected_not_stored(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    _, serial = tractor
    start = datetime.now(UTC) - timedelta(minutes=5)
    payload = encode(readings(range(1, 2), start=start)[0])
    with running_ingest(settings):
        # The ACL lets a machine publish only under its own serial, whatever the kind level says.
        publish(
            settings,
            serial,
            [
                (topic(Kind.EXCAVATOR, serial, Channel.TELEMETRY), payload),
                (topic(Kind.TRACTOR, serial, Channel.TELEMETRY), payload),
            ],
        )
        wait_for(
            lambda: (
                rejected(conn, serial) == 1 and count(conn, "SELECT count(*) FROM readings") == 1
            )
        )
    assert [r[0] for r in conn.execute(OWN_REJECTS, (f"%/{serial}/%",))] == ["kind_mismatch"]


def test_engine_hours_going_backwards_are_rejected_and_kept(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    machine_id, serial = tractor
    t = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)
    start = datetime.now(UTC) - timedelta(hours=2)
    good = Reading(seq=1, ts=start, engine_hours=1500.0)
    reset = Reading(seq=2, ts=start + timedelta(minutes=1), engine_hours=3.0)  # a swapped ECU
    later = Reading(seq=3, ts=start + timedelta(minutes=2), engine_hours=1500.1)
    with running_ingest(settings):
        publish(settings, serial, [(t, encode(good))])
        wait_for(
            lambda: (
                count(conn, "SELECT count(*) FROM readings WHERE machine_id = %s", machine_id) == 1
            )
        )
        publish(settings, serial, [(t, encode(reset)), (t, encode(later))])
        wait_for(
            lambda: (
                count(conn, "SELECT count(*) FROM readings WHERE machine_id = %s", machine_id) == 2
            )
        )
        wait_for(lambda: rejected(conn, serial) == 1)
    seqs = conn.execute(
        "SELECT seq FROM readings WHERE machine_id = %s ORDER BY seq", (machine_id,)
    )
    assert [s for (s,) in seqs] == [1, 3]
    ((reason, payload),) = conn.execute(OWN_REJECTS, (f"%/{serial}/%",)).fetchall()
    assert reason == "hours_backwards"
    assert b'"engine_hours":3.0' in bytes(payload)  # type: ignore[arg-type]


def test_metrics_count_what_the_worker_did(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    _, serial = tractor
    t = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = datetime.now(UTC) - timedelta(minutes=30)  # ages between 900 s and 3600 s
    messages = [(t, encode(r)) for r in readings(range(1, 21), start=start)]
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> dict[str, float]:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("ironlink_")
        }

    stored = 'ironlink_ingest_stored_total{kind="reading"}'
    with running_ingest(settings.replace(metrics_port=port), serve_metrics=True):
        publish(settings, serial, [*messages, (t, b"not json"), messages[0]])
        # Other tests' retained statuses arrive too; wait for this machine's 22 messages.
        wait_for(lambda: scrape().get(stored) == 20 and scrape().get(DUPLICATES) == 1)
        values = scrape()
    assert values['ironlink_ingest_rejected_total{reason="not_json"}'] == 1
    assert values["ironlink_ingest_received_total"] >= 22
    assert values["ironlink_ingest_commit_seconds_count"] >= 1
    # One age per machine and batch: this machine's newest reading lags 900-3600 s each time.
    ages = values["ironlink_ingest_reading_age_seconds_count"]
    assert ages >= 1
    assert values['ironlink_ingest_reading_age_seconds_bucket{le="3600.0"}'] == ages
    assert values['ironlink_ingest_reading_age_seconds_bucket{le="900.0"}'] == 0


DUPLICATES = "ironlink_ingest_duplicates_total"


def test_a_database_outage_holds_acknowledgements_and_loses_nothing(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    machine_id, serial = tractor
    t = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)
    info = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    proxy = TcpProxy(str(info.get("host", "127.0.0.1")), int(info.get("port", 5432)))  # type: ignore[arg-type]
    url = psycopg.conninfo.make_conninfo(settings.database_url, host="127.0.0.1", port=proxy.port)
    stored = "SELECT count(*), count(DISTINCT seq) FROM readings WHERE machine_id = %s"
    start = datetime.now(UTC) - timedelta(minutes=30)
    batch = [(t, encode(r)) for r in readings(range(1, 101), start=start)]
    try:
        with running_ingest(settings.replace(database_url=url)) as worker:
            publish(settings, serial, batch[:50])
            wait_for(lambda: count(conn, stored, machine_id) == 50)
            proxy.cut()
            publish(settings, serial, batch[50:])  # the broker takes them; ingest cannot store
            time.sleep(2.0)
            assert count(conn, stored, machine_id) == 50
            proxy.restore()
            wait_for(lambda: count(conn, stored, machine_id) == 100, timeout_s=40)
            assert worker.metrics.db_retries._value.get() >= 1  # type: ignore[attr-defined]
    finally:
        proxy.close()
    assert conn.execute(stored, (machine_id,)).fetchone() == (100, 100)
