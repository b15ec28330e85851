"""RFC 9457 problem details for every error, including domain errors mapped in one table, and
their one description for the OpenAPI document (`responses`, and the `Problem` schema)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from maintenance.errors import Conflict, DomainError, Invalid, NotFound

MEDIA_TYPE: Final = "application/problem+json"
STATUS_BY_ERROR: Final[dict[type[DomainError], int]] = {NotFound: 404, Conflict: 409, Invalid: 422}
TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


# What each status means to a caller; a router may say it for its audience (`responses(why=...)`).
WHY: Final[Mapping[int, str]] = {
    401: "no bearer API key, or an unknown or revoked one",
    403: "the key's role may not use this route",
    404: "no such record in the key's scope (another's record answers the same)",
    409: "the record's state refuses the change; `detail` says why",
    422: "a parameter or the body is invalid; `detail` (and `errors`) say which and why",
    429: "the key's rate limit is spent; retry after the Retry-After header's seconds",
    503: "a service this route needs is not available; nothing changed",
}
# Headers an answer of that status always carries (deps.py sets both).
_HEADERS: Final[Mapping[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "the scheme to authenticate with",
            "required": True,
            "schema": {"type": "string", "const": "Bearer"},
        }
    },
    429: {
        "Retry-After": {
            "description": "whole seconds until the key may call again",
            "required": True,
            "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        }
    },
}
_REF: Final = "#/components/schemas/"


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, path or header, then names")
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered (media type
    application/problem+json)."""

    type: str = Field(examples=["https://ironlink.dev/problems/not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no machine 'T-0001'"])
    errors: list[FieldError] | None = Field(
        default=None, description="request validation only: each failing field and why"
    )


def responses(
    *statuses: int, why: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for problem answers of these statuses, for a router or a route.

    Only application/problem+json: FastAPI's `model` key would also claim application/json, which
    no error is ever answered in. The schema is registered by `install`."""
    return {
        status: {
            "description": {**WHY, **(why or {})}[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": _REF + "Problem"}}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


def _with_problem_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schema = Problem.model_json_schema(ref_template=_REF + "{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["Problem"] = schema
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


def _slug(status: int) -> str:
    return TITLES.get(status, "error").lower().replace(" ", "-")


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body: dict[str, object] = {
        "type": f"https://ironlink.dev/problems/{slug or _slug(status)}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_for(exc: DomainError) -> int:
    """The status of the nearest mapped class: a subclass (InvalidTransition of Conflict) answers
    like its base unless mapped itself."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _holds_nul(exc: psycopg.DataError) -> bool:
    # Refused by psycopg before sending (text parameters; no SQLSTATE) or by the server (jsonb).
    if isinstance(exc, psycopg.errors.UntranslatableCharacter):
        return True
    return exc.sqlstate is None and "NUL (0x00)" in str(exc)


def install(app: FastAPI) -> None:
    app.openapi = _with_problem_schema(app)  # type: ignore[method-assign]

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(status_for(exc), exc.detail, slug=exc.slug)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return problem(422, "request failed validation", slug="invalid-request", errors=errors)

    @app.exception_handler(psycopg.DataError)
    async def _data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # PostgreSQL text and jsonb cannot hold U+0000, which JSON ("\u0000"), YAML and URLs
        # ("%00") can all carry into any string field or parameter: one check here, at the edge
        # every input reaches, instead of one per field. Other data errors stay 500s (our bug).
        if _holds_nul(exc):
            return problem(
                422, "text may not contain NUL (U+0000) characters", slug="invalid-request"
            )
        raise exc

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware calls this, then re-raises so the server logs the
        # traceback; the client gets none of it (its text may name tables, queries or paths).
        return problem(500, "the server failed to answer this request; it has been logged")
