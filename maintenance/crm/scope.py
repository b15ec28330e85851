"""Which customers a dealer-bound dispatcher may open: owners the dealer looks after (their home
dealer) or whose machines it services."""

from __future__ import annotations

from typing import Final, LiteralString, TypeAlias

import psycopg

from maintenance.errors import NotFound

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

OWNER_IN_SCOPE: Final[LiteralString] = """
SELECT 1 FROM owners o
WHERE o.id = %(owner_id)s
  AND (%(dealer_id)s::bigint IS NULL OR o.dealer_id = %(dealer_id)s
       OR EXISTS (SELECT 1 FROM machines m
                  WHERE m.owner_id = o.id AND m.dealer_id = %(dealer_id)s))
"""


def check_owner_in_scope(conn: Conn, *, owner_id: int, dealer_id: int | None) -> None:
    """NotFound, in the same words, for a missing owner and another dealer's customer."""
    if conn.execute(OWNER_IN_SCOPE, {"owner_id": owner_id, "dealer_id": dealer_id}).fetchone():
        return
    raise NotFound(f"owner {owner_id} not found")


SERIALS_SERVICED_BY: Final[LiteralString] = """
SELECT serial FROM machines WHERE owner_id = %(owner_id)s AND dealer_id = %(dealer_id)s
"""


def serials_serviced_by(conn: Conn, *, owner_id: int, dealer_id: int) -> set[str]:
    """The owner's machines this dealer services: what of a shared customer it may see."""
    rows = conn.execute(SERIALS_SERVICED_BY, {"owner_id": owner_id, "dealer_id": dealer_id})
    return {str(r[0]) for r in rows}
