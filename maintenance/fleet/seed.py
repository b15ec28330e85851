"""Demo fleet: dealers, technicians, owners with contacts, machines, service history, the parts
catalogue and dealer stock, written idempotently by natural keys (maintenance.fleet.demo_crm plans
the records).

The same seed gives the same fleet; simulated machines are TR-0001... (tractors), EX-0001...
(excavators), records-only machines REC-00001.... The catalogue holds every part the shipped
rules ask for.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final, LiteralString

import psycopg
from psycopg.types.json import Jsonb

from maintenance.fleet import demo_crm
from maintenance.parts import repo as parts
from maintenance.rules.load import default_rules
from maintenance.rules.model import PartLine, RuleSet
from telemetry.wire import Kind

# The named demo owners (code, name, kind, servicing dealer): the simulated machines belong to them.
OWNERS: Final = (
    ("OWN-HARGREAVE", "Hargreave Farms", "farmer", "DLR-NORTH"),
    ("OWN-MEADOWCOOP", "Meadow Growers Cooperative", "cooperative", "DLR-VALLEY"),
    ("OWN-STONEWAY", "Stoneway Earthworks Ltd", "contractor", "DLR-COAST"),
    ("OWN-RENTALL", "RentAll Plant Hire", "rental", "DLR-NORTH"),
    ("OWN-COUNTY", "County Highways Department", "government", "DLR-VALLEY"),
    ("OWN-BRIGHTWELL", "Brightwell Estate", "farmer", "DLR-COAST"),
)
# Machine n of a kind gets models[(n - 1) % 3]; the simulator's profiles give the same model to the
# same serial (simulators.profiles.demo_model; a unit test holds the two together).
TRACTOR_MODELS: Final = ("6155M", "5075E", "8R 370")
EXCAVATOR_MODELS: Final = ("320 GC", "PC210LC-11", "ZX135US-7")
# Records-only part of the demo (owners in all, machines that never report): enough for grading
# and the customer view to mean something, small enough that seeding takes about a second.
DEFAULT_OWNERS: Final = 40
DEFAULT_RECORD_MACHINES: Final = 300


def model_for(kind: Kind, n: int) -> str:
    models = TRACTOR_MODELS if kind is Kind.TRACTOR else EXCAVATOR_MODELS
    return models[(n - 1) % len(models)]


# List prices (EUR) by part family, the part number's first token; a family missing here is
# priced at DEFAULT_UNIT_PRICE so a new rule's part is still sold at something plausible.
UNIT_PRICE_BY_FAMILY: Final[dict[str, str]] = {
    "OIL": "96.00",  # 20 l engine oil
    "HYD": "118.00",  # 20 l hydraulic oil
    "COOLANT": "54.00",
    "DEF": "19.50",
    "FLT": "31.00",
    "THERMOSTAT": "42.00",
    "SENSOR": "88.00",
    "BATT": "265.00",
    "BELT": "47.00",
    "HOSE": "210.00",
}
DEFAULT_UNIT_PRICE: Final = "60.00"
# Shelf levels cycle over (dealer, part) so every dealer is out of some parts and down to its last
# unit of others: the demo then shows reservations and backorders side by side.
STOCK_LEVELS: Final = (0, 1, 8, 8)
STOCK_ACTOR: Final = "seed"

UPSERT_PART: Final[LiteralString] = """
INSERT INTO parts (part_no, description, unit_price)
VALUES (%(part_no)s, %(description)s, %(unit_price)s::numeric)
ON CONFLICT (part_no)
DO UPDATE SET description = EXCLUDED.description, unit_price = EXCLUDED.unit_price
"""
UPSERT_DEALER: Final[LiteralString] = """
INSERT INTO dealers (code, name, region, lat, lon, phone, email, timezone, opening_hours,
                     parts_warehouse)
VALUES (%(code)s, %(name)s, %(region)s, %(lat)s, %(lon)s, %(phone)s, %(email)s, %(timezone)s,
        %(opening_hours)s, %(parts_warehouse)s)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, region = EXCLUDED.region, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
    phone = EXCLUDED.phone, email = EXCLUDED.email, timezone = EXCLUDED.timezone,
    opening_hours = EXCLUDED.opening_hours, parts_warehouse = EXCLUDED.parts_warehouse
"""
# Migration 0010 prices labour per service point; seeded only where that column exists.
HAS_COLUMN: Final[LiteralString] = """
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = %(table)s
                 AND column_name = %(column)s)
