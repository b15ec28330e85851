"""The ISO 15143-3 interface on the real database: scoping, paging, time series, JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from api.iso15143.documents import NAMESPACE
from ironlink.settings import Settings
from telemetry.wire import Kind
from tests.factories import make_dealer, make_machine, make_owner

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
PIN = "1RW6155MR00000042"
Conn = psycopg.Connection[tuple[object, ...]]


@dataclass
class World:
    keys: dict[str, str]
    serials: dict[str, str]
    machine_ids: dict[str, int]


def add_readings(conn: Conn, machine_id: int, *, count: int, every_s: int = 60) -> None:
    """`count` readings from T0 one minute apart; the engine runs except during minutes 10-19."""
    conn.execute(
        """
        INSERT INTO readings (machine_id, ts, seq, engine_hours, idle_hours, rpm, fuel_pct,
                              def_pct, lat, lon)
        SELECT %(m)s, %(t0)s + n * make_interval(secs => %(every)s), n, 100 + n / 60.0,
               10 + n / 600.0, CASE WHEN n BETWEEN 10 AND 19 THEN 0 ELSE 1500 END,
               90 - n / 10.0, 50, 52.0 + n / 1000.0, -7.0
        FROM generate_series(0, %(count)s - 1) n
        """,
        {"m": machine_id, "t0": T0, "every": every_s, "count": count},
    )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours)"
        " SELECT machine_id, ts, seq, engine_hours FROM readings WHERE machine_id = %(m)s"
        " ORDER BY ts DESC LIMIT 1",
        {"m": machine_id},
    )


@pytest.fixture
def world(conn: Conn) -> World:
    dealer_a, dealer_b = make_dealer(conn), make_dealer(conn)
    alice, bob = make_owner(conn, dealer_id=dealer_a), make_owner(conn, dealer_id=dealer_b)
    a_id, a_serial = make_machine(conn, owner_id=alice, dealer_id=dealer_a)
    b_id, b_serial = make_machine(conn, owner_id=bob, dealer_id=dealer_b, kind=Kind.EXCAVATOR)
    conn.execute("UPDATE machines SET pin = %s WHERE id = %s", (PIN, a_id))
    add_readings(conn, a_id, count=250)
    add_readings(conn, b_id, count=5)
    episode = (
        "INSERT INTO fault_episodes (machine_id, spn, fmi, onset_ts, cleared_ts, last_seen_ts,"
        " max_oc, lamp, reports) VALUES (%s, %s, %s, %s, %s, %s, 1, %s, 2)"
    )
    # One onset inside the queried day, one the day before (cleared at T0): only the first counts.
    onset = T0 + timedelta(hours=1)
    conn.execute(episode, (a_id, 110, 0, onset, None, onset, "red"))
    conn.execute(episode, (a_id, 100, 1, T0 - timedelta(days=1), T0, T0, "amber"))
    keys = {
        "alice": create_key(conn, role=Role.OWNER, owner_id=alice),
        "bob": create_key(conn, role=Role.OWNER, owner_id=bob),
        "dealer_b": create_key(conn, role=Role.DISPATCHER, dealer_id=dealer_b),
        "admin": create_key(conn, role=Role.ADMIN),
    }
    return World(keys, {"alice": a_serial, "bob": b_serial}, {"alice": a_id, "bob": b_id})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def get(client: TestClient, path: str, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(path, headers=headers)
    return response.status_code, response.json()


def serials(body: dict[str, object]) -> list[str]:
    return [e["EquipmentHeader"]["EquipmentID"] for e in body["Equipment"]]  # type: ignore[attr-defined]


def rels(body: dict[str, object]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["Links"]}  # type: ignore[attr-defined]


def test_owner_fleet_snapshot_has_only_their_machine_with_standard_elements(
    client: TestClient, world: World
) -> None:
    status, body = get(client, "/iso15143/Fleet/1", world.keys["alice"])
    assert status == 200
    assert body["version"] == "1"
    assert str(body["snapshotTime"]).endswith("Z")
    assert serials(body) == [world.serials["alice"]]
    assert rels(body) == {
        "self": "http://testserver/iso15143/Fleet/1",
        "last": "http://testserver/iso15143/Fleet/1",
    }
    machine = body["Equipment"][0]  # type: ignore[index]
    newest = "2024-05-01T10:09:00Z"  # reading 249
    assert machine["EquipmentHeader"] == {
        "OEMName": "John Deere",
        "Model": "6155M",
        "EquipmentID": world.serials["alice"],
        "SerialNumber": world.serials["alice"],
        "PIN": PIN,
    }
    assert machine["CumulativeOperatingHours"] == {"datetime": newest, "Hour": 104.15}
    assert machine["CumulativeIdleHours"] == {"datetime": newest, "Hour": round(10 + 249 / 600, 2)}
    assert machine["Location"] == {"datetime": newest, "Latitude": 52.249, "Longitude": -7.0}
    assert machine["FuelRemaining"] == {"datetime": newest, "Percent": 65.1}
    assert machine["DEFRemaining"] == {"datetime": newest, "Percent": 50.0}
    assert machine["EngineStatus"] == {"datetime": newest, "Running": True}
    status, bare = get(client, "/iso15143/Fleet", world.keys["alice"])
    assert (status, bare["Equipment"], bare["Links"]) == (200, body["Equipment"], body["Links"])


def test_dealer_bound_dispatcher_sees_that_dealers_machines_and_admin_sees_all(
    client: TestClient, world: World
) -> None:
    assert serials(get(client, "/iso15143/Fleet/1", world.keys["dealer_b"])[1]) == [
        world.serials["bob"]
    ]
    everything = serials(get(client, "/iso15143/Fleet/1", world.keys["admin"])[1])
    assert sorted(everything) == sorted(world.serials.values())


def test_fleet_pages_hold_100_with_next_prev_and_last(
    client: TestClient, world: World, conn: Conn
) -> None:
    owner = make_owner(conn)
    dealer = make_dealer(conn)
    made = [make_machine(conn, owner_id=owner, dealer_id=dealer)[1] for _ in range(150)]
    key = create_key(conn, role=Role.OWNER, owner_id=owner)
    status, first = get(client, "/iso15143/Fleet/1", key)
    assert status == 200
    assert len(first["Equipment"]) == 100  # type: ignore[arg-type]
    assert rels(first) == {
        "self": "http://testserver/iso15143/Fleet/1",
        "next": "http://testserver/iso15143/Fleet/2",
        "last": "http://testserver/iso15143/Fleet/2",
    }
    status, second = get(client, rels(first)["next"], key)
    assert status == 200
    assert set(rels(second)) == {"self", "prev", "last"}
    assert sorted(serials(first) + serials(second)) == sorted(made)
    status, beyond = get(client, "/iso15143/Fleet/3", key)
    assert (status, beyond["detail"]) == (404, "page 3 is beyond the last page, 2")


@pytest.mark.parametrize("page", ["0", "x", "-1"])
def test_bad_page_numbers_are_problems(client: TestClient, world: World, page: str) -> None:
    status, body = get(client, f"/iso15143/Fleet/{page}", world.keys["alice"])
    assert status == 422
    assert body["status"] == 422
    assert "page" in str(body["detail"]).lower()


def test_equipment_by_serial_or_pin(client: TestClient, world: World) -> None:
    for equipment_id in (world.serials["alice"], PIN, PIN.lower()):
        status, body = get(
            client, f"/iso15143/Fleet/Equipment/ID/{equipment_id}", world.keys["alice"]
        )
        assert status == 200
        assert serials(body) == [world.serials["alice"]]


@pytest.mark.parametrize(
    "path",
    [
        "/iso15143/Fleet/Equipment/ID/{id}",
        "/iso15143/Fleet/Equipment/ID/{id}/CumulativeOperatingHours/2024-05-01T00:00:00Z/2024-05-02T00:00:00Z/1",
    ],
)
def test_another_owners_machine_answers_like_one_that_does_not_exist(
    client: TestClient, world: World, path: str
) -> None:
    status, theirs = get(client, path.format(id=world.serials["bob"]), world.keys["alice"])
    missing_status, missing = get(client, path.format(id="NO-SUCH-1"), world.keys["alice"])
    assert status == missing_status == 404
    assert theirs["detail"] == str(missing["detail"]).replace("NO-SUCH-1", world.serials["bob"])
    assert {k: v for k, v in theirs.items() if k != "detail"} == {
        k: v for k, v in missing.items() if k != "detail"
    }
    assert get(client, path.format(id=world.serials["bob"]), world.keys["bob"])[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/iso15143/Fleet",
        "/iso15143/Fleet/1",
        "/iso15143/Fleet/Equipment/ID/X",
        "/iso15143/Fleet/Equipment/ID/X/Locations/2024-05-01/2024-05-02/1",
    ],
)
def test_no_key_is_401(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_xml_snapshot_carries_the_same_values(client: TestClient, world: World) -> None:
    _, body = get(client, "/iso15143/Fleet/1", world.keys["alice"])
    response = client.get(
        "/iso15143/Fleet/1",
        headers={"Authorization": f"Bearer {world.keys['alice']}", "Accept": "application/xml"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    ns = {"i": NAMESPACE}
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NAMESPACE}}}Fleet"
    machine = body["Equipment"][0]  # type: ignore[index]
    hours = root.find("i:Equipment/i:CumulativeOperatingHours", ns)
    assert hours is not None
    assert hours.get("datetime") == machine["CumulativeOperatingHours"]["datetime"]
    assert (
        float(hours.findtext("i:Hour", namespaces=ns) or "nan")
        == machine["CumulativeOperatingHours"]["Hour"]
    )
    assert root.findtext("i:Equipment/i:EquipmentHeader/i:PIN", namespaces=ns) == PIN


def series(world: World, item: str, start: str, end: str, page: int = 1) -> str:
    return f"/iso15143/Fleet/Equipment/ID/{world.serials['alice']}/{item}/{start}/{end}/{page}"


def test_operating_hours_series_pages_in_time_order_with_links(
    client: TestClient, world: World
) -> None:
    path = series(world, "CumulativeOperatingHours", "2024-05-01T06:00:00Z", "2024-05-02T00:00:00Z")
    status, first = get(client, path, world.keys["alice"])
    assert status == 200
    items = first["CumulativeOperatingHours"]
    assert len(items) == 100  # type: ignore[arg-type]
    assert items[0] == {"datetime": "2024-05-01T06:00:00Z", "Hour": 100.0}  # type: ignore[index]
    assert items[99]["datetime"] == "2024-05-01T07:39:00Z"  # type: ignore[index]
    assert set(rels(first)) == {"self", "next", "last"}
    assert rels(first)["last"].endswith(
        "/CumulativeOperatingHours/2024-05-01T06:00:00Z/2024-05-02T00:00:00Z/3"
    )
    _, last = get(client, rels(first)["last"], world.keys["alice"])
    assert len(last["CumulativeOperatingHours"]) == 50  # type: ignore[arg-type]


def test_series_range_is_start_inclusive_end_exclusive(client: TestClient, world: World) -> None:
    path = series(world, "Locations", "2024-05-01T06:01:00Z", "2024-05-01T06:03:00Z")
    _, body = get(client, path, world.keys["alice"])
    assert [loc["datetime"] for loc in body["Location"]] == [  # type: ignore[attr-defined]
        "2024-05-01T06:01:00Z",
        "2024-05-01T06:02:00Z",
    ]


def test_engine_condition_lists_starts_and_stops(client: TestClient, world: World) -> None:
    path = series(world, "EngineCondition", "2024-05-01T06:00:00Z", "2024-05-01T07:00:00Z")
    _, body = get(client, path, world.keys["alice"])
    assert body["EngineStatus"] == [
        {"datetime": "2024-05-01T06:00:00Z", "Running": True},
        {"datetime": "2024-05-01T06:10:00Z", "Running": False},
        {"datetime": "2024-05-01T06:20:00Z", "Running": True},
    ]


def test_faults_list_fault_codes_by_onset_in_range(client: TestClient, world: World) -> None:
    path = series(world, "Faults", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z")
    status, body = get(client, path, world.keys["alice"])
    assert status == 200
    assert body["FaultCode"] == [
        {
            "datetime": "2024-05-01T07:00:00Z",
            "CodeIdentifier": "SPN 110 FMI 0",
            "CodeSeverity": "red",
        }
    ]
    response = client.get(
        path, headers={"Authorization": f"Bearer {world.keys['alice']}", "Accept": "text/xml"}
    )
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NAMESPACE}}}DiagnosticTroubleCode"
    ns = {"i": NAMESPACE}
    codes = root.findall("i:FaultCode", ns)
    assert [c.findtext("i:CodeIdentifier", namespaces=ns) for c in codes] == ["SPN 110 FMI 0"]
    assert codes[0].get("datetime") == "2024-05-01T07:00:00Z"


@pytest.mark.parametrize(
    ("start", "end", "status", "reason"),
    [
        ("2024-05-01T06:00:00", "2024-05-02T00:00:00Z", 422, "no zone"),
        ("2024-05-02T00:00:00Z", "2024-05-01T00:00:00Z", 422, "must be after"),
        ("2024-01-01T00:00:00Z", "2024-05-01T00:00:00Z", 422, "at most 31 days"),
        ("soon", "2024-05-01T00:00:00Z", 422, "not a date"),
    ],
)
def test_bad_dates_are_problems_with_a_reason(
    client: TestClient, world: World, start: str, end: str, status: int, reason: str
) -> None:
    got, body = get(client, series(world, "Locations", start, end), world.keys["alice"])
    assert got == status
    assert body["type"] == "https://ironlink.dev/problems/invalid"
    assert reason in str(body["detail"])


def test_unknown_data_item_is_404(client: TestClient, world: World) -> None:
    path = series(world, "Odometer", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z")
    status, body = get(client, path, world.keys["alice"])
    assert status == 404
    assert "CumulativeOperatingHours" in str(body["detail"])
