"""RFC 9457 problem details for every error, including domain errors mapped in one table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def install(app: FastAPI) -> None:
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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware calls this, then re-raises so the server logs the
        # traceback; the client gets none of it (its text may name tables, queries or paths).
        return problem(500, "the server failed to answer this request; it has been logged")
