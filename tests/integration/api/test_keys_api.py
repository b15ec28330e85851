"""Keys against the real API and database: per-key rate limits, revocation, last use, scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import keys
from api.app import create_app
from api.auth import Role, create_key
from api.ratelimit import DEFAULT_BURST, Limit, RateLimiter
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]
MACHINES = "/v1/owner/machines"


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Api:
    client: TestClient
    clock: FakeClock

    def get(self, path: str, key: str | None) -> tuple[int, dict[str, str], dict[str, object]]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = self.client.get(path, headers=headers)
        return response.status_code, dict(response.headers), response.json()


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    clock = FakeClock()
    app.state.rate_limiter = RateLimiter(clock=clock)  # time moves only when a test says so
    with TestClient(app) as client:
        yield Api(client, clock)


@pytest.fixture
def owner_id(conn: Conn) -> int:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    make_machine(conn, owner_id=owner, dealer_id=dealer)
    return owner


def test_a_key_over_its_limit_gets_429_with_retry_after(
    api: Api, conn: Conn, owner_id: int
) -> None:
    key = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 2))
    assert [api.get(MACHINES, key)[0] for _ in range(2)] == [200, 200]
    status, headers, body = api.get(MACHINES, key)
    assert status == 429
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert headers["retry-after"] == "10"  # one token at 0.1/s
    api.clock.now_s += 9.0
    assert api.get(MACHINES, key)[0] == 429
    assert api.get(MACHINES, key)[1]["retry-after"] == "1"
    api.clock.now_s += 1.0
    assert api.get(MACHINES, key)[0] == 200


def test_keys_have_separate_buckets(api: Api, conn: Conn, owner_id: int) -> None:
    tight = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 1))
    other = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 1))
    assert api.get(MACHINES, tight)[0] == 200
    assert api.get(MACHINES, tight)[0] == 429
    assert api.get(MACHINES, other)[0] == 200


def test_a_key_without_its_own_limit_gets_the_default_burst(
    api: Api, conn: Conn, owner_id: int
) -> None:
    key = create_key(conn, role=Role.OWNER, owner_id=owner_id)
    statuses = [api.get(MACHINES, key)[0] for _ in range(DEFAULT_BURST + 1)]
    assert statuses == [200] * DEFAULT_BURST + [429]


def test_the_limiters_default_applies_to_keys_without_their_own(
    settings: Settings, conn: Conn, owner_id: int
) -> None:
    # How create_app would apply a configured default: its own limiter on app.state.
    app = create_app(settings)
    clock = FakeClock()
    app.state.rate_limiter = RateLimiter(default=Limit(0.1, 1), clock=clock)
    plain = create_key(conn, role=Role.OWNER, owner_id=owner_id)
    roomy = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 3))
    with TestClient(app) as client:
        api = Api(client, clock)
        assert [api.get(MACHINES, plain)[0] for _ in range(2)] == [200, 429]
        assert [api.get(MACHINES, roomy)[0] for _ in range(4)] == [200, 200, 200, 429]


def test_unauthenticated_requests_are_401_and_spend_no_keys_budget(
    api: Api, conn: Conn, owner_id: int
) -> None:
    key = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 1))
    wrong_secret = key[:-4] + "AAAA" if not key.endswith("AAAA") else key[:-4] + "BBBB"
    for attempt in (None, wrong_secret, None, wrong_secret):
        assert api.get(MACHINES, attempt)[0] == 401
    assert api.get(MACHINES, key)[0] == 200


def test_the_limit_is_checked_before_the_role(api: Api, conn: Conn, owner_id: int) -> None:
    # A key probing routes it may not use spends its budget like any other request.
    key = create_key(conn, role=Role.OWNER, owner_id=owner_id, limit=Limit(0.1, 1))
    assert api.get("/v1/dispatch/tickets", key)[0] == 403
    assert api.get("/v1/dispatch/tickets", key)[0] == 429


def test_a_revoked_key_is_refused_on_its_next_request(api: Api, conn: Conn, owner_id: int) -> None:
    issued, _ = keys.create(conn, role=Role.OWNER, owner=str(owner_id))
    assert api.get(MACHINES, issued.key)[0] == 200
    keys.revoke(conn, issued.prefix)
    status, headers, _ = api.get(MACHINES, issued.key)
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"


def _last_used(conn: Conn, prefix: str) -> datetime | None:
    row = conn.execute("SELECT last_used_at FROM api_keys WHERE prefix = %s", (prefix,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[return-value]


def test_last_use_is_recorded_at_most_once_a_minute(api: Api, conn: Conn, owner_id: int) -> None:
    issued, row = keys.create(conn, role=Role.OWNER, owner=str(owner_id))
    assert row.last_used_at is None
    api.get(MACHINES, issued.key)
    first = _last_used(conn, issued.prefix)
    assert first is not None
    api.get(MACHINES, issued.key)
    assert _last_used(conn, issued.prefix) == first
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE prefix = %s",
        (issued.prefix,),
    )
    api.get(MACHINES, issued.key)
    later = _last_used(conn, issued.prefix)
    assert later is not None
    assert later >= first


def test_a_failed_attempt_is_not_recorded_as_use(api: Api, conn: Conn, owner_id: int) -> None:
    issued, _ = keys.create(conn, role=Role.OWNER, owner=str(owner_id))
    api.get(MACHINES, issued.key[:-1] + ("x" if issued.key[-1] != "x" else "y"))
    assert _last_used(conn, issued.prefix) is None


def test_a_dispatcher_key_bound_to_a_dealer_sees_only_its_tickets(api: Api, conn: Conn) -> None:
    opened: dict[int, int] = {}
    for _ in range(2):
        dealer = make_dealer(conn)
        owner = make_owner(conn, dealer_id=dealer)
        machine_id, _serial = make_machine(conn, owner_id=owner, dealer_id=dealer)
        finding = Finding(
            machine_id, "svc-250h", "service_interval", "250-hour service", Priority.NORMAL, {}, ()
        )
        with conn.transaction():
            opened[dealer] = apply_findings(conn, [finding], now=datetime.now(UTC)).opened[0]
    dealer = next(iter(opened))
    issued, _ = keys.create(conn, role=Role.DISPATCHER, dealer=str(dealer))
    status, _, page = api.get("/v1/dispatch/tickets", issued.key)
    assert status == 200
    assert [t["id"] for t in page["items"]] == [opened[dealer]]  # type: ignore[attr-defined]
    everyone, _ = keys.create(conn, role=Role.DISPATCHER)
    _, _, page = api.get("/v1/dispatch/tickets", everyone.key)
    assert {t["id"] for t in page["items"]} == set(opened.values())  # type: ignore[attr-defined]
