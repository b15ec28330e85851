"""The API on the real database: an owner sees only their own machines and tickets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.model import PartLine, Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner


@dataclass
class World:
    keys: dict[str, str]
    serials: dict[str, str]
    tickets: dict[str, int]


@pytest.fixture
def world(conn: psycopg.Connection[tuple[object, ...]]) -> World:
    dealer = make_dealer(conn)
    keys: dict[str, str] = {}
    serials: dict[str, str] = {}
    tickets: dict[str, int] = {}
    for name in ("alice", "bob"):
        owner = make_owner(conn, dealer_id=dealer)
        machine_id, serials[name] = make_machine(conn, owner_id=owner, dealer_id=dealer)
        keys[name] = create_key(conn, role=Role.OWNER, owner_id=owner)
        with conn.transaction():
            applied = apply_findings(
                conn,
                [
                    Finding(
                        machine_id,
                        "svc-250h",
                        "service_interval",
                        "250-hour service",
                        Priority.NORMAL,
                        {"due_at_h": 250.0},
                        (PartLine(part_no="FLT-OIL-STD"),),
                    )
                ],
                now=datetime.now(UTC),
            )
        tickets[name] = applied.opened[0]
    keys["dispatcher"] = create_key(conn, role=Role.DISPATCHER)
    return World(keys, serials, tickets)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def get(client: TestClient, path: str, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(path, headers=headers)
    return response.status_code, response.json()


def test_health_reports_timescaledb(client: TestClient) -> None:
    status, body = get(client, "/health", None)
    assert status == 200
    assert body["timescaledb"]


def test_owner_lists_only_their_own_machines_and_tickets(client: TestClient, world: World) -> None:
    status, machines = get(client, "/v1/owner/machines", world.keys["alice"])
    assert status == 200
    assert [m["serial"] for m in machines["items"]] == [world.serials["alice"]]  # type: ignore[index]
    status, tickets = get(client, "/v1/owner/tickets", world.keys["alice"])
    assert status == 200
    items = tickets["items"]
    assert [t["id"] for t in items] == [world.tickets["alice"]]  # type: ignore[index]
    assert [p["part_no"] for p in items[0]["parts"]] == ["FLT-OIL-STD"]  # type: ignore[index]


@pytest.mark.parametrize(
    "path",
    ["/v1/owner/machines/{serial}", "/v1/owner/tickets/{ticket}"],
)
def test_another_owners_machine_or_ticket_is_404(
    client: TestClient, world: World, path: str
) -> None:
    url = path.format(serial=world.serials["bob"], ticket=world.tickets["bob"])
    status, body = get(client, url, world.keys["alice"])
    assert status == 404
    assert body["status"] == 404
    own = path.format(serial=world.serials["alice"], ticket=world.tickets["alice"])
    assert get(client, own, world.keys["alice"])[0] == 200


@pytest.mark.parametrize("path", ["/v1/owner/machines", "/v1/owner/tickets"])
def test_no_key_is_401_wrong_key_is_401_wrong_role_is_403(
    client: TestClient, world: World, path: str
) -> None:
    assert get(client, path, None)[0] == 401
    assert get(client, path, "il_000000000000_forged")[0] == 401
    assert get(client, path, world.keys["alice"] + "x")[0] == 401
    status, body = get(client, path, world.keys["dispatcher"])
    assert status == 403
    assert body["title"] == "Forbidden"


def test_errors_are_problem_details(client: TestClient) -> None:
    response = client.get("/v1/owner/machines")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


def test_dispatcher_queue_is_ordered_by_sla_and_owner_keys_are_refused(
    client: TestClient, world: World
) -> None:
    status, queue = get(client, "/v1/dispatch/tickets", world.keys["dispatcher"])
    assert status == 200
    items = queue["items"]
    assert {t["id"] for t in items} == set(world.tickets.values())  # type: ignore[union-attr]
    dues = [t["sla_due_at"] for t in items]  # type: ignore[union-attr]
    assert dues == sorted(dues)
    assert get(client, "/v1/dispatch/tickets", world.keys["alice"])[0] == 403


def test_dispatcher_queue_pages_without_gaps(client: TestClient, world: World) -> None:
    seen: list[int] = []
    after = ""
    while True:
        status, page = get(
            client, f"/v1/dispatch/tickets?limit=1&after={after}", world.keys["dispatcher"]
        )
        assert status == 200
        seen.extend(t["id"] for t in page["items"])  # type: ignore[union-attr]
        if not page["next_after"]:
            break
        after = str(page["next_after"])
    assert sorted(seen) == sorted(world.tickets.values())
