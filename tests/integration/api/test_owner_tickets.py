"""Owner API on the real database: ticket filters and detail, service requests, ratings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.model import PartLine, Priority
from maintenance.tickets import lifecycle
from maintenance.tickets.flows import apply_findings
from maintenance.tickets.model import Status
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass
class World:
    alice: str
    bob: str
    serials: list[str]  # alice's two machines
    machine_ids: list[int]
    bob_serial: str
    service: int  # alice's first machine: a due service
    fault: int  # alice's second machine: a fault code
    bob_ticket: int


def finding(machine_id: int, key: str, kind: str) -> Finding:
    return Finding(
        machine_id, key, kind, key, Priority.NORMAL, {"due_at_h": 250.0}, (PartLine("FLT-OIL-STD"),)
    )


@pytest.fixture
def world(conn: Conn) -> World:
    dealer = make_dealer(conn)
    alice, bob = make_owner(conn, dealer_id=dealer), make_owner(conn, dealer_id=dealer)
    machines = [make_machine(conn, owner_id=alice, dealer_id=dealer) for _ in range(2)]
    bob_machine, bob_serial = make_machine(conn, owner_id=bob, dealer_id=dealer)
    with conn.transaction():
        opened = apply_findings(
            conn,
            [
                finding(machines[0][0], "svc-250h", "service_interval"),
                finding(machines[1][0], "spn110-fmi0", "fault_code"),
                finding(bob_machine, "svc-250h", "service_interval"),
            ],
            now=datetime.now(UTC),
        ).opened
    return World(
        alice=create_key(conn, role=Role.OWNER, owner_id=alice),
        bob=create_key(conn, role=Role.OWNER, owner_id=bob),
        serials=[s for _, s in machines],
        machine_ids=[m for m, _ in machines],
        bob_serial=bob_serial,
        service=opened[0],
        fault=opened[1],
        bob_ticket=opened[2],
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def call(client: TestClient, method: str, url: str, key: str, **kw: Any) -> tuple[int, Any, Any]:
    response = client.request(
        method, url, headers={"Authorization": f"Bearer {key}", **kw.pop("headers", {})}, **kw
    )
    return response.status_code, response.json(), response.headers


def ids(client: TestClient, query: str, key: str) -> list[int]:
    status, body, _ = call(client, "GET", f"/v1/owner/tickets?{query}", key)
    assert status == 200, body
    return [t["id"] for t in body["items"]]


def resolve(conn: Conn, ticket_id: int) -> None:
    with conn.transaction():
        lifecycle.transition(
            conn, ticket_id=ticket_id, to=Status.RESOLVED, actor="tech", note="done",
            engine_hours=250.0,
        )  # fmt: skip


def test_ticket_list_filters_by_status_machine_and_kind_and_pages(
    conn: Conn, client: TestClient, world: World
) -> None:
    resolve(conn, world.service)
    assert ids(client, "status=resolved", world.alice) == [world.service]
    assert ids(client, "status=open", world.alice) == [world.fault]
    assert ids(client, "status=open&status=resolved", world.alice) == [world.fault, world.service]
    assert ids(client, f"serial={world.serials[1]}", world.alice) == [world.fault]
    assert ids(client, f"serial={world.bob_serial}", world.alice) == []
    assert ids(client, "kind=service_interval", world.alice) == [world.service]
    assert ids(client, "limit=1", world.alice) == [world.fault]
    assert ids(client, f"limit=1&before={world.fault}", world.alice) == [world.service]
    status, body, _ = call(client, "GET", "/v1/owner/tickets?status=done", world.alice)
    assert status == 422
    assert body["errors"][0]["loc"] == ["query", "status", 0]


def test_ticket_detail_has_status_parts_and_the_owners_history(
    conn: Conn, client: TestClient, world: World
) -> None:
    _, before, _ = call(client, "GET", f"/v1/owner/tickets/{world.service}", world.alice)
    # The dealer has no stock of it: backordered, then released when resolved without it.
    assert [(p["part_no"], p["status"]) for p in before["parts"]] == [
        ("FLT-OIL-STD", "backordered")
    ]
    resolve(conn, world.service)
    with conn.transaction():
        lifecycle.add_note(conn, ticket_id=world.service, actor="dispatch", text="grumpy customer")
    status, body, _ = call(client, "GET", f"/v1/owner/tickets/{world.service}", world.alice)
    assert status == 200, body
    assert (body["status"], body["resolution"], body["satisfaction"]) == ("resolved", "done", None)
    assert [(p["part_no"], p["status"]) for p in body["parts"]] == [("FLT-OIL-STD", "released")]
    assert [(h["kind"], h["status"]) for h in body["history"]] == [
        ("opened", None),
        ("status", "resolved"),
    ]  # the dispatcher's note is not the owner's to read
    assert "grumpy" not in str(body)


def request(
    client: TestClient, world: World, body: dict[str, object], *, key: str | None = None,
    serial: str | None = None,
) -> tuple[int, Any, Any]:  # fmt: skip
    headers = {"Idempotency-Key": key} if key else {}
    url = f"/v1/owner/machines/{serial or world.serials[0]}/service-requests"
    return call(client, "POST", url, world.alice, json=body, headers=headers)


def test_service_request_opens_a_manual_ticket_and_a_second_adds_to_it(
    conn: Conn, client: TestClient, world: World
) -> None:
    body = {"description": "PTO clutch slipping", "preferred_date": "2026-04-02"}
    status, ticket, headers = request(client, world, body)
    assert status == 201, ticket
    assert headers["location"] == f"/v1/owner/tickets/{ticket['id']}"
    assert (ticket["kind"], ticket["status"], ticket["serial"]) == (
        "manual",
        "open",
        world.serials[0],
    )
    assert ticket["title"] == "Owner request: PTO clutch slipping"
    evidence = ticket["evidence"][0]
    assert (evidence["description"], evidence["preferred_date"]) == (
        "PTO clutch slipping",
        "2026-04-02",
    )
    status, again, _ = request(client, world, {"description": "and the cab light"})
    assert status == 201
    assert (again["id"], again["occurrences"]) == (ticket["id"], 2)
    _, detail, _ = call(client, "GET", f"/v1/owner/tickets/{ticket['id']}", world.alice)
    assert [h["kind"] for h in detail["history"]] == ["opened", "requested", "requested"]
    assert ids(client, "kind=manual", world.alice) == [ticket["id"]]
    # Once that ticket is finished, the next request opens a new one.
    resolve(conn, ticket["id"])
    status, new, _ = request(client, world, {"description": "PTO clutch slipping"})
    assert status == 201
    assert new["id"] != ticket["id"]


def test_a_retried_request_with_the_same_key_answers_with_the_same_ticket_once(
    conn: Conn, client: TestClient, world: World
) -> None:
    body = {"description": "Hydraulic leak at boom"}
    first = request(client, world, body, key="req-1")
    second = request(client, world, body, key="req-1")
    assert first[0] == second[0] == 201
    assert second[1]["id"] == first[1]["id"]
    assert second[1]["occurrences"] == 1
    row = conn.execute("SELECT count(*) FROM service_requests").fetchone()
    assert row == (1,)
    status, problem, _ = request(client, world, {"description": "something else"}, key="req-1")
    assert status == 409
    assert "req-1" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"description": ""}, 422), ({"description": "   "}, 422), ({}, 422)],
)
def test_a_request_without_a_description_is_refused(
    conn: Conn, client: TestClient, world: World, body: dict[str, object], status: int
) -> None:
    assert request(client, world, body)[0] == status
    assert conn.execute("SELECT count(*) FROM service_requests").fetchone() == (0,)


def test_a_request_for_another_owners_machine_is_404_and_writes_nothing(
    conn: Conn, client: TestClient, world: World
) -> None:
    status, _, _ = request(client, world, {"description": "x"}, serial=world.bob_serial)
    assert status == 404
    assert conn.execute("SELECT count(*) FROM service_requests").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM tickets WHERE kind = 'manual'").fetchone() == (0,)


def test_rating_a_resolved_ticket_once(conn: Conn, client: TestClient, world: World) -> None:
    url = f"/v1/owner/tickets/{world.service}/rating"
    status, problem, _ = call(client, "POST", url, world.alice, json={"score": 4})
    assert status == 409
    assert "open" in problem["detail"]
    resolve(conn, world.service)
    status, body, _ = call(client, "POST", url, world.alice, json={"score": 4, "comment": " ok "})
    assert status == 201, body
    assert body == {"ticket_id": world.service, "score": 4, "comment": "ok"}
    status, problem, _ = call(client, "POST", url, world.alice, json={"score": 5})
    assert status == 409
    assert problem["type"].endswith("/already-rated")
    _, detail, _ = call(client, "GET", f"/v1/owner/tickets/{world.service}", world.alice)
    assert detail["satisfaction"] == 4
    assert detail["history"][-1]["kind"] == "rated"


@pytest.mark.parametrize("score", [0, 6])
def test_a_score_outside_1_to_5_is_422(client: TestClient, world: World, score: int) -> None:
    url = f"/v1/owner/tickets/{world.service}/rating"
    assert call(client, "POST", url, world.alice, json={"score": score})[0] == 422


def test_rating_another_owners_ticket_is_404(conn: Conn, client: TestClient, world: World) -> None:
    resolve(conn, world.bob_ticket)
    url = f"/v1/owner/tickets/{world.bob_ticket}/rating"
    assert call(client, "POST", url, world.alice, json={"score": 1})[0] == 404
    row = conn.execute("SELECT satisfaction FROM tickets WHERE id = %s", (world.bob_ticket,))
    assert row.fetchone() == (None,)
