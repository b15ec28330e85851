"""/health: the process is up and its database answers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Conn

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    timescaledb: str | None


@router.get("/health", summary="Liveness and database reachability")
def health(conn: Conn) -> Health:
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return Health(status="ok", database="ok", timescaledb=str(row[0]) if row else None)
