"""One customer's view across sales and service, and grading every owner.

Money is the customer's: 12-month spend (and grading revenue) is parts plus labour of the service
records of the owner's machines done in the 12 months up to `now`, without warranty work (the maker
pays for it). Records count for the machine's current owner.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Final, LiteralString

import msgspec
import numpy as np
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from maintenance.crm.grading import (
    DEFAULT_CONFIG,
    Floats,
    Grade,
    GradingConfig,
    OwnerFacts,
    depreciated_value,
    grade,
)
from maintenance.crm.grading import usage_trend as trend_of
from maintenance.errors import NotFound

Conn = psycopg.Connection[tuple[object, ...]]
HISTORY_LIMIT: Final = 20
DAYS_PER_YEAR: Final = 365.25

# tickets.satisfaction arrives with migration 0010; until then satisfaction is None.
HAS_SATISFACTION: Final[LiteralString] = """
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'tickets'
                 AND column_name = 'satisfaction')
"""


class WarrantyStatus(enum.StrEnum):
    IN_WARRANTY = "in_warranty"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    id: int
    code: str
    name: str
    kind: str
    region: str
    email: str | None
    phone: str | None
    customer_since: date | None
    dealer_code: str | None
    dealer_name: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    role: str
    phone: str | None
    email: str | None
    preferred: bool


@dataclass(frozen=True, slots=True)
class CustomerMachine:
    id: int
    serial: str
    pin: str | None
    kind: str
    model: str
    year: int | None
    active: bool
    servicing_dealer_code: str
    servicing_dealer_name: str
    selling_dealer_code: str | None
    purchase_date: date | None
    purchase_price: Decimal | None
    warranty_end: date | None
    warranty: WarrantyStatus
    engine_hours: float | None  # latest reported (machine_state); None for a machine never heard
    last_seen: datetime | None
    last_service_at: datetime | None
    last_service_h: float | None


@dataclass(frozen=True, slots=True)
class OpenTicket:
    id: int
    serial: str
    rule_key: str
    kind: str
    title: str
    status: str
    priority: str
    sla_due_at: datetime
    opened_at: datetime
    overdue: bool


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    id: int
    serial: str
    done_at: datetime
    kind: str
    rule_key: str
    engine_hours: float
    technician: str | None
    dealer_code: str | None
    labour_h: Decimal
    labour_cost: Decimal
    parts_cost: Decimal
    parts: list[dict[str, object]]
    notes: str


@dataclass(frozen=True, slots=True)
class Spend:
    parts: Decimal
    labour: Decimal
    records: int

    @property
    def total(self) -> Decimal:
        return self.parts + self.labour


@dataclass(frozen=True, slots=True)
class CustomerView:
    owner: OwnerRecord
    contacts: list[Contact]
    machines: list[CustomerMachine]
    open_tickets: list[OpenTicket]
    service_history: list[ServiceEntry]  # newest first, at most `history_limit`
    spend_12m: Spend
    satisfaction: float | None  # mean of the owner's ticket ratings (1-5); None without any
    ratings: int
    grade: Grade | None  # as last stored by grade_all
    graded_at: datetime | None


OWNER: Final[LiteralString] = """
SELECT o.id, o.code, o.name, o.kind, o.region, o.email, o.phone, o.customer_since,
       d.code AS dealer_code, d.name AS dealer_name
FROM owners o LEFT JOIN dealers d ON d.id = o.dealer_id
WHERE o.id = %(owner_id)s
"""
OWNER_GRADE: Final[LiteralString] = (
    "SELECT grade, graded_at, grade_detail FROM owners WHERE id = %(owner_id)s"
)
CONTACTS: Final[LiteralString] = """
SELECT name, role, phone, email, preferred FROM owner_contacts
WHERE owner_id = %(owner_id)s ORDER BY preferred DESC, name
"""
MACHINES: Final[LiteralString] = """
SELECT m.id, m.serial, m.pin, m.kind, m.model, m.year, m.active,
       d.code AS servicing_dealer_code, d.name AS servicing_dealer_name,
       sd.code AS selling_dealer_code, m.purchase_date, m.purchase_price, m.warranty_end,
       CASE WHEN m.warranty_end IS NULL THEN 'unknown'
            WHEN m.warranty_end >= %(today)s THEN 'in_warranty' ELSE 'expired' END AS warranty,
       s.engine_hours, s.ts AS last_seen, ls.done_at AS last_service_at,
       ls.engine_hours AS last_service_h
FROM machines m
JOIN dealers d ON d.id = m.dealer_id
LEFT JOIN dealers sd ON sd.id = m.selling_dealer_id
LEFT JOIN machine_state s ON s.machine_id = m.id
LEFT JOIN LATERAL (
    SELECT r.done_at, r.engine_hours FROM service_records r
    WHERE r.machine_id = m.id AND r.done_at <= %(now)s ORDER BY r.done_at DESC LIMIT 1
) ls ON true
WHERE m.owner_id = %(owner_id)s
ORDER BY m.serial
"""
OPEN_TICKETS: Final[LiteralString] = """
SELECT t.id, m.serial, t.rule_key, t.kind, t.title, t.status, t.priority, t.sla_due_at,
       t.opened_at, t.sla_due_at < %(now)s AS overdue
