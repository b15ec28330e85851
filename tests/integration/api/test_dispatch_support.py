"""A small dispatch world built by hand (two dealers, their customers, machines, technicians and
tickets with chosen priorities and deadlines) and a client for /v1/dispatch; shared by the
test_dispatch_* modules, whose fixtures call build_world and serve(). Holds no tests or fixtures
itself (an imported fixture reads as an unused import shadowed by every test's argument)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
NOW = datetime.now(UTC).replace(microsecond=0)


def one(conn: Conn, query: str, params: tuple[object, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def make_technician(
    conn: Conn, *, dealer_id: int, name: str, skills: tuple[str, ...] = (), active: bool = True
) -> int:
    return int(
        one(
            conn,
            "INSERT INTO technicians (dealer_id, name, skills, active) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (dealer_id, name, list(skills), active),
        )
    )


def make_ticket(
    conn: Conn,
    *,
    machine_id: int,
    priority: str = "normal",
    due: datetime,
    opened: datetime | None = None,
    status: str = "open",
    technician_id: int | None = None,
    evidence: list[dict[str, object]] | None = None,
    kind: str = "threshold",
) -> int:
    """A ticket row as the flows would leave it, with the fields a queue sorts on chosen."""
    return int(
        one(
            conn,
            """
            INSERT INTO tickets (machine_id, owner_id, dealer_id, rule_key, kind, title, priority,
                                 status, sla_due_at, opened_at, last_seen_at, evidence,
                                 assigned_technician_id, assigned_at)
            SELECT m.id, m.owner_id, m.dealer_id, 'rule-' || gen_random_uuid(), %s, 'Problem', %s,
                   %s, %s, %s, %s, %s::jsonb, %s::bigint,
                   CASE WHEN %s::bigint IS NULL THEN NULL ELSE now() END
            FROM machines m WHERE m.id = %s
            RETURNING id
            """,
            (
                kind,
                priority,
                status,
                due,
                opened or NOW - timedelta(hours=1),
                opened or NOW - timedelta(hours=1),
                json.dumps(evidence or []),
                technician_id,
                technician_id,
                machine_id,
            ),
        )
    )


@dataclass
class World:
    dealers: dict[str, int] = field(default_factory=dict)  # "a", "b" -> id
    codes: dict[str, str] = field(default_factory=dict)  # "a", "b" -> dealer code
    owners: dict[str, int] = field(default_factory=dict)  # "alice" (a), "bob" (b)
    machines: dict[str, int] = field(default_factory=dict)  # "a1", "a2", "b1"
    serials: dict[str, str] = field(default_factory=dict)
    techs: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # "a" (bound to a), "all", "admin", "alice"


def seconds_left(due: datetime, call: Callable[[], tuple[int, Any]]) -> tuple[range, Any]:
    """Calls the API and gives the range an SLA's remaining_s may take for a ticket due at `due`,
    measured by the server at some moment during the call (NOW is only the import time)."""
    before = datetime.now(UTC)
    status, body = call()
    after = datetime.now(UTC)
    assert status == 200, body
    return range(
        int((due - after).total_seconds()) - 1, int((due - before).total_seconds()) + 1
    ), body


def build_world(conn: Conn) -> World:
    w = World()
    for name in ("a", "b"):
        w.dealers[name] = make_dealer(conn, name=f"Dealer {name.upper()}")
        w.codes[name] = str(one(conn, "SELECT code FROM dealers WHERE id = %s", (w.dealers[name],)))
    w.owners["alice"] = make_owner(conn, dealer_id=w.dealers["a"])
    w.owners["bob"] = make_owner(conn, dealer_id=w.dealers["b"])
    for machine, owner, dealer in (("a1", "alice", "a"), ("a2", "alice", "a"), ("b1", "bob", "b")):
        w.machines[machine], w.serials[machine] = make_machine(
            conn, owner_id=w.owners[owner], dealer_id=w.dealers[dealer]
        )
    w.techs["ann"] = make_technician(
        conn, dealer_id=w.dealers["a"], name="Ann", skills=("engine", "hydraulics")
    )
    w.techs["abe"] = make_technician(
        conn, dealer_id=w.dealers["a"], name="Abe", skills=("service",)
    )
    w.techs["old"] = make_technician(conn, dealer_id=w.dealers["a"], name="Old", active=False)
    w.techs["ben"] = make_technician(conn, dealer_id=w.dealers["b"], name="Ben", skills=("engine",))
    w.keys["a"] = create_key(conn, role=Role.DISPATCHER, dealer_id=w.dealers["a"], label="desk-a")
    w.keys["all"] = create_key(conn, role=Role.DISPATCHER)
    w.keys["admin"] = create_key(conn, role=Role.ADMIN)
    w.keys["alice"] = create_key(conn, role=Role.OWNER, owner_id=w.owners["alice"])
    return w


@dataclass
class Api:
    client: TestClient

    def get(self, path: str, key: str, **params: Any) -> tuple[int, Any]:
        response = self.client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
        return response.status_code, response.json()

    def post(self, path: str, key: str, body: object) -> tuple[int, Any]:
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        return response.status_code, response.json()


def serve(settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(settings)) as client:
        yield Api(client)