"""
SET_LABOUR_RATE: Final[LiteralString] = (
    "UPDATE dealers SET labour_rate_per_h = %(rate)s WHERE code = %(code)s"
    " AND labour_rate_per_h IS DISTINCT FROM %(rate)s"
)
DEALER_IDS: Final[LiteralString] = "SELECT code, id FROM dealers WHERE code = ANY(%(codes)s)"
OWNER_IDS: Final[LiteralString] = "SELECT code, id FROM owners WHERE code = ANY(%(codes)s)"
MACHINE_IDS: Final[LiteralString] = "SELECT serial, id FROM machines WHERE serial = ANY(%(codes)s)"
TECHNICIAN_IDS: Final[LiteralString] = """
SELECT d.code, t.name, t.id FROM technicians t JOIN dealers d ON d.id = t.dealer_id
WHERE d.code = ANY(%(codes)s)
"""
# Technicians and contacts have no unique key to conflict on: update by (parent, name), insert
# when nothing was updated.
UPSERT_TECHNICIAN: Final[LiteralString] = """
WITH updated AS (
    UPDATE technicians SET skills = %(skills)s, phone = %(phone)s, email = %(email)s
    WHERE dealer_id = %(dealer_id)s AND name = %(name)s RETURNING id)
INSERT INTO technicians (dealer_id, name, skills, phone, email)
SELECT %(dealer_id)s, %(name)s, %(skills)s, %(phone)s, %(email)s
WHERE NOT EXISTS (SELECT 1 FROM updated)
"""
UPSERT_OWNER: Final[LiteralString] = """
INSERT INTO owners (code, name, kind, email, phone, region, dealer_id, customer_since)
VALUES (%(code)s, %(name)s, %(kind)s, %(email)s, %(phone)s, %(region)s, %(dealer_id)s,
        %(customer_since)s)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, email = EXCLUDED.email, phone = EXCLUDED.phone,
    region = EXCLUDED.region, dealer_id = EXCLUDED.dealer_id,
    customer_since = EXCLUDED.customer_since
"""
UPSERT_CONTACT: Final[LiteralString] = """
WITH updated AS (
    UPDATE owner_contacts
    SET role = %(role)s, phone = %(phone)s, email = %(email)s, preferred = %(preferred)s
    WHERE owner_id = %(owner_id)s AND name = %(name)s RETURNING id)
INSERT INTO owner_contacts (owner_id, name, role, phone, email, preferred)
SELECT %(owner_id)s, %(name)s, %(role)s, %(phone)s, %(email)s, %(preferred)s
WHERE NOT EXISTS (SELECT 1 FROM updated)
"""
UPSERT_MACHINE: Final[LiteralString] = """
INSERT INTO machines (serial, kind, model, year, owner_id, dealer_id, pin, selling_dealer_id,
                      purchase_date, purchase_price, warranty_end, active)
VALUES (%(serial)s, %(kind)s, %(model)s, %(year)s, %(owner_id)s, %(dealer_id)s, %(pin)s,
        %(selling_dealer_id)s, %(purchase_date)s, %(purchase_price)s, %(warranty_end)s,
        %(active)s)
ON CONFLICT (serial) DO UPDATE SET
    kind = EXCLUDED.kind, model = EXCLUDED.model, year = EXCLUDED.year,
    owner_id = EXCLUDED.owner_id, dealer_id = EXCLUDED.dealer_id, pin = EXCLUDED.pin,
    selling_dealer_id = EXCLUDED.selling_dealer_id, purchase_date = EXCLUDED.purchase_date,
    purchase_price = EXCLUDED.purchase_price, warranty_end = EXCLUDED.warranty_end,
    active = EXCLUDED.active
"""
PART_PRICES: Final[LiteralString] = (
    "SELECT part_no, unit_price FROM parts WHERE unit_price IS NOT NULL"
)
# One statement for the whole history; a record is known by (machine, kind, rule, engine hours).
INSERT_SERVICE_HISTORY: Final[LiteralString] = """
INSERT INTO service_records (machine_id, rule_key, engine_hours, done_at, notes, kind,
                             technician_id, dealer_id, labour_h, labour_cost, parts_cost, parts)
SELECT s.machine_id, s.rule_key, s.engine_hours, s.done_at, s.notes, s.kind, s.technician_id,
       s.dealer_id, s.labour_h, s.labour_cost, s.parts_cost, s.parts::jsonb