FROM tickets t JOIN machines m ON m.id = t.machine_id
WHERE t.owner_id = %(owner_id)s AND t.status NOT IN ('resolved', 'closed', 'cancelled')
ORDER BY t.sla_due_at, t.id
"""
SERVICE_HISTORY: Final[LiteralString] = """
SELECT r.id, m.serial, r.done_at, r.kind, r.rule_key, r.engine_hours, t.name AS technician,
       d.code AS dealer_code, r.labour_h, r.labour_cost, r.parts_cost, r.parts, r.notes
FROM service_records r
JOIN machines m ON m.id = r.machine_id
LEFT JOIN technicians t ON t.id = r.technician_id
LEFT JOIN dealers d ON d.id = r.dealer_id
WHERE m.owner_id = %(owner_id)s AND r.done_at <= %(now)s
ORDER BY r.done_at DESC, r.id DESC
LIMIT %(limit)s
"""
SPEND_12M: Final[LiteralString] = """
SELECT COALESCE(sum(r.parts_cost), 0) AS parts, COALESCE(sum(r.labour_cost), 0) AS labour,
       count(*)::int AS records
FROM service_records r JOIN machines m ON m.id = r.machine_id
WHERE m.owner_id = %(owner_id)s AND r.kind <> 'warranty'
  AND r.done_at > %(now)s - interval '12 months' AND r.done_at <= %(now)s
"""
SATISFACTION: Final[LiteralString] = """
SELECT avg(satisfaction)::float8, count(satisfaction)::int FROM tickets
WHERE owner_id = %(owner_id)s AND satisfaction IS NOT NULL
"""


def _has_satisfaction(conn: Conn) -> bool:
    row = conn.execute(HAS_SATISFACTION).fetchone()
    return bool(row and row[0])


def customer_view(
    conn: Conn, *, owner_id: int, now: datetime, history_limit: int = HISTORY_LIMIT
) -> CustomerView:
    """Everything a dispatcher needs before calling the owner, one query per section.

    Raises NotFound for an unknown owner."""
    params = {"owner_id": owner_id, "now": now, "today": now.date(), "limit": history_limit}
    with conn.cursor(row_factory=class_row(OwnerRecord)) as cur:
        owner = cur.execute(OWNER, params).fetchone()
    if owner is None:
        raise NotFound(f"owner {owner_id} not found")
    with conn.cursor(row_factory=class_row(Contact)) as cur:
        contacts = cur.execute(CONTACTS, params).fetchall()
    with conn.cursor(row_factory=class_row(CustomerMachine)) as cur:
        machines = cur.execute(MACHINES, params).fetchall()
    with conn.cursor(row_factory=class_row(OpenTicket)) as cur:
        tickets = cur.execute(OPEN_TICKETS, params).fetchall()
    with conn.cursor(row_factory=class_row(ServiceEntry)) as cur:
        history = cur.execute(SERVICE_HISTORY, params).fetchall()
    with conn.cursor(row_factory=class_row(Spend)) as cur:
        spend = cur.execute(SPEND_12M, params).fetchone()
    assert spend is not None  # an aggregate always returns its row
    satisfaction, ratings = None, 0
    if _has_satisfaction(conn):
        row = conn.execute(SATISFACTION, params).fetchone()
        if row is not None and row[0] is not None:
            satisfaction, ratings = float(row[0]), int(row[1])  # type: ignore[arg-type, call-overload]
    graded = conn.execute(OWNER_GRADE, params).fetchone()
    stored: Grade | None = None
    graded_at: datetime | None = None
    if graded is not None and graded[0] is not None:
        stored = msgspec.convert(graded[2], Grade)
        graded_at = graded[1]  # type: ignore[assignment]
    return CustomerView(
        owner=owner,
        contacts=contacts,
        # class_row hands the CASE's text over as it is; the view promises the enum.
        machines=[replace(m, warranty=WarrantyStatus(m.warranty)) for m in machines],
        open_tickets=tickets,
        service_history=history,
        spend_12m=spend,
        satisfaction=satisfaction,
        ratings=ratings,
        grade=stored,
        graded_at=graded_at,
    )


# --- Grading every owner ------------------------------------------------------------------------

GRADING_OWNERS: Final[LiteralString] = """
SELECT o.id, COALESCE(o.customer_since, o.created_at::date) AS since,
       COALESCE(rev.revenue, 0)::float8 AS revenue, COALESCE(f.size, 0)::int AS fleet_size
FROM owners o
LEFT JOIN (SELECT owner_id, count(*) AS size FROM machines WHERE active GROUP BY owner_id) f
       ON f.owner_id = o.id
