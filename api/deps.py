"""FastAPI dependencies: a pooled connection per request and the caller's principal by role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.auth import Principal, Role, authenticate

_bearer = HTTPBearer(auto_error=False, description="An IronLink API key: il_<prefix>_<secret>")


def get_conn(request: Request) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[tuple[object, ...]], Depends(get_conn)]


def get_principal(
    conn: Conn, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    principal = authenticate(conn, credentials.credentials)
    if principal is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def require_owner(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.OWNER or principal.owner_id is None:
        raise HTTPException(403, "this route needs an owner key")
    return principal


def require_dispatcher(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    # Admins can see the dispatch queue too; a dispatcher key may be bound to one dealer.
    if principal.role not in (Role.DISPATCHER, Role.ADMIN):
        raise HTTPException(403, "this route needs a dispatcher key")
    return principal


OwnerPrincipal = Annotated[Principal, Depends(require_owner)]
DispatcherPrincipal = Annotated[Principal, Depends(require_dispatcher)]
