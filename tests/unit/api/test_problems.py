"""Domain errors become problem details with the status of their nearest mapped class."""

from __future__ import annotations

from typing import Annotated

import psycopg
import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from httpx2 import Response

from api import problems
from api.app import create_app
from api.problems import TITLES, status_for
from ironlink.settings import load
from maintenance.errors import (
    AlreadyRated,
    Conflict,
    DomainError,
    Invalid,
    InvalidTransition,
    NotFound,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (InvalidTransition("x"), 409),  # a Conflict: a state the ticket is no longer in
        (AlreadyRated("x"), 409),
        (Invalid("x"), 422),
        (DomainError("x"), 400),
    ],
)
def test_status_by_nearest_mapped_class(error: DomainError, status: int) -> None:
    assert status_for(error) == status


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/status/{status}")
    def raise_status(status: int) -> None:
        headers = {"Retry-After": "3"} if status == 429 else None
        raise HTTPException(status, f"said {status}", headers=headers)

    @app.get("/domain")
    def raise_domain() -> None:
        raise InvalidTransition("ticket 7 is closed")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/ironlink/api/secret.py")

    @app.get("/nul")
    def nul() -> None:
        # What psycopg raises, before sending, for a text parameter holding U+0000.
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    @app.get("/overflow")
    def overflow() -> None:
        raise psycopg.errors.NumericValueOutOfRange("bigint out of range")

    @app.get("/typed")
    def typed(limit: Annotated[int, Query(ge=1)]) -> None:
        return None

    return app


def _assert_problem(response: Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["title"] == TITLES[status]
    assert str(body["type"]).startswith("https://ironlink.dev/problems/")
    assert isinstance(body["detail"], str)
    return body


@pytest.mark.parametrize("status", [401, 403, 404, 409, 429, 500])
def test_http_exceptions_become_problem_details(status: int) -> None:
    body = _assert_problem(TestClient(_app()).get(f"/status/{status}"), status)
    assert body["detail"] == f"said {status}"


def test_429_keeps_its_retry_after_header() -> None:
    response = TestClient(_app()).get("/status/429")
    _assert_problem(response, 429)
    assert response.headers["retry-after"] == "3"


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow() -> None:
    client = TestClient(_app())
    _assert_problem(client.get("/nowhere"), 404)
    response = client.post("/domain")
    _assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_validation_errors_are_422_naming_the_field_without_echoing_input() -> None:
    response = TestClient(_app()).get("/typed", params={"limit": "<script>"})
    body = _assert_problem(response, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "limit"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]
    assert "<script>" not in response.text


def test_domain_errors_carry_their_slug() -> None:
    body = _assert_problem(TestClient(_app()).get("/domain"), 409)
    assert body["type"] == "https://ironlink.dev/problems/invalid-transition"
    assert body["detail"] == "ticket 7 is closed"


def test_an_unexpected_error_is_500_without_internals() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    body = _assert_problem(response, 500)
    for leak in ("hunter2", "secret.py", "RuntimeError", "Traceback"):
        assert leak not in response.text
    assert set(body) == {"type", "title", "status", "detail"}


def test_the_real_app_answers_unknown_paths_and_methods_with_problems() -> None:
    # No lifespan (no `with`): these answers need no database.
    client = TestClient(create_app(load({})))
    _assert_problem(client.get("/v1/owner/nowhere"), 404)
    _assert_problem(client.delete("/v1/owner/machines"), 405)


def test_a_request_without_a_key_is_refused_before_any_database_work() -> None:
    # No lifespan, so no pool: reaching for a connection would be a 500, not this 401.
    client = TestClient(create_app(load({})), raise_server_exceptions=False)
    response = client.get("/v1/owner/machines")
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_documented_error_is_problem_json_with_its_headers() -> None:
    doc = create_app(load({})).openapi()
    assert "HTTPValidationError" not in doc["components"]["schemas"], "a 422 not ours documented"
    assert {"type", "title", "status", "detail"} <= set(
        doc["components"]["schemas"]["Problem"]["properties"]
    )
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                if code.startswith("2"):
                    continue
                where = f"{method.upper()} {path} {code}"
                assert list(response["content"]) == ["application/problem+json"], where
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, where
                header = {"401": "WWW-Authenticate", "429": "Retry-After"}.get(code)
                assert header is None or response["headers"][header]["required"], where
            if path.startswith(("/v1/", "/iso15143/")):
                assert {"401", "422", "429"} <= set(op["responses"]), f"{method} {path}"


def test_text_with_nul_is_422_and_other_data_errors_stay_500() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    body = _assert_problem(client.get("/nul"), 422)
    assert "NUL" in str(body["detail"])
    _assert_problem(client.get("/overflow"), 500)