LEFT JOIN (
    SELECT m.owner_id, sum(r.parts_cost + r.labour_cost) AS revenue
    FROM service_records r JOIN machines m ON m.id = r.machine_id
    WHERE r.kind <> 'warranty'
      AND r.done_at > %(now)s - interval '12 months' AND r.done_at <= %(now)s
    GROUP BY m.owner_id
) rev ON rev.owner_id = o.id
ORDER BY o.id
"""
GRADING_FLEET_PRICES: Final[LiteralString] = """
SELECT owner_id, purchase_price::float8, purchase_date FROM machines
WHERE active AND purchase_price IS NOT NULL
"""
GRADING_SATISFACTION: Final[LiteralString] = """
SELECT owner_id, avg(satisfaction)::float8 FROM tickets
WHERE satisfaction IS NOT NULL GROUP BY owner_id
"""
# Engine hours worked per period = the hour meter's rise within it. Only machines heard in both
# periods count: a machine new to telematics would otherwise read as a fleet that just started.
GRADING_USAGE: Final[LiteralString] = """
SELECT m.owner_id, sum(u.recent_h)::float8, sum(u.previous_h)::float8
FROM (
    SELECT machine_id,
           max(engine_hours) FILTER (WHERE ts >= %(now)s - interval '90 days')
         - min(engine_hours) FILTER (WHERE ts >= %(now)s - interval '90 days') AS recent_h,
           max(engine_hours) FILTER (WHERE ts < %(now)s - interval '90 days')
         - min(engine_hours) FILTER (WHERE ts < %(now)s - interval '90 days') AS previous_h
    FROM readings
    WHERE ts >= %(now)s - interval '180 days' AND ts < %(now)s
    GROUP BY machine_id
) u JOIN machines m ON m.id = u.machine_id
WHERE u.recent_h IS NOT NULL AND u.previous_h IS NOT NULL
GROUP BY m.owner_id
"""
STORE_GRADES: Final[LiteralString] = """
UPDATE owners o SET grade = g.grade, graded_at = %(now)s, grade_detail = g.detail
FROM unnest(%(ids)s::bigint[], %(grades)s::text[], %(details)s::jsonb[]) AS g(id, grade, detail)
WHERE o.id = g.id
"""


def grading_facts(
    conn: Conn, *, now: datetime, config: GradingConfig = DEFAULT_CONFIG
) -> list[OwnerFacts]:
    """Every owner's grading inputs as of `now`, four queries for the whole population."""
    owners = conn.execute(GRADING_OWNERS, {"now": now}).fetchall()
    index = {int(r[0]): i for i, r in enumerate(owners)}  # type: ignore[call-overload]
    prices = conn.execute(GRADING_FLEET_PRICES).fetchall()
    fleet_value: Floats = np.zeros(len(owners))
    if prices:
        owner_at = np.array([index[int(r[0])] for r in prices])  # type: ignore[call-overload]
        price = np.array([float(r[1]) for r in prices])  # type: ignore[arg-type]
        age_y = np.array([(now.date() - r[2]).days / DAYS_PER_YEAR for r in prices])  # type: ignore[operator]
        values = depreciated_value(price, age_y, config=config)
        fleet_value = np.bincount(owner_at, weights=values, minlength=len(owners)).astype(
            np.float64
        )
    satisfaction: dict[int, float] = {}
    if _has_satisfaction(conn):
        satisfaction = {
            int(o): float(s)  # type: ignore[call-overload, arg-type]
            for o, s in conn.execute(GRADING_SATISFACTION).fetchall()
        }
    usage = {
        int(o): trend_of(float(r), float(p))  # type: ignore[call-overload, arg-type]
        for o, r, p in conn.execute(GRADING_USAGE, {"now": now}).fetchall()
    }
    return [
        OwnerFacts(
            owner_id=int(owner_id),  # type: ignore[call-overload]
            revenue_12m=round(float(revenue), 2),  # type: ignore[arg-type]
            fleet_size=int(size),  # type: ignore[call-overload]
            fleet_value=round(float(fleet_value[i]), 2),
            relationship_years=round(max((now.date() - since).days, 0) / DAYS_PER_YEAR, 3),  # type: ignore[operator]
            satisfaction=satisfaction.get(int(owner_id)),  # type: ignore[call-overload]
            usage_trend=usage.get(int(owner_id)),  # type: ignore[call-overload]
        )
        for i, (owner_id, since, revenue, size) in enumerate(owners)
    ]


def grade_all(
    conn: Conn, *, now: datetime, config: GradingConfig = DEFAULT_CONFIG
) -> dict[int, Grade]:
    """Grades every owner against the others and stores grade, graded_at and the detail, reading
    and writing in one transaction (a savepoint inside the caller's)."""
    with conn.transaction():
        grades = grade(grading_facts(conn, now=now, config=config), config=config)
        conn.execute(
            STORE_GRADES,
            {
                "now": now,
                "ids": [g.owner_id for g in grades],
                "grades": [str(g.grade) for g in grades],
                "details": [Jsonb(msgspec.to_builtins(g)) for g in grades],
            },
        )
    return {g.owner_id: g for g in grades}
