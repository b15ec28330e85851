"""Database pool factory and small helpers; no domain queries live here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool


def make_pool(database_url: str, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    pool = ConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True},
        name="ironlink",
    )
    pool.open(wait=True, timeout=30)
    return pool


def connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A plain autocommit connection; callers open transactions explicitly."""
    return psycopg.connect(database_url, autocommit=True)


@contextmanager
def advisory_lock(conn: psycopg.Connection[tuple[object, ...]], key: int) -> Iterator[bool]:
    """Session-level advisory lock: yields whether this connection holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
