"""Machines for the admin API: keyset pages (by serial) with filters, create, update.

Machines are never deleted (readings, tickets and service records refer to them); `active` false
retires one. The serial is the machine's identity on the wire and its broker user name, and the
kind is part of its topic, so neither changes after creation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row

from maintenance.fleet.integrity import domain_errors
from telemetry.wire import Kind

Conn = psycopg.Connection[tuple[object, ...]]

DUPLICATES: Final = {
    "machines_serial_key": "a machine with this serial exists",
    "machines_pin_key": "a machine with this PIN exists",
}


@dataclass(frozen=True, slots=True)
class MachineFields:
    """What an admin may change after creation (serial and kind are fixed)."""

    model: str
    owner_id: int
    dealer_id: int  # the servicing dealer
    year: int | None = None
    pin: str | None = None
    selling_dealer_id: int | None = None
    purchase_date: date | None = None
    purchase_price: Decimal | None = None
    warranty_end: date | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class MachineRecord:
    id: int
    serial: str
    kind: str
    model: str
    year: int | None
    pin: str | None
    owner_id: int
    dealer_id: int
    selling_dealer_id: int | None
    purchase_date: date | None
    purchase_price: Decimal | None
    warranty_end: date | None
    active: bool
    created_at: datetime
    mqtt_provisioned: bool  # live broker credentials (machine_credentials)

    def fields(self) -> MachineFields:
        names = {f.name for f in dataclasses.fields(MachineFields)}
        return MachineFields(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})


_SELECT: Final[LiteralString] = """
SELECT m.id, m.serial, m.kind, m.model, m.year, m.pin, m.owner_id, m.dealer_id,
       m.selling_dealer_id, m.purchase_date, m.purchase_price, m.warranty_end, m.active,
       m.created_at,
       EXISTS (SELECT 1 FROM machine_credentials c
               WHERE c.machine_id = m.id AND c.revoked_at IS NULL) AS mqtt_provisioned
FROM machines m
"""
MACHINE_PAGE: Final[LiteralString] = (
    _SELECT
    + """
WHERE m.serial > %(after)s
  AND (%(kind)s::text IS NULL OR m.kind = %(kind)s)
  AND (%(model)s::text IS NULL OR m.model = %(model)s)
  AND (%(owner_id)s::bigint IS NULL OR m.owner_id = %(owner_id)s)
  AND (%(dealer_id)s::bigint IS NULL OR m.dealer_id = %(dealer_id)s)
  AND (%(active)s::boolean IS NULL OR m.active = %(active)s)
  AND (%(warranty_from)s::date IS NULL OR m.warranty_end >= %(warranty_from)s)
ORDER BY m.serial
LIMIT %(limit)s
"""
)
MACHINE_BY_SERIAL: Final[LiteralString] = _SELECT + " WHERE m.serial = %(serial)s"
MACHINE_FOR_UPDATE: Final[LiteralString] = MACHINE_BY_SERIAL + " FOR UPDATE OF m"
INSERT_MACHINE: Final[LiteralString] = """
INSERT INTO machines (serial, kind, model, year, pin, owner_id, dealer_id, selling_dealer_id,
                      purchase_date, purchase_price, warranty_end, active)
VALUES (%(serial)s, %(kind)s, %(model)s, %(year)s, %(pin)s, %(owner_id)s, %(dealer_id)s,
        %(selling_dealer_id)s, %(purchase_date)s, %(purchase_price)s, %(warranty_end)s,
        %(active)s)
"""
UPDATE_MACHINE: Final[LiteralString] = """
UPDATE machines SET model = %(model)s, year = %(year)s, pin = %(pin)s, owner_id = %(owner_id)s,
    dealer_id = %(dealer_id)s, selling_dealer_id = %(selling_dealer_id)s,
    purchase_date = %(purchase_date)s, purchase_price = %(purchase_price)s,
    warranty_end = %(warranty_end)s, active = %(active)s
WHERE serial = %(serial)s
"""


def machine_page(
    conn: Conn,
    *,
    after: str = "",
    limit: int = 50,
    kind: Kind | None = None,
    model: str | None = None,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    active: bool | None = None,
    warranty_from: date | None = None,
) -> list[MachineRecord]:
    params = {
        "after": after,
        "limit": limit,
        "kind": None if kind is None else str(kind),
        "model": model,
        "owner_id": owner_id,
        "dealer_id": dealer_id,
        "active": active,
        "warranty_from": warranty_from,
    }
    with conn.cursor(row_factory=class_row(MachineRecord)) as cur:
        return cur.execute(MACHINE_PAGE, params).fetchall()


def machine(conn: Conn, *, serial: str, for_update: bool = False) -> MachineRecord | None:
    with conn.cursor(row_factory=class_row(MachineRecord)) as cur:
        query = MACHINE_FOR_UPDATE if for_update else MACHINE_BY_SERIAL
        return cur.execute(query, {"serial": serial}).fetchone()


def create_machine(conn: Conn, *, serial: str, kind: Kind, fields: MachineFields) -> None:
    with domain_errors(DUPLICATES):
        conn.execute(
            INSERT_MACHINE, {**dataclasses.asdict(fields), "serial": serial, "kind": str(kind)}
        )


def update_machine(conn: Conn, *, serial: str, fields: MachineFields) -> None:
    with domain_errors(DUPLICATES):
        conn.execute(UPDATE_MACHINE, {**dataclasses.asdict(fields), "serial": serial})
