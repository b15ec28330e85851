"""Every route of the app, found by walking `app.routes`, against its audience's rules.

Statically: a route under an audience prefix depends on that audience's guard, and any other route
is on the public list. On the real database: no key is 401, a key of a refused role is 403, and an
owner asking for another owner's record (a path parameter naming it) gets 404 while their own
answers. A route added later is covered without editing this file, unless it has a path parameter
of a new name or a request body: then the test fails and says what to add to PATH_FILLS or BODIES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from api.app import create_app
from api.auth import Role, create_key
from api.deps import get_principal, require_admin, require_dispatcher, require_owner
from ironlink.settings import Settings, load
from maintenance.alerts.model import Audience as AlertAudience
from maintenance.alerts.model import Channel
from maintenance.alerts.subscriptions import subscribe
from maintenance.rules.findings import Finding
from maintenance.rules.model import PartLine, Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Audience:
    prefix: str
    guard: Callable[..., object]  # the dependency every route under the prefix must have
    refused: tuple[Role, ...]  # roles whose valid key gets 403
    owner_scoped: bool  # an owner key sees only its owner's records there


AUDIENCES: Final = (
    Audience("/v1/owner", require_owner, (Role.DISPATCHER, Role.ADMIN), owner_scoped=True),
    Audience("/v1/dispatch", require_dispatcher, (Role.OWNER,), owner_scoped=False),
    Audience("/v1/admin", require_admin, (Role.OWNER, Role.DISPATCHER), owner_scoped=False),
    # AEMP 2.0 serves every role, each scoped to its own machines (api/routers/iso15143.py).
    Audience("/iso15143", get_principal, (), owner_scoped=True),
)
# Reachable without a key, on purpose. /console is the dispatcher console's static files (a
# Mount): they hold no data, and every API call they make carries the dispatcher's key.
PUBLIC: Final = frozenset(
    {"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/console"}
)


@dataclass(frozen=True)
class Endpoint:
    """One method of one route, as the app serves it (prefixes of included routers applied)."""

    method: str
    path: str
    dependencies: frozenset[Callable[..., object]]
    has_body: bool

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _calls(dependant: Any) -> frozenset[Callable[..., object]]:
    calls: set[Callable[..., object]] = set()
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.add(dep.call)
        stack.extend(dep.dependencies)
    return frozenset(calls)


def _served(routes: Iterable[object]) -> Iterator[object]:
    """The routes as served: FastAPI 0.13x+ keeps an included router as one wrapper whose
    effective candidates carry the full path and the include's own dependencies."""
    for route in routes:
        if (candidates := getattr(route, "effective_candidates", None)) is not None:
            yield from _served(candidates())
        elif (inner := getattr(route, "original_router", None)) is not None:
            pytest.fail(f"an included router ({inner!r}) this test cannot expand", pytrace=False)
        else:
            yield route


def walk(routes: Iterable[BaseRoute]) -> tuple[list[Endpoint], list[str]]:
    """The endpoints behind `routes`, and the routes of a kind this test cannot check."""
    found: list[Endpoint] = []
    unknown: list[str] = []
    for route in _served(routes):
        path = getattr(route, "path", None)
        if path in PUBLIC:
            continue
        dependant = getattr(route, "dependant", None)
        methods = set(getattr(route, "methods", None) or ()) - {"HEAD"}
        if dependant is None or path is None or not methods:
            # A Mount or plain Route has no dependencies, so outside PUBLIC it would be open; a
            # websocket has no methods to call here.
            unknown.append(f"{type(route).__name__} {path}")
            continue
        has_body = getattr(route, "body_field", None) is not None
        for method in sorted(methods):
            found.append(Endpoint(method, path, _calls(dependant), has_body))
    return found, unknown


def _all_endpoints() -> list[Endpoint]:
    found, unknown = walk(create_app(load({})).routes)
    assert unknown == [], "routes no dependency can guard: add them to PUBLIC or make APIRoutes"
    assert found, "the app has no routes"
    return found


def audience(endpoint: Endpoint) -> Audience | None:
    for a in AUDIENCES:
        if endpoint.path == a.prefix or endpoint.path.startswith(a.prefix + "/"):
            return a
    return None


ENDPOINTS: Final = _all_endpoints()
GUARDED: Final = [e for e in ENDPOINTS if audience(e) is not None]


def _guarded(predicate: Callable[[Audience], bool]) -> list[Any]:
    return [pytest.param(e, id=str(e)) for e in GUARDED if predicate(audience(e))]  # type: ignore[arg-type]


# --- Static: the dependency graph -------------------------------------------------------------


def test_every_route_is_guarded_by_its_audience_or_public() -> None:
    unguarded = [
        f"{e} lacks {a.guard.__name__}" if (a := audience(e)) else f"{e} is in no audience"
        for e in ENDPOINTS
        if (a := audience(e)) is None or a.guard not in e.dependencies
    ]
    assert unguarded == [], "add the guard, or the path to PUBLIC if it is public by design"


