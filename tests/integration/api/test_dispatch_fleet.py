"""/v1/dispatch/fleet: health counts against a fleet built by hand, and positions as GeoJSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from ironlink.settings import Settings
from tests.factories import make_machine
from tests.integration.api.test_dispatch_support import (
    NOW,
    Api,
    Conn,
    World,
    build_world,
    make_ticket,
    serve,
)

RED = {"spn": 110, "fmi": 0, "oc": 1, "lamp": "red"}
AMBER = {"spn": 100, "fmi": 1, "oc": 1, "lamp": "amber"}
MIL = {"spn": 3226, "fmi": 2, "oc": 1, "lamp": "mil"}
OFF = {"spn": 168, "fmi": 4, "oc": 1, "lamp": "off"}


@dataclass
class Fleet:
    world: World
    serials: dict[str, str]


def state(
    conn: Conn,
    machine_id: int,
    *,
    online: bool | None,
    faults: list[dict[str, object]] = (),  # type: ignore[assignment]
    at: tuple[float, float] | None = None,
) -> None:
    lat, lon = at or (None, None)
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, online, active_faults, lat, lon)"
        " VALUES (%s, %s, %s, %s::jsonb, %s, %s)",
        (machine_id, NOW, online, json.dumps(list(faults)), lat, lon),
    )


@pytest.fixture
def fleet(conn: Conn) -> Fleet:
    """Dealer a: a1 online red+amber, a2 offline amber, a3 never heard, a4 MIL without a status,
    a5 online but inactive (not counted), a6 online with a lamp off. Dealer b: b1 online red.
    Live tickets at a: critical breached unassigned, high near, normal later, low in 3 h; a
    resolved one that does not count. At b: one critical, breached."""
    w = build_world(conn)
    serials = dict(w.serials)
    ids = dict(w.machines)
    for name in ("a3", "a4", "a5", "a6"):
        ids[name], serials[name] = make_machine(
            conn, owner_id=w.owners["alice"], dealer_id=w.dealers["a"]
        )
    conn.execute("UPDATE machines SET active = false WHERE id = %s", (ids["a5"],))
    state(conn, ids["a1"], online=True, faults=[RED, AMBER], at=(52.1, -7.2))
    state(conn, ids["a2"], online=False, faults=[AMBER], at=(53.0, -6.0))
    state(conn, ids["a4"], online=None, faults=[MIL])
    state(conn, ids["a5"], online=True, faults=[RED], at=(52.0, -7.0))
    state(conn, ids["a6"], online=True, faults=[OFF], at=(-33.9, 151.2))
    state(conn, ids["b1"], online=True, faults=[RED], at=(51.5, -8.5))
    a1, a2, b1 = ids["a1"], ids["a2"], ids["b1"]
    ann = w.techs["ann"]
    for machine, priority, due_h, status, tech in (
        (a1, "critical", -1, "open", None),
        (a2, "high", 1, "scheduled", ann),
        (a1, "normal", 10, "in_progress", ann),
        (a2, "low", 3, "open", None),
        (a2, "critical", -5, "resolved", None),
        (b1, "critical", -2, "open", None),
    ):
        make_ticket(
            conn,
            machine_id=machine,
            priority=priority,
            due=NOW + timedelta(hours=due_h),
            status=status,
            technician_id=tech,
        )
    return Fleet(w, serials)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from serve(settings)


def test_health_counts_what_was_built_for_a_dealer_bound_key(api: Api, fleet: Fleet) -> None:
    status, body = api.get("/v1/dispatch/fleet/health", fleet.world.keys["a"])
    assert status == 200, body
    assert body["machines"] == {
        "total": 5,
        "online": 2,
        "offline": 1,
        "unknown": 2,
        "red": 1,
        "amber": 2,
    }
    assert body["tickets"] == {
        "open": 4,
        "by_priority": {"low": 1, "normal": 1, "high": 1, "critical": 1},
        "unassigned": 2,
        "sla_breached": 1,
        "sla_near": 1,
    }


def test_health_for_everyone_and_a_wider_near_window(api: Api, fleet: Fleet) -> None:
    status, body = api.get("/v1/dispatch/fleet/health", fleet.world.keys["all"], near_h=4)
    assert status == 200
    assert body["machines"] == {
        "total": 6,
        "online": 3,
        "offline": 1,
        "unknown": 2,
        "red": 2,
        "amber": 2,
    }
    assert body["tickets"] == {
        "open": 5,
        "by_priority": {"low": 1, "normal": 1, "high": 1, "critical": 2},
        "unassigned": 3,
        "sla_breached": 2,
        "sla_near": 2,
    }
    assert api.get("/v1/dispatch/fleet/health", fleet.world.keys["admin"])[1]["machines"] == {
        **body["machines"]
    }


def positions(api: Api, key: str, **params: Any) -> tuple[int, str, dict[str, Any]]:
    response = api.client.get(
        "/v1/dispatch/fleet/positions", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code, response.headers["content-type"], response.json()


def assert_geojson(collection: dict[str, Any]) -> None:
    """RFC 7946's rules for what this route sends: a FeatureCollection of Features with Point
    geometries at [longitude, latitude] within range, and an object of properties."""
    assert collection["type"] == "FeatureCollection"
    assert isinstance(collection["features"], list)
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["id"], str)
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert geometry["type"] == "Point"
        lon, lat = geometry["coordinates"]
        assert isinstance(lon, float)
        assert isinstance(lat, float)
        assert -180 <= lon <= 180
        assert -90 <= lat <= 90


def test_positions_are_geojson_points_lon_lat_with_ticket_properties(
    api: Api, fleet: Fleet
) -> None:
    status, media, body = positions(api, fleet.world.keys["a"])
    assert (status, media) == (200, "application/geo+json")
    assert_geojson(body)
    by_serial = {f["id"]: f for f in body["features"]}
    # a3 and a4 have no position, a5 is inactive, b1 is another dealer's.
    expected = sorted(fleet.serials[n] for n in ("a1", "a2", "a6"))
    assert [f["id"] for f in body["features"]] == expected
    a1 = by_serial[fleet.serials["a1"]]
    assert a1["geometry"]["coordinates"] == [-7.2, 52.1]
    assert a1["properties"] | {"dealer": None} == {
        "serial": fleet.serials["a1"],
        "kind": "tractor",
        "model": "6155M",
        "dealer": None,
        "online": True,
        "last_seen": a1["properties"]["last_seen"],
        "open_tickets": 2,
        "worst_priority": "critical",
    }
    a2 = by_serial[fleet.serials["a2"]]["properties"]
    assert (a2["online"], a2["open_tickets"], a2["worst_priority"]) == (False, 2, "high")
    a6 = by_serial[fleet.serials["a6"]]["properties"]
    assert (a6["open_tickets"], a6["worst_priority"]) == (0, None)
    assert body["next_after"] is None


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"online": True}, ("a1", "a6")),
        ({"online": False}, ("a2",)),
        ({"with_tickets": True}, ("a1", "a2")),
        ({"bbox": "-10,50,0,55"}, ("a1", "a2")),
        ({"bbox": "150,-34,152,-33"}, ("a6",)),
    ],
)
def test_positions_filter(
    api: Api, fleet: Fleet, params: dict[str, object], names: tuple[str, ...]
) -> None:
    status, _, body = positions(api, fleet.world.keys["a"], **params)
    assert status == 200
    assert [f["id"] for f in body["features"]] == sorted(fleet.serials[n] for n in names)


def test_positions_page_by_serial_and_everyone_sees_all(api: Api, fleet: Fleet) -> None:
    key = fleet.world.keys["all"]
    seen: list[str] = []
    after = ""
    while True:
        status, _, body = positions(api, key, limit=2, after=after)
        assert status == 200
        assert_geojson(body)
        seen += [f["id"] for f in body["features"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == sorted(fleet.serials[n] for n in ("a1", "a2", "a6", "b1"))


@pytest.mark.parametrize("bbox", ["1,2,3", "x,1,2,3", "10,0,5,1", "0,-91,1,1"])
def test_a_bad_bbox_is_422(api: Api, fleet: Fleet, bbox: str) -> None:
    status, media, body = positions(api, fleet.world.keys["a"], bbox=bbox)
    assert (status, media) == (422, "application/problem+json")
    assert "bbox" in body["detail"]
