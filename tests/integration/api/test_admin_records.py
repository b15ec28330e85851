"""/v1/admin owners, dealers, technicians and machines on the real database: create, read, keyset
pages with filters, patches, and the problems (409 duplicates, 422 with the reason, 404)."""

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

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass
class Admin:
    http: TestClient
    key: str

    def __call__(self, method: str, path: str, body: object = None, **params: Any) -> Any:
        response = self.http.request(
            method,
            f"/v1/admin{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response


@pytest.fixture
def admin(settings: Settings, conn: Conn) -> Iterator[Admin]:
    with TestClient(create_app(settings)) as http:
        yield Admin(http, create_key(conn, role=Role.ADMIN))


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    errors = body.get("errors") or []
    return " ".join([body["detail"], *(f"{e['loc']} {e['msg']}" for e in errors)])


def dealer(admin: Admin, code: str, **extra: object) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        admin("POST", "/dealers", {"code": code, "name": f"Dealer {code}", **extra}), 201
    )
    return result


def owner(admin: Admin, code: str, **extra: object) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        admin(
            "POST", "/owners", {"code": code, "name": f"Owner {code}", "kind": "farmer", **extra}
        ),
        201,
    )
    return result


def machine(admin: Admin, serial: str, *, owner_id: int, dealer_id: int, **extra: object) -> Any:
    body = {
        "serial": serial,
        "kind": "tractor",
        "model": "6155M",
        "owner_id": owner_id,
        "dealer_id": dealer_id,
        **extra,
    }
    return admin("POST", "/machines", body)


# --- Owners ---------------------------------------------------------------------------------------


def test_an_owner_is_created_with_contacts_and_read_back(admin: Admin) -> None:
    d = dealer(admin, "DLR-A")
    contacts = [
        {"name": "Ann", "role": "manager", "phone": "+44 1234 5678", "preferred": True},
        {"name": "Bo", "email": "bo@farm.example"},
    ]
    created = owner(admin, "OWN-A", dealer_id=d["id"], contacts=contacts, region="north")
    got = ok(admin("GET", f"/owners/{created['id']}"))
    assert got == created
    assert [c["name"] for c in got["contacts"]] == ["Ann", "Bo"]
    assert got["active"] is True
    assert got["grade"] is None


def test_owner_pages_follow_the_keyset_and_filters(admin: Admin) -> None:
    d = dealer(admin, "DLR-P")
    ids = [owner(admin, f"OWN-P{i}", dealer_id=d["id"])["id"] for i in range(5)]
    owner(admin, "OWN-OTHER", kind="rental")
    seen: list[int] = []
    after = 0
    while True:
        page = ok(admin("GET", "/owners", after=after, limit=2, dealer_id=d["id"]))
        seen += [o["id"] for o in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids
    rental = ok(admin("GET", "/owners", kind="rental"))["items"]
    assert [o["code"] for o in rental] == ["OWN-OTHER"]
    assert [o["code"] for o in ok(admin("GET", "/owners", q="p3"))["items"]] == ["OWN-P3"]


def test_an_owner_patch_changes_only_what_it_sends_and_replaces_contacts(admin: Admin) -> None:
    created = owner(admin, "OWN-C", email="a@b.example", contacts=[{"name": "X", "phone": "123"}])
    patched = ok(
        admin(
            "PATCH",
            f"/owners/{created['id']}",
            {"email": None, "active": False, "contacts": [{"name": "Y", "email": "y@b.example"}]},
        )
    )
    assert patched["email"] is None
    assert patched["active"] is False
    assert patched["name"] == created["name"]
    assert [c["name"] for c in patched["contacts"]] == ["Y"]
    assert ok(admin("GET", "/owners", active=False))["items"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"code": "OWN-X", "name": "n", "kind": "pirate"}, "farmer"),
        ({"code": "OWN-X", "name": "n", "kind": "farmer", "colour": "red"}, "Extra inputs"),
        ({"code": "OWN-X", "name": "n", "kind": "farmer", "contacts": [{"name": "c"}]}, "phone"),
        (
            {
                "code": "OWN-X",
                "name": "n",
                "kind": "farmer",
                "contacts": [
                    {"name": "a", "phone": "123", "preferred": True},
                    {"name": "b", "phone": "456", "preferred": True},
                ],
            },
            "at most one contact may be preferred",
        ),
        ({"code": "OWN-X", "name": "n", "kind": "farmer", "dealer_id": 999999}, "dealer_id"),
    ],
)
def test_invalid_owners_are_422_with_the_reason(admin: Admin, body: object, reason: str) -> None:
    assert reason in problem(admin("POST", "/owners", body), 422)
    assert ok(admin("GET", "/owners"))["items"] == []