def test_the_walk_sees_every_documented_operation() -> None:
    # OpenAPI is built by FastAPI itself: if the walk above missed a router, this tells.
    app = create_app(load({}))
    documented = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    public = {f"{m} {p}" for m in ("GET", "HEAD") for p in PUBLIC}
    assert documented - public <= {str(e) for e in ENDPOINTS}
    assert {"/v1/owner", "/v1/dispatch"} <= {a.prefix for a in map(audience, GUARDED) if a}


def test_the_walk_flags_routes_of_an_unknown_kind() -> None:
    async def asgi(scope: object, receive: object, send: object) -> None:
        return None

    app = FastAPI()

    @app.websocket("/v1/owner/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.close()

    routes = [Mount("/v1/owner/files", app=asgi), Route("/health", asgi), *app.routes]
    found, unknown = walk(routes)
    assert found == []
    assert unknown == ["Mount /v1/owner/files", "APIWebSocketRoute /v1/owner/live"]


# --- On the real database ---------------------------------------------------------------------


@dataclass
class World:
    keys: dict[str, str]
    serials: dict[str, str]
    machine_ids: dict[str, int]
    owner_ids: dict[str, int]
    dealer_ids: dict[str, int]
    tickets: dict[str, int]
    subscriptions: dict[str, int]


OWNERS: Final = ("alice", "bob")


@pytest.fixture
def world(conn: Conn) -> World:
    w = World({}, {}, {}, {}, {}, {}, {})
    for name in OWNERS:
        # Separate dealers too, so a route keyed by dealer also has another's to refuse.
        w.dealer_ids[name] = dealer = make_dealer(conn)
        w.owner_ids[name] = owner = make_owner(conn, dealer_id=dealer)
        w.machine_ids[name], w.serials[name] = make_machine(conn, owner_id=owner, dealer_id=dealer)
        w.keys[name] = create_key(conn, role=Role.OWNER, owner_id=owner)
        finding = Finding(
            w.machine_ids[name],
            "svc-250h",
            "service_interval",
            "250-hour service",
            Priority.NORMAL,
            {"due_at_h": 250.0},
            (PartLine(part_no="FLT-OIL-STD"),),
        )
        with conn.transaction():
            w.tickets[name] = apply_findings(conn, [finding], now=datetime.now(UTC)).opened[0]
            w.subscriptions[name] = subscribe(
                conn,
                audience=AlertAudience.OWNER,
                recipient_id=owner,
                channel=Channel.EMAIL,
                target=f"{name}@example.test",
            )
    for role in (Role.DISPATCHER, Role.ADMIN):
        w.keys[str(role)] = create_key(conn, role=role)
    return w


@dataclass(frozen=True)
class Fill:
    value: Callable[[World, str], str]  # (world, "alice" or "bob") -> the path segment
    names_record: bool  # True: an owner's record, so another owner's value must answer 404


def _stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# By path parameter name, across every route. A new name fails the tests below until it is here.
PATH_FILLS: Final[dict[str, Fill]] = {
    "serial": Fill(lambda w, who: w.serials[who], names_record=True),
    "ticket_id": Fill(lambda w, who: str(w.tickets[who]), names_record=True),
    "subscription_id": Fill(lambda w, who: str(w.subscriptions[who]), names_record=True),
    "machine_id": Fill(lambda w, who: str(w.machine_ids[who]), names_record=True),
    "owner_id": Fill(lambda w, who: str(w.owner_ids[who]), names_record=True),
    "dealer_id": Fill(lambda w, who: str(w.dealer_ids[who]), names_record=False),
    # ISO 15143-3: the equipment id (our serial), a data element, a time range, a page.
    "id": Fill(lambda w, who: w.serials[who], names_record=True),
    "dataItem": Fill(lambda w, who: "Locations", names_record=False),
    "startDateUTC": Fill(lambda w, who: _stamp(timedelta(days=-1)), names_record=False),
    "endDateUTC": Fill(lambda w, who: _stamp(timedelta(hours=1)), names_record=False),
    "pageNumber": Fill(lambda w, who: "1", names_record=False),
    # Admin: records no owner key can reach (every admin route answers 401/403 before a lookup).
    "technician_id": Fill(lambda w, who: "1", names_record=False),
    "version": Fill(lambda w, who: "1", names_record=False),
    # /v1/dispatch/dealers/{dealer_code}/...: dispatch routes are not owner-scoped, so only the
    # 401/403 checks use it, and both answer before the code is looked up.
    "dealer_code": Fill(lambda w, who: f"DLR-{who.upper()}", names_record=False),
}
# A valid JSON body by endpoint ("POST /v1/owner/..."), for routes that take one: without it a
# cross-owner request would fail validation (422) and prove nothing about scoping.
BODIES: Final[dict[str, object]] = {
    "POST /v1/dispatch/tickets/{ticket_id}/assign": {"technician_id": 1},
    "POST /v1/dispatch/tickets/{ticket_id}/transition": {"to": "scheduled"},
    "POST /v1/dispatch/tickets/{ticket_id}/notes": {"text": "called the owner"},
    "POST /v1/dispatch/tickets/{ticket_id}/parts": {"part_no": "FLT-OIL-STD", "qty": 1},
    "POST /v1/owner/machines/{serial}/service-requests": {"description": "Please check the PTO"},
    "POST /v1/owner/tickets/{ticket_id}/rating": {"score": 5, "comment": "quick and tidy"},
    "POST /v1/owner/subscriptions": {"channel": "email", "target": "farm@example.test"},
    "POST /v1/dispatch/subscriptions": {"channel": "email", "target": "desk@example.test"},
}
# Owner-scoped GET routes without a record in the path whose answer names no machine (a profile,
# say): the leak check cannot look for alice's serial in them.
NOT_ABOUT_MACHINES: Final[frozenset[str]] = frozenset({"GET /v1/owner/subscriptions"})


def params_of(endpoint: Endpoint) -> list[str]:
    return [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]


def url_for(endpoint: Endpoint, world: World, who: str) -> str:
    url = endpoint.path
    for name in params_of(endpoint):
        fill = PATH_FILLS.get(name)
        if fill is None:
            pytest.fail(
                f"{endpoint}: no value for path parameter {name!r}; add it to PATH_FILLS in "
                f"{__file__}",
                pytrace=False,
            )
        url = url.replace("{" + name + "}", fill.value(world, who))
    return url


def call(
    client: TestClient,
    endpoint: Endpoint,
    url: str,
    key: str | None,
    *,
    body: bool = False,
    authorization: str | None = None,
) -> Any:
    headers = {"Authorization": authorization or f"Bearer {key}"} if key or authorization else {}
    json = None
    if body and endpoint.has_body:
        if str(endpoint) not in BODIES:
            pytest.fail(f"{endpoint} takes a body: add a valid one to BODIES", pytrace=False)
        json = BODIES[str(endpoint)]
    return client.request(endpoint.method, url, headers=headers, json=json)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


@pytest.mark.parametrize("endpoint", _guarded(lambda a: True))
def test_no_key_or_a_forged_one_is_401(
    client: TestClient, world: World, endpoint: Endpoint
) -> None:
    url = url_for(endpoint, world, "alice")
    tampered = world.keys["alice"][:-1] + ("A" if world.keys["alice"][-1] != "A" else "B")
    for key in (None, "il_000000000000_forged", tampered, "not-an-ironlink-key"):
        response = call(client, endpoint, url, key)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    # The key in another scheme is no bearer key.
    response = call(client, endpoint, url, None, authorization=f"Basic {world.keys['alice']}")
    assert_problem(response, 401)


@pytest.mark.parametrize("endpoint", _guarded(lambda a: bool(a.refused)))
def test_a_key_of_another_role_is_403(client: TestClient, world: World, endpoint: Endpoint) -> None:
    refused = audience(endpoint).refused  # type: ignore[union-attr]
    url = url_for(endpoint, world, "alice")
    for role in refused:
        key = world.keys["alice" if role is Role.OWNER else str(role)]
        assert_problem(call(client, endpoint, url, key), 403)


@pytest.mark.parametrize("endpoint", _guarded(lambda a: a.owner_scoped))
def test_an_owner_never_reaches_another_owners_records(
    client: TestClient, world: World, endpoint: Endpoint
) -> None:
    alice = world.keys["alice"]
    names_record = [
        p for p in params_of(endpoint) if p in PATH_FILLS and PATH_FILLS[p].names_record
    ]
    if names_record:
        # Bob's record answers like one that does not exist: the same 404, not a 403.
        assert_problem(
            call(client, endpoint, url_for(endpoint, world, "bob"), alice, body=True), 404
        )
    if endpoint.method != "GET":
        return  # a write on alice's own record would change the world; the 404 is what counts
    # The same route on alice's own records answers, so the 404 above is about whose they are;
    # and nothing of bob's shows anywhere in it.
    response = call(client, endpoint, url_for(endpoint, world, "alice"), alice)
    assert response.status_code == 200, response.text
    assert world.serials["bob"] not in response.text
    if not names_record and str(endpoint) not in NOT_ABOUT_MACHINES:
        # A list that held nothing would pass the line above vacuously.
        assert world.serials["alice"] in response.text, (
            f"{endpoint} shows none of alice's machines; if it is not about machines, add it to "
            "NOT_ABOUT_MACHINES"
        )
