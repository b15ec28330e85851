"""The OpenAPI document of /v1/dispatch: every operation names its response model and documents
its problem answers as application/problem+json; positions are application/geo+json."""

from __future__ import annotations

from typing import Any, Final

import pytest

from api.app import create_app
from ironlink.settings import load

DOC: Final = create_app(load({})).openapi()
OPERATIONS: Final = [
    (method.upper(), path, op)
    for path, ops in DOC["paths"].items()
    if path.startswith("/v1/dispatch")
    for method, op in ops.items()
]
# Refused by state (409) as well as missing (404): the writes on a ticket.
CONFLICTS: Final = {
    "POST /v1/dispatch/tickets/{ticket_id}/assign",
    "POST /v1/dispatch/tickets/{ticket_id}/transition",
    "POST /v1/dispatch/tickets/{ticket_id}/parts",
    "POST /v1/dispatch/subscriptions",  # the dealer's active subscription to the same target
}
# Name a dealer by code in the query or body: 404 when it is not in the key's scope.
DEALER_NAMED: Final = {
    "GET /v1/dispatch/tickets",
    "GET /v1/dispatch/technicians",
    "GET /v1/dispatch/subscriptions",
    "POST /v1/dispatch/subscriptions",
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return found
    return schema


def _ids() -> list[str]:
    return [f"{m} {p}" for m, p, _ in OPERATIONS]


def test_the_dispatch_routes_are_all_documented() -> None:
    assert set(_ids()) >= {
        "GET /v1/dispatch/tickets",
        "GET /v1/dispatch/tickets/{ticket_id}",
        "POST /v1/dispatch/tickets/{ticket_id}/assign",
        "POST /v1/dispatch/tickets/{ticket_id}/transition",
        "POST /v1/dispatch/tickets/{ticket_id}/notes",
        "GET /v1/dispatch/tickets/{ticket_id}/parts",
        "POST /v1/dispatch/tickets/{ticket_id}/parts",
        "GET /v1/dispatch/dealers/{dealer_code}/stock",
        "GET /v1/dispatch/technicians",
        "GET /v1/dispatch/customers/{owner_id}",
        "GET /v1/dispatch/fleet/health",
        "GET /v1/dispatch/fleet/positions",
    }


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_ids())
def test_success_has_a_named_model(method: str, path: str, op: dict[str, Any]) -> None:
    (success,) = [code for code in op["responses"] if code.startswith("2")]
    if success == "204":  # a deletion answers no body at all
        assert "content" not in op["responses"][success]
        return
    (content,) = op["responses"][success]["content"].values()
    assert content["schema"]["$ref"].startswith("#/components/schemas/")


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_ids())
def test_problems_are_documented_as_problem_json(
    method: str, path: str, op: dict[str, Any]
) -> None:
    expected = {"401", "403", "422", "429"}
    if "{" in path or f"{method} {path}" in DEALER_NAMED:
        expected.add("404")  # a record in the path, or a dealer code
    if f"{method} {path}" in CONFLICTS:
        expected.add("409")
    problems = {code for code in op["responses"] if not code.startswith("2")}
    assert problems == expected
    for code in problems:
        (media,) = op["responses"][code]["content"]
        schema = _resolve(op["responses"][code]["content"][media]["schema"])
        assert media == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= set(schema["properties"])


def test_positions_are_served_as_geojson() -> None:
    op = DOC["paths"]["/v1/dispatch/fleet/positions"]["get"]
    assert list(op["responses"]["200"]["content"]) == ["application/geo+json"]
    schema = DOC["components"]["schemas"]["PositionCollection"]
    assert schema["properties"]["type"]["const"] == "FeatureCollection"


def test_request_bodies_are_named_models() -> None:
    for method, path, op in OPERATIONS:
        if method == "POST":
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].startswith("#/components/schemas/"), path
