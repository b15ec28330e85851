"""Dealer stock: reserve or backorder parts requests, release, consume, receive; every change to
on_hand or reserved writes a stock_movements row, in the caller's transaction.

Concurrency: each function locks the dealer_stock rows it reads availability from (`FOR UPDATE`,
ordered by dealer_id, part_no) before it reads or changes any parts request, and holds them to the
caller's commit. Two transactions wanting the last unit therefore queue on its stock row, and the
second sees what the first left (READ COMMITTED, the default, re-reads a row after waiting for its
lock). The stock-rows-first order, always sorted, is what keeps two of these from deadlocking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, LiteralString, TypeAlias

import psycopg
from psycopg.rows import class_row

from maintenance.errors import Invalid, NotFound
from maintenance.parts.allocation import Decision, Waiting, allocate, fill_backorders

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]
StockKey: TypeAlias = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Stock:
    dealer_id: int
    part_no: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class _Request:
    id: int
    ticket_id: int
    dealer_id: int
    part_no: str
    qty: int
    status: str


CATALOGUE_ON_FIRST_USE: Final[LiteralString] = """
INSERT INTO parts (part_no, description) VALUES (%(part_no)s, %(description)s)
ON CONFLICT (part_no) DO NOTHING
"""
PART_EXISTS: Final[LiteralString] = "SELECT 1 FROM parts WHERE part_no = %(part_no)s"
# A missing stock row cannot be locked, so one is created (nothing on hand) before locking: a
# reservation and a delivery of a part the dealer never stocked then still queue on one row.
ENSURE_STOCK_ROWS: Final[LiteralString] = """
INSERT INTO dealer_stock (dealer_id, part_no)
SELECT k.dealer_id, k.part_no
FROM unnest(%(dealer_ids)s::bigint[], %(part_nos)s::text[]) AS k (dealer_id, part_no)
ORDER BY k.dealer_id, k.part_no
ON CONFLICT (dealer_id, part_no) DO NOTHING
"""
LOCK_STOCK: Final[LiteralString] = """
SELECT s.dealer_id, s.part_no, s.on_hand, s.reserved
FROM dealer_stock s
JOIN unnest(%(dealer_ids)s::bigint[], %(part_nos)s::text[]) AS k (dealer_id, part_no)
  ON k.dealer_id = s.dealer_id AND k.part_no = s.part_no
ORDER BY s.dealer_id, s.part_no
FOR UPDATE OF s
"""
STOCK: Final[LiteralString] = """
SELECT dealer_id, part_no, on_hand, reserved FROM dealer_stock
WHERE dealer_id = %(dealer_id)s AND part_no = %(part_no)s
"""
REQUESTS_BY_ID: Final[LiteralString] = """
SELECT id, ticket_id, dealer_id, part_no, qty, status FROM parts_requests
WHERE id = ANY(%(ids)s) ORDER BY id
"""
# Read again under the stock lock: another transaction may have reserved or released them since.
LOCK_REQUESTS_BY_ID: Final[LiteralString] = REQUESTS_BY_ID + " FOR UPDATE"
STOCK_KEYS_OF_TICKET: Final[LiteralString] = """
SELECT DISTINCT dealer_id, part_no FROM parts_requests
WHERE ticket_id = %(ticket_id)s AND status IN ('reserved', 'backordered')
"""
BACKORDERS_OLDEST_FIRST: Final[LiteralString] = """
SELECT id, ticket_id, dealer_id, part_no, qty, status FROM parts_requests
WHERE dealer_id = %(dealer_id)s AND part_no = %(part_no)s AND status = 'backordered'
ORDER BY created_at, id
FOR UPDATE
"""
SET_REQUEST_STATUS: Final[LiteralString] = (
    "UPDATE parts_requests SET status = %(status)s WHERE id = %(id)s"
)
ADD_RESERVED: Final[LiteralString] = """
UPDATE dealer_stock SET reserved = reserved + %(qty)s, updated_at = now()
WHERE dealer_id = %(dealer_id)s AND part_no = %(part_no)s
"""
INSERT_MOVEMENT: Final[LiteralString] = """
INSERT INTO stock_movements (dealer_id, part_no, on_hand_delta, reserved_delta, kind,
                             parts_request_id, ticket_id, actor)