def test_a_duplicate_owner_code_is_409_and_a_null_name_422(admin: Admin) -> None:
    created = owner(admin, "OWN-D")
    assert "owner with this code exists" in problem(
        admin("POST", "/owners", {"code": "OWN-D", "name": "n", "kind": "farmer"}), 409
    )
    other = owner(admin, "OWN-E")
    problem(admin("PATCH", f"/owners/{other['id']}", {"code": "OWN-D"}), 409)
    assert "cannot be null: name" in problem(
        admin("PATCH", f"/owners/{created['id']}", {"name": None}), 422
    )
    problem(admin("GET", "/owners/999999"), 404)
    problem(admin("PATCH", "/owners/999999", {"name": "x"}), 404)


# --- Dealers and technicians ----------------------------------------------------------------------


def test_dealers_are_created_filtered_and_patched(admin: Admin) -> None:
    north = dealer(
        admin,
        "DLR-N",
        region="north",
        timezone="Europe/London",
        opening_hours={"1": ["07:30", "17:00"]},
    )
    dealer(admin, "DLR-S", region="south")
    assert north["opening_hours"] == {"1": ["07:30", "17:00"]}
    assert [x["code"] for x in ok(admin("GET", "/dealers", region="north"))["items"]] == ["DLR-N"]
    patched = ok(admin("PATCH", f"/dealers/{north['id']}", {"active": False, "lat": 52.1}))
    assert (patched["active"], patched["lat"], patched["timezone"]) == (
        False,
        52.1,
        "Europe/London",
    )
    assert "Mars/Base" in problem(
        admin("PATCH", f"/dealers/{north['id']}", {"timezone": "Mars/Base"}), 422
    )
    hours = {"opening_hours": {"2": ["18:00", "08:00"]}}
    assert "not before it closes" in problem(admin("PATCH", f"/dealers/{north['id']}", hours), 422)
    assert "dealer with this code exists" in problem(
        admin("POST", "/dealers", {"code": "DLR-S", "name": "again"}), 409
    )


def test_technicians_are_listed_by_dealer_and_skill_and_deactivated(admin: Admin) -> None:
    d1, d2 = dealer(admin, "DLR-T1"), dealer(admin, "DLR-T2")
    body = {"dealer_id": d1["id"], "name": "Kim", "skills": ["hydraulics", "engine"]}
    kim = ok(admin("POST", "/technicians", body), 201)
    ok(
        admin("POST", "/technicians", {"dealer_id": d2["id"], "name": "Lee", "skills": ["engine"]}),
        201,
    )
    hyd = ok(admin("GET", "/technicians", skill="hydraulics"))["items"]
    assert [t["name"] for t in hyd] == ["Kim"]
    assert [t["name"] for t in ok(admin("GET", "/technicians", dealer_id=d2["id"]))["items"]] == [
        "Lee"
    ]
    patched = ok(admin("PATCH", f"/technicians/{kim['id']}", {"active": False, "skills": []}))
    assert (patched["active"], patched["skills"]) == (False, [])
    assert ok(admin("GET", "/technicians", active=True))["items"][0]["name"] == "Lee"
    problem(
        admin(
            "POST", "/technicians", {"dealer_id": d1["id"], "name": "Z", "skills": ["Bad Skill"]}
        ),
        422,
    )
    assert "dealer_id" in problem(
        admin("POST", "/technicians", {"dealer_id": 999999, "name": "Z"}), 422
    )


