"""Dealers (service points) and their technicians as the admin API edits them: keyset pages with
filters, create, update. Neither is ever deleted (tickets, stock and service records refer to
them); `active` false takes one out of service."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from maintenance.fleet.integrity import domain_errors

Conn = psycopg.Connection[tuple[object, ...]]

DUPLICATES: Final = {"dealers_code_key": "a dealer with this code exists"}


@dataclass(frozen=True, slots=True)
class DealerFields:
    code: str
    name: str
    region: str = ""
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None
    email: str | None = None
    timezone: str = "UTC"
    # ISO weekday ("1" = Monday) -> [opens, closes] as "HH:MM"; a missing day is closed.
    opening_hours: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    parts_warehouse: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class DealerRow:
    id: int
    code: str
    name: str
    region: str
    lat: float | None
    lon: float | None
    phone: str | None
    email: str | None
    timezone: str
    opening_hours: dict[str, list[str]]
    parts_warehouse: str
    active: bool
    created_at: datetime

    def fields(self) -> DealerFields:
        names = {f.name for f in dataclasses.fields(DealerFields)}
        return DealerFields(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})


@dataclass(frozen=True, slots=True)
class TechnicianFields:
    dealer_id: int
    name: str
    skills: list[str] = dataclasses.field(default_factory=list)
    phone: str | None = None
    email: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class TechnicianRow:
    id: int
    dealer_id: int
    name: str
    skills: list[str]
    phone: str | None
    email: str | None
    active: bool

    def fields(self) -> TechnicianFields:
        values = dataclasses.asdict(self)
        del values["id"]
        return TechnicianFields(**values)


_DEALER_COLUMNS: Final[LiteralString] = """
id, code, name, region, lat, lon, phone, email, timezone, opening_hours, parts_warehouse, active,
created_at
"""
DEALER_PAGE: Final[LiteralString] = (
    "SELECT "
    + _DEALER_COLUMNS
    + """
FROM dealers
WHERE id > %(after)s
  AND (%(region)s::text IS NULL OR region = %(region)s)
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
  AND (%(q)s::text IS NULL OR strpos(lower(name || ' ' || code), lower(%(q)s)) > 0)
ORDER BY id
LIMIT %(limit)s
"""
)
DEALER_BY_ID: Final[LiteralString] = "SELECT " + _DEALER_COLUMNS + " FROM dealers WHERE id = %(id)s"
DEALER_FOR_UPDATE: Final[LiteralString] = DEALER_BY_ID + " FOR UPDATE"
INSERT_DEALER: Final[LiteralString] = """
INSERT INTO dealers (code, name, region, lat, lon, phone, email, timezone, opening_hours,
                     parts_warehouse, active)
VALUES (%(code)s, %(name)s, %(region)s, %(lat)s, %(lon)s, %(phone)s, %(email)s, %(timezone)s,
        %(opening_hours)s, %(parts_warehouse)s, %(active)s)
RETURNING id
"""
UPDATE_DEALER: Final[LiteralString] = """
UPDATE dealers SET code = %(code)s, name = %(name)s, region = %(region)s, lat = %(lat)s,
    lon = %(lon)s, phone = %(phone)s, email = %(email)s, timezone = %(timezone)s,
    opening_hours = %(opening_hours)s, parts_warehouse = %(parts_warehouse)s, active = %(active)s
WHERE id = %(id)s
"""
_TECHNICIAN_COLUMNS: Final[LiteralString] = "id, dealer_id, name, skills, phone, email, active"
TECHNICIAN_PAGE: Final[LiteralString] = (
    "SELECT "
    + _TECHNICIAN_COLUMNS
    + """
FROM technicians
WHERE id > %(after)s
  AND (%(dealer_id)s::bigint IS NULL OR dealer_id = %(dealer_id)s)
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
  AND (%(skill)s::text IS NULL OR %(skill)s = ANY(skills))
ORDER BY id
LIMIT %(limit)s
"""
)
TECHNICIAN_BY_ID: Final[LiteralString] = (
    "SELECT " + _TECHNICIAN_COLUMNS + " FROM technicians WHERE id = %(id)s"
)
TECHNICIAN_FOR_UPDATE: Final[LiteralString] = TECHNICIAN_BY_ID + " FOR UPDATE"
INSERT_TECHNICIAN: Final[LiteralString] = """
INSERT INTO technicians (dealer_id, name, skills, phone, email, active)
VALUES (%(dealer_id)s, %(name)s, %(skills)s, %(phone)s, %(email)s, %(active)s)
RETURNING id
"""
UPDATE_TECHNICIAN: Final[LiteralString] = """
UPDATE technicians SET dealer_id = %(dealer_id)s, name = %(name)s, skills = %(skills)s,
    phone = %(phone)s, email = %(email)s, active = %(active)s
WHERE id = %(id)s
"""


def dealer_page(
    conn: Conn,
    *,
    after: int = 0,
    limit: int = 50,
    region: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> list[DealerRow]:
    params = {"after": after, "limit": limit, "region": region, "active": active, "q": q}
    with conn.cursor(row_factory=class_row(DealerRow)) as cur:
        return cur.execute(DEALER_PAGE, params).fetchall()


def dealer(conn: Conn, *, dealer_id: int, for_update: bool = False) -> DealerRow | None:
    with conn.cursor(row_factory=class_row(DealerRow)) as cur:
        query = DEALER_FOR_UPDATE if for_update else DEALER_BY_ID
        return cur.execute(query, {"id": dealer_id}).fetchone()


def _dealer_params(fields: DealerFields) -> dict[str, object]:
    return {**dataclasses.asdict(fields), "opening_hours": Jsonb(fields.opening_hours)}


def create_dealer(conn: Conn, fields: DealerFields) -> int:
    with domain_errors(DUPLICATES):
        row = conn.execute(INSERT_DEALER, _dealer_params(fields)).fetchone()
    assert row is not None
    new_id: int = int(row[0])  # type: ignore[call-overload]
    return new_id


def update_dealer(conn: Conn, *, dealer_id: int, fields: DealerFields) -> None:
    with domain_errors(DUPLICATES):
        conn.execute(UPDATE_DEALER, {**_dealer_params(fields), "id": dealer_id})


def technician_page(
    conn: Conn,
    *,
    after: int = 0,
    limit: int = 50,
    dealer_id: int | None = None,
    active: bool | None = None,
    skill: str | None = None,
) -> list[TechnicianRow]:
    params = {
        "after": after,
        "limit": limit,
        "dealer_id": dealer_id,
        "active": active,
        "skill": skill,
    }
    with conn.cursor(row_factory=class_row(TechnicianRow)) as cur:
        return cur.execute(TECHNICIAN_PAGE, params).fetchall()


def technician(conn: Conn, *, technician_id: int, for_update: bool = False) -> TechnicianRow | None:
    with conn.cursor(row_factory=class_row(TechnicianRow)) as cur:
        query = TECHNICIAN_FOR_UPDATE if for_update else TECHNICIAN_BY_ID
        return cur.execute(query, {"id": technician_id}).fetchone()


def create_technician(conn: Conn, fields: TechnicianFields) -> int:
    with domain_errors({}):
        row = conn.execute(INSERT_TECHNICIAN, dataclasses.asdict(fields)).fetchone()
    assert row is not None
    new_id: int = int(row[0])  # type: ignore[call-overload]
    return new_id


def update_technician(conn: Conn, *, technician_id: int, fields: TechnicianFields) -> None:
    with domain_errors({}):
        conn.execute(UPDATE_TECHNICIAN, {**dataclasses.asdict(fields), "id": technician_id})