FROM unnest(%(machine_id)s::bigint[], %(rule_key)s::text[], %(engine_hours)s::float8[],
            %(done_at)s::timestamptz[], %(notes)s::text[], %(kind)s::text[],
            %(technician_id)s::bigint[], %(dealer_id)s::bigint[], %(labour_h)s::numeric[],
            %(labour_cost)s::numeric[], %(parts_cost)s::numeric[], %(parts)s::text[])
     AS s(machine_id, rule_key, engine_hours, done_at, notes, kind, technician_id, dealer_id,
          labour_h, labour_cost, parts_cost, parts)
WHERE NOT EXISTS (
    SELECT 1 FROM service_records r
    WHERE r.machine_id = s.machine_id AND r.rule_key = s.rule_key
      AND r.engine_hours = s.engine_hours AND r.kind = s.kind)
"""


@dataclass(frozen=True, slots=True)
class SeededMachine:
    id: int
    serial: str
    kind: Kind
    owner_code: str


@dataclass(frozen=True, slots=True)
class SeededFleet:
    """dealer_ids: every demo dealer. owner_ids and machines: the named owners and the simulated
    machines only (the ones that get API keys and broker users); the records-only owners and
    machines are counted in records_*."""

    dealer_ids: dict[str, int]
    owner_ids: dict[str, int]
    machines: list[SeededMachine]
    records_owners: int = 0
    records_machines: int = 0
    records_services: int = 0


def serial_for(kind: Kind, n: int) -> str:
    return f"{'TR' if kind is Kind.TRACTOR else 'EX'}-{n:04d}"


def seed_demo(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    tractors: int,
    excavators: int,
    seed: int = 7,
    owners: int = DEFAULT_OWNERS,
    record_machines: int = DEFAULT_RECORD_MACHINES,
    as_of: date | None = None,
) -> SeededFleet:
    """Creates (or updates to the same values) the demo fleet inside the caller's transaction.

    `tractors`/`excavators` simulated machines TR-0001.../EX-0001... owned by the named owners,
    `owners` owners in all and `record_machines` machines REC-00001... that never report, with
    service history up to `as_of` (today by default). Deterministic for (seed, as_of); running it
    again changes nothing. The simulated machines get no seeded history: their service clocks are
    the rules engine's to run."""
    as_of = as_of or datetime.now(UTC).date()
    dealer_ids = _upsert_dealers(conn)
    technicians = demo_crm.plan_technicians(seed=seed)
    _upsert_technicians(conn, technicians, dealer_ids=dealer_ids)
    owner_specs = demo_crm.plan_owners(seed=seed, count=owners, as_of=as_of, named=OWNERS)
    owner_ids = _upsert_owners(conn, owner_specs, dealer_ids=dealer_ids)
    by_code = {o.code: o for o in owner_specs}
    simulated = _simulated_machines(
        tractors=tractors, excavators=excavators, seed=seed, owners=by_code, as_of=as_of
    )
    records = demo_crm.plan_machines(
        seed=seed, count=record_machines, owners=owner_specs, as_of=as_of
    )
    machine_ids = _upsert_machines(
        conn, [*simulated, *records], owner_ids=owner_ids, dealer_ids=dealer_ids
    )
    rules = default_rules()
    seed_parts(conn, dealer_ids=list(dealer_ids.values()), rules=rules)
    kits = {
        r.key: tuple(demo_crm.PartUse(p.part_no, p.qty) for p in getattr(r, "parts", ()))
        for r in rules.rules
    }
    history = [
        record
        for m in records
        for record in demo_crm.plan_history(
            m, seed=seed, owner=by_code[m.owner_code], technicians=technicians, kits=kits,
            as_of=as_of,
        )
    ]  # fmt: skip
    _insert_history(conn, history, machine_ids=machine_ids, dealer_ids=dealer_ids)
    named = {code for code, *_ in OWNERS}
    return SeededFleet(
        dealer_ids=dealer_ids,
        owner_ids={c: i for c, i in owner_ids.items() if c in named},
        machines=[
            SeededMachine(machine_ids[m.serial], m.serial, m.kind, m.owner_code) for m in simulated
        ],
        records_owners=len(owner_specs),
        records_machines=len(records),
        records_services=len(history),
    )


def _ids(
    conn: psycopg.Connection[tuple[object, ...]], query: LiteralString, codes: list[str]
) -> dict[str, int]:
    return {str(c): int(i) for c, i in conn.execute(query, {"codes": codes}).fetchall()}  # type: ignore[call-overload]


def _has_column(conn: psycopg.Connection[tuple[object, ...]], *, table: str, column: str) -> bool:
    row = conn.execute(HAS_COLUMN, {"table": table, "column": column}).fetchone()
    return bool(row and row[0])