# --- Machines -------------------------------------------------------------------------------------


@pytest.fixture
def fleet(admin: Admin) -> tuple[int, int, int]:
    d, seller = dealer(admin, "DLR-M"), dealer(admin, "DLR-SELL")
    return owner(admin, "OWN-M")["id"], d["id"], seller["id"]


def test_a_machine_is_registered_with_its_commercial_facts(
    admin: Admin, fleet: tuple[int, int, int]
) -> None:
    owner_id, dealer_id, seller_id = fleet
    created = ok(
        machine(
            admin,
            "T-9001",
            owner_id=owner_id,
            dealer_id=dealer_id,
            selling_dealer_id=seller_id,
            pin="1RW6155MCPA012345",
            purchase_date="2024-03-01",
            purchase_price="185000.00",
            warranty_end="2027-03-01",
            year=2024,
        ),
        201,
    )
    assert ok(admin("GET", "/machines/T-9001")) == created
    assert (created["selling_dealer_id"], created["pin"]) == (seller_id, "1RW6155MCPA012345")
    assert created["mqtt_provisioned"] is False


def test_duplicate_serials_and_pins_are_409(admin: Admin, fleet: tuple[int, int, int]) -> None:
    owner_id, dealer_id, _ = fleet
    pin = "1RW6155MCPA099999"
    ok(machine(admin, "T-9002", owner_id=owner_id, dealer_id=dealer_id, pin=pin), 201)
    assert "serial exists" in problem(
        machine(admin, "T-9002", owner_id=owner_id, dealer_id=dealer_id), 409
    )
    assert "PIN exists" in problem(
        machine(admin, "T-9003", owner_id=owner_id, dealer_id=dealer_id, pin=pin), 409
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"pin": "1RW6155MCPA01234"}, "pin"),  # 16 characters
        ({"serial": "t/9"}, "serial"),
        ({"kind": "bulldozer"}, "tractor"),
        ({"owner_id": 999999}, "owner_id"),
        ({"purchase_date": "2025-01-01", "warranty_end": "2024-01-01"}, "before purchase_date"),
    ],
)
def test_invalid_machines_are_422_with_the_reason(
    admin: Admin, fleet: tuple[int, int, int], extra: dict[str, object], reason: str
) -> None:
    owner_id, dealer_id, _ = fleet
    body = {"owner_id": owner_id, "dealer_id": dealer_id, **extra}
    serial = str(body.pop("serial", "T-9004"))
    assert reason in problem(machine(admin, serial, **body), 422)  # type: ignore[arg-type]
    assert ok(admin("GET", "/machines"))["items"] == []


def test_machine_pages_and_patches(admin: Admin, fleet: tuple[int, int, int]) -> None:
    owner_id, dealer_id, _ = fleet
    serials = [f"T-91{i}" for i in range(5)]
    for serial in serials:
        ok(machine(admin, serial, owner_id=owner_id, dealer_id=dealer_id), 201)
    ok(machine(admin, "E-9100", owner_id=owner_id, dealer_id=dealer_id, kind="excavator"), 201)
    seen: list[str] = []
    after = ""
    while True:
        page = ok(admin("GET", "/machines", after=after, limit=2, kind="tractor"))
        seen += [m["serial"] for m in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == serials
    patched = ok(admin("PATCH", "/machines/T-910", {"warranty_end": "2030-01-01", "active": False}))
    assert (patched["warranty_end"], patched["active"], patched["kind"]) == (
        "2030-01-01",
        False,
        "tractor",
    )
    retired = ok(admin("GET", "/machines", active=False))["items"]
    assert [m["serial"] for m in retired] == ["T-910"]
    assert "Extra inputs" in problem(admin("PATCH", "/machines/T-911", {"serial": "T-999"}), 422)
    problem(admin("PATCH", "/machines/T-NONE", {"model": "x"}), 404)
