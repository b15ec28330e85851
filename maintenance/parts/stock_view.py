"""A dealer's parts shelf as the dispatcher reads it: on hand, reserved, available and what is
waiting on backorder, by part number."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class StockLine:
    part_no: str
    description: str
    unit_price: Decimal | None
    on_hand: int
    reserved: int
    available: int
    backordered: int  # units requested at this dealer and waiting for a delivery


# "Low" is a shelf that cannot serve a request of `min_available` units, or one that already owes
# units to backorders: either way the dealer should order. starts_with() needs no LIKE escaping of
# '%' or '_' in a part number.
DEALER_STOCK: Final[LiteralString] = """
SELECT s.part_no, p.description, p.unit_price, s.on_hand, s.reserved,
       s.on_hand - s.reserved AS available, coalesce(b.qty, 0)::integer AS backordered
FROM dealer_stock s
JOIN parts p ON p.part_no = s.part_no
LEFT JOIN LATERAL (
    SELECT sum(r.qty) AS qty FROM parts_requests r
    WHERE r.dealer_id = s.dealer_id AND r.part_no = s.part_no AND r.status = 'backordered'
) b ON true
WHERE s.dealer_id = %(dealer_id)s AND starts_with(s.part_no, %(prefix)s)
  AND s.part_no > %(after)s
  AND (NOT %(low)s OR s.on_hand - s.reserved < %(min_available)s OR b.qty > 0)
ORDER BY s.part_no
LIMIT %(limit)s
"""


def dealer_stock(
    conn: Conn,
    *,
    dealer_id: int,
    prefix: str = "",
    low: bool = False,
    min_available: int = 1,
    after: str = "",
    limit: int = 100,
) -> list[StockLine]:
    params = {
        "dealer_id": dealer_id,
        "prefix": prefix,
        "low": low,
        "min_available": min_available,
        "after": after,
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(StockLine)) as cur:
        return cur.execute(DEALER_STOCK, params).fetchall()
