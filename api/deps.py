"""FastAPI dependencies: a pooled connection per request and the caller's principal by role.

Order for every authenticated route: 401 (no, unknown or revoked key), then 429 (the key's rate
limit), then 403 (wrong role). Limiting only known keys keeps the limiter's table bounded by the
number of live keys and means an anonymous flood cannot spend a real key's budget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.auth import Principal, Role, authenticate
from api.ratelimit import RateLimiter

_bearer = HTTPBearer(auto_error=False, description="An IronLink API key: il_<prefix>_<secret>")
_limiter_lock = threading.Lock()


def get_conn(request: Request) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[tuple[object, ...]], Depends(get_conn)]


def rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter, made on first use with the default limit of api/ratelimit.py: one per
    app, so per process (see api/ratelimit.py). create_app may set app.state.rate_limiter itself,
    e.g. `RateLimiter(default=Limit(...))` from settings."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        with _limiter_lock:  # handlers run in a thread pool: two first requests may race
            limiter = getattr(state, "rate_limiter", None)
            if limiter is None:
                limiter = state.rate_limiter = RateLimiter()
    return limiter


def bearer_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    # Its own dependency, resolved before the connection: a request without a key is refused
    # without taking one from the pool, so an anonymous flood cannot starve keyed requests.
    if credentials is None:
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


def get_principal(
    key: Annotated[str, Depends(bearer_key)],
    conn: Conn,
    limiter: Annotated[RateLimiter, Depends(rate_limiter)],
) -> Principal:
    principal = authenticate(conn, key)
    if principal is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    limit = principal.limit or limiter.default
    decision = limiter.acquire(principal.key_id, limit)
    if not decision.allowed:
        raise HTTPException(
            429,
            f"this key is limited to {limit.rate_per_s:g} requests/s (bursts of {limit.burst});"
            f" retry after {decision.retry_after_s} s",
            headers={"Retry-After": str(decision.retry_after_s)},
        )
    return principal


AnyPrincipal = Annotated[Principal, Depends(get_principal)]


def require_owner(principal: AnyPrincipal) -> Principal:
    if principal.role is not Role.OWNER or principal.owner_id is None:
        raise HTTPException(403, "this route needs an owner key")
    return principal


def require_dispatcher(principal: AnyPrincipal) -> Principal:
    # Admins can see the dispatch queue too; a dispatcher key may be bound to one dealer.
    if principal.role not in (Role.DISPATCHER, Role.ADMIN):
        raise HTTPException(403, "this route needs a dispatcher key")
    return principal


def require_admin(principal: AnyPrincipal) -> Principal:
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, "this route needs an admin key")
    return principal


OwnerPrincipal = Annotated[Principal, Depends(require_owner)]
DispatcherPrincipal = Annotated[Principal, Depends(require_dispatcher)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