def _upsert_dealers(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.executemany(
            UPSERT_DEALER,
            [
                {
                    "code": d.code,
                    "name": d.name,
                    "region": d.region,
                    "lat": d.lat,
                    "lon": d.lon,
                    "phone": d.phone,
                    "email": d.email,
                    "timezone": d.timezone,
                    "opening_hours": Jsonb({k: list(v) for k, v in d.opening_hours.items()}),
                    "parts_warehouse": d.parts_warehouse,
                }
                for d in demo_crm.DEALERS
            ],
        )
        if _has_column(conn, table="dealers", column="labour_rate_per_h"):
            cur.executemany(
                SET_LABOUR_RATE,
                [{"code": d.code, "rate": d.labour_rate_per_h} for d in demo_crm.DEALERS],
            )
    return _ids(conn, DEALER_IDS, [d.code for d in demo_crm.DEALERS])


def _upsert_technicians(
    conn: psycopg.Connection[tuple[object, ...]],
    technicians: list[demo_crm.TechnicianSpec],
    *,
    dealer_ids: dict[str, int],
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            UPSERT_TECHNICIAN,
            [
                {
                    "dealer_id": dealer_ids[t.dealer_code],
                    "name": t.name,
                    "skills": list(t.skills),
                    "phone": t.phone,
                    "email": t.email,
                }
                for t in technicians
            ],
        )


def _upsert_owners(
    conn: psycopg.Connection[tuple[object, ...]],
    owners: list[demo_crm.OwnerSpec],
    *,
    dealer_ids: dict[str, int],
) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.executemany(
            UPSERT_OWNER,
            [
                {
                    "code": o.code,
                    "name": o.name,
                    "kind": o.kind,
                    "email": o.email,
                    "phone": o.phone,
                    "region": o.region,
                    "dealer_id": dealer_ids[o.dealer_code],
                    "customer_since": o.customer_since,
                }
                for o in owners
            ],
        )
        owner_ids = _ids(conn, OWNER_IDS, [o.code for o in owners])
        cur.executemany(
            UPSERT_CONTACT,
            [
                {
                    "owner_id": owner_ids[o.code],
                    "name": c.name,
                    "role": c.role,
                    "phone": c.phone,
                    "email": c.email,
                    "preferred": c.preferred,
                }
                for o in owners
                # The preferred contact last: moving the preference never holds two at once.
                for c in sorted(o.contacts, key=lambda c: c.preferred)
            ],
        )
    return owner_ids


def _simulated_machines(
    *,
    tractors: int,
    excavators: int,
    seed: int,
    owners: dict[str, demo_crm.OwnerSpec],
    as_of: date,
) -> list[demo_crm.MachineSpec]:
    """The machines the demo simulates: serial, model, owner and year as they always were."""
    rng = random.Random(seed)
    plan = [(Kind.TRACTOR, n + 1) for n in range(tractors)] + [
        (Kind.EXCAVATOR, n + 1) for n in range(excavators)
    ]
    machines: list[demo_crm.MachineSpec] = []
    for index, (kind, n) in enumerate(plan):
        owner = owners[OWNERS[index % len(OWNERS)][0]]
        serial, model, year = serial_for(kind, n), model_for(kind, n), rng.randint(2016, 2026)
        maker, bought, price, warranty_end = demo_crm.commercial_facts(
            random.Random(f"{seed}:simulated:{serial}"),
            kind=kind,
            model=model,
            year=year,
            not_before=owner.customer_since,
            as_of=as_of,
        )
        sequence = (10_000_000 if kind is Kind.TRACTOR else 20_000_000) + n
        machines.append(
            demo_crm.MachineSpec(
                serial=serial,
                kind=kind,
                model=model,
                year=year,
                owner_code=owner.code,
                dealer_code=owner.dealer_code,
                selling_dealer_code=owner.dealer_code,
                pin=demo_crm.pin_for(maker=maker, model=model, year=year, sequence=sequence),
                purchase_date=bought,
                purchase_price=price,
                warranty_end=warranty_end,
                active=True,
            )
        )
    return machines


def _upsert_machines(
    conn: psycopg.Connection[tuple[object, ...]],
    machines: list[demo_crm.MachineSpec],
    *,
    owner_ids: dict[str, int],
    dealer_ids: dict[str, int],
) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.executemany(
            UPSERT_MACHINE,
            [
                {
                    "serial": m.serial,
                    "kind": str(m.kind),
                    "model": m.model,
                    "year": m.year,
                    "owner_id": owner_ids[m.owner_code],
                    "dealer_id": dealer_ids[m.dealer_code],
                    "pin": m.pin,
                    "selling_dealer_id": dealer_ids[m.selling_dealer_code],
                    "purchase_date": m.purchase_date,
                    "purchase_price": m.purchase_price,
                    "warranty_end": m.warranty_end,
                    "active": m.active,
                }
                for m in machines
            ],
        )
    return _ids(conn, MACHINE_IDS, [m.serial for m in machines])


def _insert_history(
    conn: psycopg.Connection[tuple[object, ...]],
    history: list[demo_crm.ServiceSpec],
    *,
    machine_ids: dict[str, int],
    dealer_ids: dict[str, int],
) -> None:
    """Labour at the service point's rate, parts at catalogue prices (unpriced parts are listed
    without a price and cost nothing rather than a made-up amount)."""
    prices = {str(p): Decimal(str(u)) for p, u in conn.execute(PART_PRICES).fetchall()}
    tech_ids = {
        (str(d), str(n)): int(i)  # type: ignore[call-overload]
        for d, n, i in conn.execute(TECHNICIAN_IDS, {"codes": list(dealer_ids)}).fetchall()
    }
    rates = {d.code: d.labour_rate_per_h for d in demo_crm.DEALERS}
    columns: dict[str, list[object]] = {
        k: []
        for k in (
            "machine_id", "rule_key", "engine_hours", "done_at", "notes", "kind",
            "technician_id", "dealer_id", "labour_h", "labour_cost", "parts_cost", "parts",
        )
    }  # fmt: skip
    for s in history:
        lines = [
            {"part_no": p.part_no, "qty": p.qty, "unit_price": str(prices[p.part_no])}
            if p.part_no in prices
            else {"part_no": p.part_no, "qty": p.qty, "unit_price": None}
            for p in s.parts
        ]
        parts_cost = sum((prices.get(p.part_no, Decimal(0)) * p.qty for p in s.parts), Decimal(0))
        row: dict[str, object] = {
            "machine_id": machine_ids[s.serial],
            "rule_key": s.rule_key,
            "engine_hours": s.engine_hours,
            "done_at": s.done_at,
            "notes": s.notes,
            "kind": s.kind,
            "technician_id": tech_ids.get((s.dealer_code, s.technician_name)),
            "dealer_id": dealer_ids[s.dealer_code],
            "labour_h": s.labour_h,
            "labour_cost": (s.labour_h * rates[s.dealer_code]).quantize(Decimal("0.01")),
            "parts_cost": parts_cost.quantize(Decimal("0.01")),
            "parts": json.dumps(lines),
        }
        for key, value in row.items():
            columns[key].append(value)
    conn.execute(INSERT_SERVICE_HISTORY, columns)


def unit_price_for(part_no: str) -> str:
    return UNIT_PRICE_BY_FAMILY.get(part_no.split("-", 1)[0], DEFAULT_UNIT_PRICE)


def seed_parts(
    conn: psycopg.Connection[tuple[object, ...]], *, dealer_ids: list[int], rules: RuleSet
) -> None:
    """Catalogues every part the rules ask for and tops each dealer's shelf up to its demo level
    (receipts in the ledger; never taking stock away). Reservations whose requests are gone (the
    demo truncates tickets on start) are put back first, or the shelves would fill up with them."""
    # Rule kinds that never need parts (silence, for one) have no `parts` field at all.
    lines: list[PartLine] = [p for r in rules.rules for p in getattr(r, "parts", ())]
    descriptions = {p.part_no: p.description for p in lines}
    with conn.cursor() as cur:
        cur.executemany(
            UPSERT_PART,
            [
                {"part_no": n, "description": d, "unit_price": unit_price_for(n)}
                for n, d in sorted(descriptions.items())
            ],
        )
    parts.release_orphaned_reservations(conn, dealer_ids=dealer_ids, actor=STOCK_ACTOR)
    for i, dealer_id in enumerate(dealer_ids):
        for j, part_no in enumerate(sorted(descriptions)):
            level = STOCK_LEVELS[(i + j) % len(STOCK_LEVELS)]
            current = parts.stock(conn, dealer_id=dealer_id, part_no=part_no)
            shortfall = level - (0 if current is None else current.on_hand)
            if shortfall > 0:
                parts.receive(
                    conn, dealer_id=dealer_id, part_no=part_no, qty=shortfall, actor=STOCK_ACTOR
                )
