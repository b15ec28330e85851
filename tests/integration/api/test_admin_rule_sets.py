"""/v1/admin/rule-sets on the real database: uploads in YAML and JSON go through the same
validation as `ironlink rules load`; an invalid one changes nothing; versions only go up, and going
back to an older set loads its document again as the next version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.settings import Settings
from maintenance.rules.load import shipped_text
from maintenance.rules.store import active_version

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def http(settings: Settings, conn: Conn) -> Iterator[TestClient]:
    key = create_key(conn, role=Role.ADMIN)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def shipped(version: int) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(shipped_text())
    return {**document, "version": version}


def upload_yaml(http: TestClient, document: object) -> Any:
    return http.post(
        "/v1/admin/rule-sets",
        content=yaml.safe_dump(document).encode(),
        headers={"Content-Type": "application/yaml"},
    )


def test_yaml_and_json_uploads_become_the_active_version(http: TestClient, conn: Conn) -> None:
    response = upload_yaml(http, shipped(100))
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 100
    assert response.json()["active"] is True
    response = http.post("/v1/admin/rule-sets", json=shipped(101))
    assert response.status_code == 201, response.text
    assert active_version(conn) == 101
    active = http.get("/v1/admin/rule-sets/active").json()
    assert active["version"] == 101
    assert active["document"]["rules"][0]["key"] == "svc-250h"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["rules"][0].update(every_h="often"), "svc-250h"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "used more than once: svc-250h"),
        (lambda d: d.pop("rules"), "rules"),
    ],
)
def test_an_invalid_rule_set_is_422_with_the_reason_and_changes_nothing(
    http: TestClient, conn: Conn, mutate: Any, reason: str
) -> None:
    assert upload_yaml(http, shipped(10)).status_code == 201
    document = shipped(11)
    mutate(document)
    response = upload_yaml(http, document)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert [r["version"] for r in http.get("/v1/admin/rule-sets").json()["items"]] == [10]
    assert active_version(conn) == 10


def test_text_that_is_not_yaml_is_422(http: TestClient) -> None:
    response = http.post(
        "/v1/admin/rule-sets", content=b"version: [", headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 422
    assert "not YAML" in response.json()["detail"]


def test_a_version_not_above_the_newest_is_409(http: TestClient) -> None:
    assert upload_yaml(http, shipped(20)).status_code == 201
    response = http.post(
        "/v1/admin/rule-sets",
        content=json.dumps(shipped(20)).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 409
    assert "at least 21" in response.json()["detail"]


def test_versions_are_listed_newest_first_in_keyset_pages(http: TestClient) -> None:
    for version in (1, 2, 3, 4, 5):
        assert upload_yaml(http, shipped(version)).status_code == 201
    seen: list[int] = []
    params: dict[str, int] = {"limit": 2}
    while True:
        page = http.get("/v1/admin/rule-sets", params=params).json()
        seen += [r["version"] for r in page["items"]]
        if page["next_before"] is None:
            break
        params["before"] = page["next_before"]
    assert seen == [5, 4, 3, 2, 1]
    active = http.get("/v1/admin/rule-sets", params={"active": True}).json()["items"]
    assert [r["version"] for r in active] == [5]


def test_going_back_loads_the_old_document_as_the_next_version(
    http: TestClient, conn: Conn
) -> None:
    old = shipped(30)
    old["rules"] = old["rules"][:2]
    assert upload_yaml(http, old).status_code == 201
    assert upload_yaml(http, shipped(31)).status_code == 201
    response = http.post("/v1/admin/rule-sets/30/activate")
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["rules"]) == (32, 2)
    assert "reactivated version 30" in response.json()["source"]
    again = http.get("/v1/admin/rule-sets/32").json()
    assert [r["key"] for r in again["document"]["rules"]] == [r["key"] for r in old["rules"]]
    assert active_version(conn) == 32
    assert http.post("/v1/admin/rule-sets/32/activate").status_code == 409
    assert http.post("/v1/admin/rule-sets/7/activate").status_code == 404
    assert http.get("/v1/admin/rule-sets/7").status_code == 404
