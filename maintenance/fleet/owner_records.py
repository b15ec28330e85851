"""Owners and their contacts for the admin API: keyset pages with filters, create, update.

Owners are never deleted (machines, tickets and keys refer to them): `active` false marks one
that is no longer a customer, and lists can filter on it. Contacts are referred to by nothing, so an
update replaces the whole list.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row

from maintenance.fleet.integrity import domain_errors

Conn = psycopg.Connection[tuple[object, ...]]

DUPLICATES: Final = {"owners_code_key": "an owner with this code exists"}


class OwnerKind(enum.StrEnum):
    """The owners.kind CHECK of migration 0002."""

    FARMER = "farmer"
    COOPERATIVE = "cooperative"
    CONTRACTOR = "contractor"
    RENTAL = "rental"
    GOVERNMENT = "government"


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    role: str = ""
    phone: str | None = None
    email: str | None = None
    preferred: bool = False


@dataclass(frozen=True, slots=True)
class OwnerFields:
    """What an admin sets; the id, creation time and CRM grade are the system's."""

    code: str
    name: str
    kind: OwnerKind
    email: str | None = None
    phone: str | None = None
    region: str = ""
    dealer_id: int | None = None
    customer_since: date | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class OwnerRow:
    id: int
    code: str
    name: str
    kind: str
    email: str | None
    phone: str | None
    region: str
    dealer_id: int | None
    customer_since: date | None
    active: bool
    grade: str | None
    created_at: datetime

    def fields(self) -> OwnerFields:
        names = {f.name for f in dataclasses.fields(OwnerFields)}
        values = {k: v for k, v in dataclasses.asdict(self).items() if k in names}
        return OwnerFields(**{**values, "kind": OwnerKind(self.kind)})


_COLUMNS: Final[LiteralString] = """
id, code, name, kind, email, phone, region, dealer_id, customer_since, active, grade, created_at
"""
OWNER_PAGE: Final[LiteralString] = (
    "SELECT "
    + _COLUMNS
    + """
FROM owners
WHERE id > %(after)s
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(dealer_id)s::bigint IS NULL OR dealer_id = %(dealer_id)s)
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
  AND (%(q)s::text IS NULL OR strpos(lower(name || ' ' || code), lower(%(q)s)) > 0)
ORDER BY id
LIMIT %(limit)s
"""
)
OWNER_BY_ID: Final[LiteralString] = "SELECT " + _COLUMNS + " FROM owners WHERE id = %(id)s"
OWNER_FOR_UPDATE: Final[LiteralString] = OWNER_BY_ID + " FOR UPDATE"
INSERT_OWNER: Final[LiteralString] = """
INSERT INTO owners (code, name, kind, email, phone, region, dealer_id, customer_since, active)
VALUES (%(code)s, %(name)s, %(kind)s, %(email)s, %(phone)s, %(region)s, %(dealer_id)s,
        %(customer_since)s, %(active)s)
RETURNING id
"""
UPDATE_OWNER: Final[LiteralString] = """
UPDATE owners SET code = %(code)s, name = %(name)s, kind = %(kind)s, email = %(email)s,
    phone = %(phone)s, region = %(region)s, dealer_id = %(dealer_id)s,
    customer_since = %(customer_since)s, active = %(active)s
WHERE id = %(id)s
"""
CONTACTS_OF: Final[LiteralString] = """
SELECT owner_id, name, role, phone, email, preferred FROM owner_contacts
WHERE owner_id = ANY(%(ids)s) ORDER BY owner_id, preferred DESC, id
"""
DELETE_CONTACTS: Final[LiteralString] = "DELETE FROM owner_contacts WHERE owner_id = %(id)s"
INSERT_CONTACT: Final[LiteralString] = """
INSERT INTO owner_contacts (owner_id, name, role, phone, email, preferred)
VALUES (%(owner_id)s, %(name)s, %(role)s, %(phone)s, %(email)s, %(preferred)s)
"""


def owner_page(
    conn: Conn,
    *,
    after: int = 0,
    limit: int = 50,
    kind: OwnerKind | None = None,
    dealer_id: int | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> list[OwnerRow]:
    params = {
        "after": after,
        "limit": limit,
        "kind": None if kind is None else str(kind),
        "dealer_id": dealer_id,
        "active": active,
        "q": q,
    }
    with conn.cursor(row_factory=class_row(OwnerRow)) as cur:
        return cur.execute(OWNER_PAGE, params).fetchall()


def owner(conn: Conn, *, owner_id: int, for_update: bool = False) -> OwnerRow | None:
    query = OWNER_FOR_UPDATE if for_update else OWNER_BY_ID
    with conn.cursor(row_factory=class_row(OwnerRow)) as cur:
        return cur.execute(query, {"id": owner_id}).fetchone()


def contacts_of(conn: Conn, owner_ids: list[int]) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = {i: [] for i in owner_ids}
    for owner_id, name, role, phone, email, preferred in conn.execute(
        CONTACTS_OF, {"ids": owner_ids}
    ).fetchall():
        found[int(owner_id)].append(  # type: ignore[call-overload]
            Contact(str(name), str(role), phone, email, bool(preferred))  # type: ignore[arg-type]
        )
    return found


def _params(fields: OwnerFields) -> dict[str, object]:
    return {**dataclasses.asdict(fields), "kind": str(fields.kind)}


def create_owner(conn: Conn, fields: OwnerFields, *, contacts: list[Contact]) -> int:
    with domain_errors(DUPLICATES):
        row = conn.execute(INSERT_OWNER, _params(fields)).fetchone()
        assert row is not None
        owner_id: int = int(row[0])  # type: ignore[call-overload]
        replace_contacts(conn, owner_id=owner_id, contacts=contacts)
    return owner_id


def update_owner(conn: Conn, *, owner_id: int, fields: OwnerFields) -> None:
    with domain_errors(DUPLICATES):
        conn.execute(UPDATE_OWNER, {**_params(fields), "id": owner_id})


def replace_contacts(conn: Conn, *, owner_id: int, contacts: list[Contact]) -> None:
    with domain_errors({"owner_contacts_one_preferred": "only one contact may be preferred"}):
        conn.execute(DELETE_CONTACTS, {"id": owner_id})
        for c in contacts:
            conn.execute(INSERT_CONTACT, {**dataclasses.asdict(c), "owner_id": owner_id})
