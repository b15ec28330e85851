"""Alert subscriptions over the API on the real database: owners manage their own, dispatchers
their dealer's; bad input is a 422 problem, another's subscription a 404."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from maintenance.alerts import subscriptions
from tests.factories import make_dealer, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Keys:
    alice: str
    bob: str
    alice_id: int
    dealer_code: str
    dealer_id: int
    desk: str  # dispatcher bound to the dealer
    other_desk: str  # dispatcher bound to another dealer
    hq: str  # unbound dispatcher


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def keys(conn: Conn) -> Keys:
    dealer, other = make_dealer(conn), make_dealer(conn)
    alice, bob = make_owner(conn, dealer_id=dealer), make_owner(conn, dealer_id=dealer)
    row = conn.execute("SELECT code FROM dealers WHERE id = %s", (dealer,)).fetchone()
    assert row is not None
    return Keys(
        alice=create_key(conn, role=Role.OWNER, owner_id=alice),
        bob=create_key(conn, role=Role.OWNER, owner_id=bob),
        alice_id=alice,
        dealer_code=str(row[0]),
        dealer_id=dealer,
        desk=create_key(conn, role=Role.DISPATCHER, dealer_id=dealer),
        other_desk=create_key(conn, role=Role.DISPATCHER, dealer_id=other),
        hq=create_key(conn, role=Role.DISPATCHER),
    )


def req(client: TestClient, method: str, url: str, key: str, body: object = None) -> Any:
    return client.request(method, url, headers={"Authorization": f"Bearer {key}"}, json=body)


OWNER_URL = "/v1/owner/subscriptions"
DISPATCH_URL = "/v1/dispatch/subscriptions"


def test_an_owner_creates_lists_and_deletes_a_webhook_whose_secret_is_shown_once(
    client: TestClient, keys: Keys, conn: Conn
) -> None:
    body = {
        "channel": "webhook",
        "target": "https://farm.example/hook",
        "event_kinds": ["opened", "service_due", "digest"],
        "quiet_hours": "22:00-06:00",
        "timezone": "Europe/Berlin",
    }
    created = req(client, "POST", OWNER_URL, keys.alice, body)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["secret"].startswith("whsec_")
    assert len(made["secret"]) > 40
    assert (made["quiet_hours"], made["timezone"]) == ("22:00-06:00", "Europe/Berlin")
    assert made["event_kinds"] == ["opened", "service_due", "digest"]
    # Stored as the secret deliveries sign with.
    [stored] = subscriptions.subscriptions(conn, owner_id=keys.alice_id)
    row = conn.execute("SELECT secret FROM alert_subscriptions WHERE id = %s", (stored.id,))
    assert row.fetchone() == (made["secret"],)

    listed = req(client, "GET", OWNER_URL, keys.alice).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]]
    assert "secret" not in listed["items"][0]
    assert req(client, "GET", OWNER_URL, keys.bob).json()["items"] == []

    # The same target again while active is a conflict; after deleting, it may be added anew.
    assert req(client, "POST", OWNER_URL, keys.alice, body).status_code == 409
    assert req(client, "DELETE", f"{OWNER_URL}/{made['id']}", keys.alice).status_code == 204
    assert req(client, "GET", OWNER_URL, keys.alice).json()["items"] == []
    again = req(client, "POST", OWNER_URL, keys.alice, {**body, "event_kinds": None})
    assert again.status_code == 201, again.text
    assert again.json()["secret"] != made["secret"]
    assert again.json()["event_kinds"] == [
        "opened",
        "escalated",
        "resolved",
        "service_due",
        "digest",
    ]


def test_another_owners_subscription_is_not_found(client: TestClient, keys: Keys) -> None:
    made = req(
        client, "POST", OWNER_URL, keys.alice, {"channel": "email", "target": "a@farm.example"}
    ).json()
    response = req(client, "DELETE", f"{OWNER_URL}/{made['id']}", keys.bob)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert len(req(client, "GET", OWNER_URL, keys.alice).json()["items"]) == 1
    assert req(client, "DELETE", f"{OWNER_URL}/999999", keys.alice).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"channel": "webhook", "target": "ftp://farm.example/hook"}, "http(s) URL"),
        ({"channel": "webhook", "target": "https://"}, "http(s) URL"),
        ({"channel": "email", "target": "farm.example"}, "e-mail address"),
        ({"channel": "email", "target": "a@b.c\u0000"}, "control characters"),
        ({"channel": "sms", "target": "+4912345"}, "channel"),
        ({"channel": "email", "target": "a@b.test", "event_kinds": ["assigned"]}, "event_kinds"),
        ({"channel": "email", "target": "a@b.test", "event_kinds": []}, "event_kinds"),
        ({"channel": "email", "target": "a@b.test", "quiet_hours": "22-06"}, "quiet_hours"),
        ({"channel": "email", "target": "a@b.test", "quiet_hours": "25:00-06:00"}, "HH:MM"),
        ({"channel": "email", "target": "a@b.test", "quiet_hours": "06:00-06:00"}, "same time"),
        (
            {
                "channel": "email",
                "target": "a@b.test",
                "quiet_hours": "22:00-06:00",
                "timezone": "Mars/Olympus",
            },
            "unknown time zone",
        ),
        ({"channel": "email", "target": "a@b.test", "secret": "mine"}, "secret"),
    ],
)
def test_bad_input_is_a_422_problem_that_says_why(
    client: TestClient, keys: Keys, body: dict[str, object], says: str
) -> None:
    response = req(client, "POST", OWNER_URL, keys.alice, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.text


def test_a_dealer_bound_dispatcher_manages_its_dealers_subscriptions_only(
    client: TestClient, keys: Keys
) -> None:
    body = {"channel": "email", "target": "desk@dealer.example", "event_kinds": ["sla_breached"]}
    made = req(client, "POST", DISPATCH_URL, keys.desk, body)
    assert made.status_code == 201, made.text
    assert (made.json()["dealer"], made.json()["secret"]) == (keys.dealer_code, None)
    # The dealer's kinds exclude the owner's digest.
    digest = req(client, "POST", DISPATCH_URL, keys.desk, {**body, "event_kinds": ["digest"]})
    assert digest.status_code == 422
    assert "digest" in digest.json()["detail"]
    # Another dealer's desk sees none of it, cannot name the dealer, cannot delete it.
    assert req(client, "GET", DISPATCH_URL, keys.other_desk).json()["items"] == []
    named = req(client, "POST", DISPATCH_URL, keys.other_desk, {**body, "dealer": keys.dealer_code})
    assert named.status_code == 404
    sid = made.json()["id"]
    assert req(client, "DELETE", f"{DISPATCH_URL}/{sid}", keys.other_desk).status_code == 404
    # Owner subscriptions are not the dispatcher's.
    owner_sub = req(
        client, "POST", OWNER_URL, keys.alice, {"channel": "email", "target": "a@farm.example"}
    ).json()
    assert req(client, "DELETE", f"{DISPATCH_URL}/{owner_sub['id']}", keys.hq).status_code == 404
    # An unbound key sees every dealer's, and must name the dealer to subscribe one.
    assert [i["id"] for i in req(client, "GET", DISPATCH_URL, keys.hq).json()["items"]] == [sid]
    unnamed = req(client, "POST", DISPATCH_URL, keys.hq, {**body, "target": "hq@dealer.example"})
    assert unnamed.status_code == 422
    hq = req(
        client,
        "POST",
        DISPATCH_URL,
        keys.hq,
        {"channel": "webhook", "target": "https://dealer.example/hook", "dealer": keys.dealer_code},
    )
    assert hq.status_code == 201, hq.text
    assert hq.json()["secret"].startswith("whsec_")
    listed = req(client, "GET", DISPATCH_URL, keys.desk, None).json()
    assert {i["target"] for i in listed["items"]} == {
        "desk@dealer.example",
        "https://dealer.example/hook",
    }
    assert req(client, "DELETE", f"{DISPATCH_URL}/{sid}", keys.desk).status_code == 204
    assert len(req(client, "GET", DISPATCH_URL, keys.desk).json()["items"]) == 1


def test_lists_page_by_id(client: TestClient, keys: Keys) -> None:
    for n in range(3):
        body = {"channel": "email", "target": f"a{n}@farm.example"}
        assert req(client, "POST", OWNER_URL, keys.alice, body).status_code == 201
    first = req(client, "GET", f"{OWNER_URL}?limit=2", keys.alice).json()
    assert len(first["items"]) == 2
    rest = req(client, "GET", f"{OWNER_URL}?limit=2&after={first['next_after']}", keys.alice)
    assert [i["target"] for i in rest.json()["items"]] == ["a2@farm.example"]
    assert rest.json()["next_after"] is None
