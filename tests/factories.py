"""Keyword factory functions for test records; each call makes unique natural keys."""

from __future__ import annotations

import uuid

import psycopg

from telemetry.wire import Kind


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def _one(
    conn: psycopg.Connection[tuple[object, ...]], query: str, params: tuple[object, ...]
) -> int:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def make_dealer(conn: psycopg.Connection[tuple[object, ...]], *, name: str = "Test Dealer") -> int:
    return _one(
        conn,
        "INSERT INTO dealers (code, name) VALUES (%s, %s) RETURNING id",
        (_unique("DLR"), name),
    )


def make_owner(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    dealer_id: int | None = None,
    kind: str = "farmer",
) -> int:
    return _one(
        conn,
        "INSERT INTO owners (code, name, kind, dealer_id) VALUES (%s, %s, %s, %s) RETURNING id",
        (_unique("OWN"), "Test Owner", kind, dealer_id),
    )


def make_machine(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    owner_id: int,
    dealer_id: int,
    kind: Kind = Kind.TRACTOR,
    model: str = "6155M",
) -> tuple[int, str]:
    serial = _unique("T" if kind is Kind.TRACTOR else "E")
    machine_id = _one(
        conn,
        "INSERT INTO machines (serial, kind, model, owner_id, dealer_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (serial, str(kind), model, owner_id, dealer_id),
    )
    return machine_id, serial