VALUES (%(dealer_id)s, %(part_no)s, %(on_hand_delta)s, %(reserved_delta)s, %(kind)s,
        %(parts_request_id)s, %(ticket_id)s, %(actor)s)
"""
# A backorder of a cancelled or resolved ticket is no longer wanted: receive() must not fill it.
DROP_BACKORDERS_OF_TICKET: Final[LiteralString] = """
UPDATE parts_requests SET status = 'released'
WHERE ticket_id = %(ticket_id)s AND status = 'backordered'
RETURNING id
"""
RELEASE_RESERVED_OF_TICKET: Final[LiteralString] = """
WITH moved AS (
    UPDATE parts_requests SET status = 'released'
    WHERE ticket_id = %(ticket_id)s AND status = 'reserved'
    RETURNING id, ticket_id, dealer_id, part_no, qty
), totals AS (
    SELECT dealer_id, part_no, sum(qty)::integer AS qty FROM moved GROUP BY dealer_id, part_no
), stock AS (
    UPDATE dealer_stock s SET reserved = s.reserved - t.qty, updated_at = now()
    FROM totals t WHERE s.dealer_id = t.dealer_id AND s.part_no = t.part_no
)
INSERT INTO stock_movements (dealer_id, part_no, on_hand_delta, reserved_delta, kind,
                             parts_request_id, ticket_id, actor)
SELECT dealer_id, part_no, 0, -qty, 'release', id, ticket_id, %(actor)s FROM moved
RETURNING parts_request_id
"""
CONSUME_RESERVED_OF_TICKET: Final[LiteralString] = """
WITH moved AS (
    UPDATE parts_requests SET status = 'consumed'
    WHERE ticket_id = %(ticket_id)s AND status = 'reserved'
    RETURNING id, ticket_id, dealer_id, part_no, qty
), totals AS (
    SELECT dealer_id, part_no, sum(qty)::integer AS qty FROM moved GROUP BY dealer_id, part_no
), stock AS (
    UPDATE dealer_stock s
    SET on_hand = s.on_hand - t.qty, reserved = s.reserved - t.qty, updated_at = now()
    FROM totals t WHERE s.dealer_id = t.dealer_id AND s.part_no = t.part_no
)
INSERT INTO stock_movements (dealer_id, part_no, on_hand_delta, reserved_delta, kind,
                             parts_request_id, ticket_id, actor)
