"""Dealers as a dispatcher's scope: a dealer-bound key sees its own service point only."""

from __future__ import annotations

from typing import Final, LiteralString, TypeAlias

import psycopg

from maintenance.errors import NotFound

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

DEALER_ID_BY_CODE: Final[LiteralString] = """
SELECT id FROM dealers
WHERE code = %(code)s AND (%(scope)s::bigint IS NULL OR id = %(scope)s)
"""


def dealer_id_in_scope(conn: Conn, *, code: str, scope: int | None) -> int:
    """The id of dealer `code` if the scope (a dealer id, None for all) covers it; NotFound, in the
    same words, for a missing dealer and another dealer's code."""
    row = conn.execute(DEALER_ID_BY_CODE, {"code": code, "scope": scope}).fetchone()
    if row is None:
        raise NotFound(f"dealer {code!r} does not exist")
    dealer_id = row[0]
    assert isinstance(dealer_id, int)
    return dealer_id
