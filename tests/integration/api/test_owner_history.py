"""Owner API on the real database: downsampled telemetry and fault history of one machine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
MINUTES = 60


def rpm_at(i: int) -> float:
    return i * 10.0


def coolant_at(i: int) -> float | None:
    return None if i == 0 else 80.0 + i % 10


@dataclass
class World:
    alice: str
    bob_serial: str
    serial: str
    machine_id: int


@pytest.fixture
def world(conn: Conn) -> World:
    dealer = make_dealer(conn)
    alice_owner = make_owner(conn, dealer_id=dealer)
    bob_owner = make_owner(conn, dealer_id=dealer)
    machine_id, serial = make_machine(conn, owner_id=alice_owner, dealer_id=dealer)
    _, bob_serial = make_machine(conn, owner_id=bob_owner, dealer_id=dealer)
    # One reading a minute for an hour from T0; coolant missing from the first.
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm, coolant_c)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (machine_id, T0 + timedelta(minutes=i), i, 100 + i / 60, rpm_at(i), coolant_at(i))
                for i in range(MINUTES)
            ],
        )
    return World(
        alice=create_key(conn, role=Role.OWNER, owner_id=alice_owner),
        bob_serial=bob_serial,
        serial=serial,
        machine_id=machine_id,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def get(client: TestClient, url: str, key: str) -> tuple[int, Any]:
    response = client.get(url, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json()


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def telemetry(world: World, query: str) -> str:
    return f"/v1/owner/machines/{world.serial}/telemetry?{query}"


def test_bucket_averages_min_and_max_equal_hand_computed_ones(
    client: TestClient, world: World
) -> None:
    query = "from=2026-03-01T00:00:00Z&to=2026-03-01T01:00:00Z&bucket=15m&signals=rpm,coolant_c"
    status, body = get(client, telemetry(world, query), world.alice)
    assert status == 200, body
    assert body["bucket"] == "15m"
    assert body["bucket_s"] == 900
    assert body["buckets"] == [f"2026-03-01T00:{m:02d}:00Z" for m in (0, 15, 30, 45)]
    assert body["readings"] == [15, 15, 15, 15]
    rpm, coolant = body["series"]
    assert (rpm["signal"], rpm["unit"], coolant["unit"]) == ("rpm", "1/min", "degC")
    groups = [range(k * 15, k * 15 + 15) for k in range(4)]
    assert rpm["avg"] == pytest.approx([mean([rpm_at(i) for i in g]) for g in groups])
    assert rpm["min"] == [rpm_at(g[0]) for g in groups]
    assert rpm["max"] == [rpm_at(g[-1]) for g in groups]
    # A reading without the signal counts for the bucket but not for the signal's average.
    expected = [mean([c for i in g if (c := coolant_at(i)) is not None]) for g in groups]
    assert coolant["avg"] == pytest.approx(expected)
    assert (coolant["min"], coolant["max"]) == ([80.0] * 4, [89.0] * 4)


def test_range_edges_cut_readings_and_answer_in_utc(client: TestClient, world: World) -> None:
    # 01:10 in UTC+1 is 00:10 UTC; `to` is exclusive.
    query = "from=2026-03-01T01:10:00%2B01:00&to=2026-03-01T00:20:00Z&bucket=15m&signals=rpm"
    status, body = get(client, telemetry(world, query), world.alice)
    assert status == 200, body
    assert body["from"] == "2026-03-01T00:10:00Z"
    assert body["buckets"] == ["2026-03-01T00:00:00Z", "2026-03-01T00:15:00Z"]
    assert body["readings"] == [5, 5]  # minutes 10-14 and 15-19
    assert body["series"][0]["avg"] == pytest.approx([120.0, 170.0])


def test_default_bucket_is_the_smallest_that_fits_and_empty_buckets_are_left_out(
    client: TestClient, world: World
) -> None:
    query = "from=2026-02-28T12:00:00Z&to=2026-03-01T12:00:00Z"
    status, body = get(client, telemetry(world, query), world.alice)
    assert status == 200, body
    assert body["bucket"] == "1m"  # 30 s would be 2,880 buckets
    assert len(body["buckets"]) == MINUTES  # only the hour with readings
    assert [s["signal"] for s in body["series"]] == [
        "engine_hours",
        "rpm",
        "load_pct",
        "coolant_c",
        "fuel_pct",
    ]
    assert body["series"][2]["avg"] == [None] * MINUTES  # load_pct never reported


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("signals=rpm,nope", "unknown signal 'nope'"),
        ("signals=boom_cycles", "a tractor does not report 'boom_cycles'"),
        (
            "from=2026-03-01T00:00:00Z&to=2026-03-01T01:00:00Z&bucket=1s",
            "bucket 1s gives 3600 buckets from 2026-03-01T00:00:00+00:00 to"
            " 2026-03-01T01:00:00+00:00; at most 2000: use a bucket of at least 2s",
        ),
        ("bucket=5x", "bucket '5x' is not a whole number of s, m, h or d"),
        ("from=2026-03-01T01:00:00Z&to=2026-03-01T00:00:00Z", "must be before to"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "at most 366 days"),
        ("from=2026-03-01T00:00:00", "has no time zone"),
    ],
)
def test_bad_parameters_are_422_with_the_reason(
    client: TestClient, world: World, query: str, reason: str
) -> None:
    status, body = get(client, telemetry(world, query), world.alice)
    assert status == 422
    assert reason in body["detail"]


def test_another_owners_machine_is_404_for_telemetry_and_faults(
    client: TestClient, world: World
) -> None:
    for path in ("telemetry", "faults", "service-forecast"):
        status, body = get(client, f"/v1/owner/machines/{world.bob_serial}/{path}", world.alice)
        assert status == 404
        assert world.bob_serial in body["detail"]  # the serial asked for, nothing more


def add_episode(
    conn: Conn, machine_id: int, spn: int, fmi: int, onset_min: int, *, cleared: bool
) -> None:
    onset = T0 + timedelta(minutes=onset_min)
    conn.execute(
        "INSERT INTO fault_episodes (machine_id, spn, fmi, onset_ts, cleared_ts, last_seen_ts,"
        " max_oc, lamp, reports) VALUES (%s, %s, %s, %s, %s, %s, 2, 'amber', 3)",
        (machine_id, spn, fmi, onset, onset + timedelta(minutes=5) if cleared else None, onset),
    )


def test_fault_history_pages_newest_first_and_filters(
    conn: Conn, client: TestClient, world: World
) -> None:
    add_episode(conn, world.machine_id, 110, 0, 0, cleared=True)
    add_episode(conn, world.machine_id, 100, 1, 30, cleared=True)
    add_episode(conn, world.machine_id, 97, 15, 30, cleared=False)  # same onset: spn orders
    add_episode(conn, world.machine_id, 110, 16, 50, cleared=False)
    base = f"/v1/owner/machines/{world.serial}/faults"
    seen: list[tuple[int, int]] = []
    url = f"{base}?limit=3"
    while True:
        status, page = get(client, url, world.alice)
        assert status == 200, page
        seen.extend((f["spn"], f["fmi"]) for f in page["items"])
        if page["next_before"] is None:
            break
        url = f"{base}?limit=3&before={page['next_before']}"
    assert seen == [(110, 16), (100, 1), (97, 15), (110, 0)]

    status, page = get(client, f"{base}?active=true", world.alice)
    assert [(f["spn"], f["active"], f["cleared_at"]) for f in page["items"]] == [
        (110, True, None),
        (97, True, None),
    ]
    status, page = get(client, f"{base}?spn=110&active=false", world.alice)
    [only] = page["items"]
    assert (only["fmi"], only["raised_at"], only["cleared_at"]) == (
        0,
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:05:00Z",
    )
    status, body = get(client, f"{base}?before=garbage", world.alice)
    assert status == 422
    assert "next_before" in body["detail"]