SELECT dealer_id, part_no, -qty, -qty, 'consume', id, ticket_id, %(actor)s FROM moved
RETURNING parts_request_id
"""
LOCK_STOCK_OF_DEALERS: Final[LiteralString] = """
SELECT 1 FROM dealer_stock WHERE dealer_id = ANY(%(dealer_ids)s)
ORDER BY dealer_id, part_no
FOR UPDATE
"""
# Run after LOCK_STOCK_OF_DEALERS, as its own statement: its snapshot then includes every
# reservation committed while the locks were awaited.
RELEASE_ORPHANED_RESERVATIONS: Final[LiteralString] = """
WITH live AS (
    SELECT dealer_id, part_no, sum(qty)::integer AS qty FROM parts_requests
    WHERE status = 'reserved' AND dealer_id = ANY(%(dealer_ids)s)
    GROUP BY dealer_id, part_no
), orphaned AS (
    SELECT s.dealer_id, s.part_no, s.reserved - coalesce(v.qty, 0) AS qty
    FROM dealer_stock s LEFT JOIN live v USING (dealer_id, part_no)
    WHERE s.dealer_id = ANY(%(dealer_ids)s) AND s.reserved > coalesce(v.qty, 0)
), fixed AS (
    UPDATE dealer_stock s SET reserved = s.reserved - o.qty, updated_at = now()
    FROM orphaned o WHERE s.dealer_id = o.dealer_id AND s.part_no = o.part_no
)
INSERT INTO stock_movements (dealer_id, part_no, on_hand_delta, reserved_delta, kind, actor)
SELECT dealer_id, part_no, 0, -qty, 'adjust', %(actor)s FROM orphaned
RETURNING -reserved_delta
"""
# The upsert locks the row like SELECT ... FOR UPDATE would, and creates it for a first delivery.
RECEIVE: Final[LiteralString] = """
INSERT INTO dealer_stock AS s (dealer_id, part_no, on_hand)
VALUES (%(dealer_id)s, %(part_no)s, %(qty)s)
ON CONFLICT (dealer_id, part_no)
DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand, updated_at = now()
"""


def catalogue_on_first_use(conn: Conn, parts: Iterable[tuple[str, str]]) -> None:
    """Creates unpriced catalogue rows for (part_no, description) pairs not catalogued yet (see
    0008_parts_stock.sql for why a rule's part is catalogued instead of refused)."""
    rows = [{"part_no": p, "description": d} for p, d in sorted(set(parts))]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(CATALOGUE_ON_FIRST_USE, rows)


def stock(conn: Conn, *, dealer_id: int, part_no: str) -> Stock | None:
    with conn.cursor(row_factory=class_row(Stock)) as cur:
        return cur.execute(STOCK, {"dealer_id": dealer_id, "part_no": part_no}).fetchone()


def _lock_stock(conn: Conn, keys: Iterable[StockKey]) -> dict[StockKey, Stock]:
    ordered = sorted(set(keys))
    params = {"dealer_ids": [d for d, _ in ordered], "part_nos": [p for _, p in ordered]}
    conn.execute(ENSURE_STOCK_ROWS, params)
    with conn.cursor(row_factory=class_row(Stock)) as cur:
        return {(s.dealer_id, s.part_no): s for s in cur.execute(LOCK_STOCK, params).fetchall()}


def _requests(conn: Conn, query: LiteralString, params: dict[str, object]) -> list[_Request]:
    with conn.cursor(row_factory=class_row(_Request)) as cur:
        return cur.execute(query, params).fetchall()


def _mark_reserved(conn: Conn, requests: Sequence[_Request], *, actor: str) -> None:
    """Reserves requests whose stock rows the caller holds locked and has found enough on."""
    if not requests:
        return
    with conn.cursor() as cur:
        cur.executemany(
            SET_REQUEST_STATUS, [{"id": r.id, "status": Decision.RESERVE} for r in requests]
        )
        cur.executemany(
            ADD_RESERVED,
            [{"dealer_id": r.dealer_id, "part_no": r.part_no, "qty": r.qty} for r in requests],
        )
        cur.executemany(
            INSERT_MOVEMENT,
            [
                {
                    "dealer_id": r.dealer_id,
                    "part_no": r.part_no,
                    "on_hand_delta": 0,
                    "reserved_delta": r.qty,
                    "kind": "reserve",
                    "parts_request_id": r.id,
                    "ticket_id": r.ticket_id,
                    "actor": actor,
                }
                for r in requests
            ],
        )


def reserve_for_requests(
    conn: Conn, *, parts_request_ids: Sequence[int], actor: str
) -> dict[int, Decision]:
    """Reserves each request ('requested' or 'backordered') in full at its dealer, or backorders it;
    in id order, so an older request is served first. Requests in any other status are left as
    they are and not in the answer."""
    ids = sorted(set(parts_request_ids))
    if not ids:
        return {}
    first_look = _requests(conn, REQUESTS_BY_ID, {"ids": ids})
    stock_by_key = _lock_stock(conn, ((r.dealer_id, r.part_no) for r in first_look))
    available = {key: s.available for key, s in stock_by_key.items()}
    decisions: dict[int, Decision] = {}
    to_reserve: list[_Request] = []
    to_backorder: list[_Request] = []
    for r in _requests(conn, LOCK_REQUESTS_BY_ID, {"ids": ids}):
        if r.status not in ("requested", "backordered"):
            continue
        key = (r.dealer_id, r.part_no)
        decision = allocate(available=available.get(key, 0), qty=r.qty)
        decisions[r.id] = decision
        if decision is Decision.RESERVE:
            available[key] -= r.qty
            to_reserve.append(r)
        elif r.status != Decision.BACKORDER:
            to_backorder.append(r)
    _mark_reserved(conn, to_reserve, actor=actor)
    if to_backorder:
        with conn.cursor() as cur:
            cur.executemany(
                SET_REQUEST_STATUS,
                [{"id": r.id, "status": Decision.BACKORDER} for r in to_backorder],
            )
    return decisions


def reserve_for_request(conn: Conn, *, parts_request_id: int, actor: str) -> Decision | None:
    """None when the request is not waiting for stock (already reserved, consumed or released)."""
    return reserve_for_requests(conn, parts_request_ids=[parts_request_id], actor=actor).get(
        parts_request_id
    )


def _fill_backorders(conn: Conn, *, dealer_id: int, part_no: str, actor: str) -> list[int]:
    """Reserves the backorders of a stock row the caller holds locked, oldest first, while what is
    available lasts."""
    params = {"dealer_id": dealer_id, "part_no": part_no}
    now = stock(conn, dealer_id=dealer_id, part_no=part_no)
    if now is None or now.available <= 0:
        return []
    waiting = _requests(conn, BACKORDERS_OLDEST_FIRST, params)
    filled = set(
        fill_backorders(available=now.available, waiting=[Waiting(r.id, r.qty) for r in waiting])
    )
    _mark_reserved(conn, [r for r in waiting if r.id in filled], actor=actor)
    return [r.id for r in waiting if r.id in filled]


def _settle_ticket(conn: Conn, *, ticket_id: int, actor: str, settle: LiteralString) -> list[int]:
    keys = conn.execute(STOCK_KEYS_OF_TICKET, {"ticket_id": ticket_id}).fetchall()
    locked = _lock_stock(conn, ((int(d), str(p)) for d, p in keys))  # type: ignore[call-overload]
    conn.execute(DROP_BACKORDERS_OF_TICKET, {"ticket_id": ticket_id})
    rows = conn.execute(settle, {"ticket_id": ticket_id, "actor": actor}).fetchall()
    # Released units are as good as a delivery to whoever has been waiting for them longest.
    for dealer_id, part_no in sorted(locked):
        _fill_backorders(conn, dealer_id=dealer_id, part_no=part_no, actor=actor)
    return sorted(int(r[0]) for r in rows)  # type: ignore[call-overload]


def release(conn: Conn, *, ticket_id: int, actor: str) -> list[int]:
    """On cancel: the ticket's reserved requests go back on the shelf (status 'released') and its
    backorders are dropped; the units freed go to other tickets' backorders, oldest first. Returns
    the ids of the requests whose reservation was released."""
    return _settle_ticket(conn, ticket_id=ticket_id, actor=actor, settle=RELEASE_RESERVED_OF_TICKET)


def consume(conn: Conn, *, ticket_id: int, actor: str) -> list[int]:
    """On resolve: the ticket's reserved parts leave the shelf (on_hand and reserved both drop),
    and backorders still open are dropped, since the job is done without them (a dropped backorder
    that was first in line may let younger ones be filled). Returns the ids of the consumed
    requests."""
    return _settle_ticket(conn, ticket_id=ticket_id, actor=actor, settle=CONSUME_RESERVED_OF_TICKET)


def receive(conn: Conn, *, dealer_id: int, part_no: str, qty: int, actor: str) -> list[int]:
    """Books qty units into the dealer's stock, then reserves that dealer's backorders of the part
    oldest first while the stock lasts (see allocation.fill_backorders). Returns the ids of the
    requests reserved."""
    if qty <= 0:
        raise Invalid(f"a delivery needs a positive quantity, got {qty}")
    if conn.execute(PART_EXISTS, {"part_no": part_no}).fetchone() is None:
        raise NotFound(f"part {part_no} is not in the catalogue")
    params = {"dealer_id": dealer_id, "part_no": part_no}
    conn.execute(RECEIVE, {**params, "qty": qty})
    conn.execute(
        INSERT_MOVEMENT,
        {
            **params,
            "on_hand_delta": qty,
            "reserved_delta": 0,
            "kind": "receive",
            "parts_request_id": None,
            "ticket_id": None,
            "actor": actor,
        },
    )
    return _fill_backorders(conn, dealer_id=dealer_id, part_no=part_no, actor=actor)


def release_orphaned_reservations(conn: Conn, *, dealer_ids: Sequence[int], actor: str) -> int:
    """Puts back on the shelf units reserved for requests that no longer exist (the demo truncates
    tickets and their requests on every start) or no longer hold them, as 'adjust' movements.
    Returns how many units were freed."""
    params = {"dealer_ids": list(dealer_ids), "actor": actor}
    conn.execute(LOCK_STOCK_OF_DEALERS, params)
    rows = conn.execute(RELEASE_ORPHANED_RESERVATIONS, params).fetchall()
    return sum(int(r[0]) for r in rows)  # type: ignore[call-overload]
