"""Demo fleet: dealers, owners, machines, the parts catalogue and dealer stock, created
idempotently by natural keys.

The same seed gives the same fleet; machine serials are TR-0001... (tractors), EX-0001...
(excavators). The catalogue holds every part the shipped rules ask for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, LiteralString

import psycopg

from maintenance.parts import repo as parts
from maintenance.rules.load import default_rules
from maintenance.rules.model import PartLine, RuleSet
from telemetry.wire import Kind

DEALERS: Final = (
    ("DLR-NORTH", "Northfield Agri & Plant", "North", 52.95, -1.15),
    ("DLR-VALLEY", "Valley Machinery", "Valley", 52.20, 0.12),
    ("DLR-COAST", "Coastline Equipment", "Coast", 50.72, -3.53),
)
OWNERS: Final = (
    ("OWN-HARGREAVE", "Hargreave Farms", "farmer"),
    ("OWN-MEADOWCOOP", "Meadow Growers Cooperative", "cooperative"),
    ("OWN-STONEWAY", "Stoneway Earthworks Ltd", "contractor"),
    ("OWN-RENTALL", "RentAll Plant Hire", "rental"),
    ("OWN-COUNTY", "County Highways Department", "government"),
    ("OWN-BRIGHTWELL", "Brightwell Estate", "farmer"),
)
# Machine n of a kind gets models[(n - 1) % 3]; the simulator's profiles give the same model to the
# same serial (simulators.profiles.demo_model; a unit test holds the two together).
TRACTOR_MODELS: Final = ("6155M", "5075E", "8R 370")
EXCAVATOR_MODELS: Final = ("320 GC", "PC210LC-11", "ZX135US-7")


def model_for(kind: Kind, n: int) -> str:
    models = TRACTOR_MODELS if kind is Kind.TRACTOR else EXCAVATOR_MODELS
    return models[(n - 1) % len(models)]


TECH_SKILLS: Final = (
    ("engine", "hydraulics"),
    ("electrical", "aftertreatment"),
    ("engine", "electrical"),
)

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

UPSERT_DEALER: Final[LiteralString] = """
INSERT INTO dealers (code, name, region, lat, lon) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""
UPSERT_OWNER: Final[LiteralString] = """
INSERT INTO owners (code, name, kind, email, region, dealer_id) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""
UPSERT_MACHINE: Final[LiteralString] = """
INSERT INTO machines (serial, kind, model, year, owner_id, dealer_id) VALUES (%s, %s, %s, %s, %s,
%s)
ON CONFLICT (serial) DO UPDATE SET model = EXCLUDED.model RETURNING id
"""
UPSERT_PART: Final[LiteralString] = """
INSERT INTO parts (part_no, description, unit_price)
VALUES (%(part_no)s, %(description)s, %(unit_price)s::numeric)
ON CONFLICT (part_no)
DO UPDATE SET description = EXCLUDED.description, unit_price = EXCLUDED.unit_price
"""
INSERT_TECHNICIAN: Final[LiteralString] = """
INSERT INTO technicians (dealer_id, name, skills)
SELECT %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM technicians WHERE dealer_id = %s AND name = %s)
"""


@dataclass(frozen=True, slots=True)
class SeededMachine:
    id: int
    serial: str
    kind: Kind
    owner_code: str


@dataclass(frozen=True, slots=True)
class SeededFleet:
    dealer_ids: dict[str, int]
    owner_ids: dict[str, int]
    machines: list[SeededMachine]


def serial_for(kind: Kind, n: int) -> str:
    return f"{'TR' if kind is Kind.TRACTOR else 'EX'}-{n:04d}"


def seed_demo(
    conn: psycopg.Connection[tuple[object, ...]], *, tractors: int, excavators: int, seed: int = 7
) -> SeededFleet:
    """Creates (or finds) the demo fleet inside the caller's transaction."""
    rng = random.Random(seed)
    dealer_ids: dict[str, int] = {}
    for code, name, region, lat, lon in DEALERS:
        row = conn.execute(UPSERT_DEALER, (code, name, region, lat, lon)).fetchone()
        assert row is not None
        dealer_ids[code] = int(row[0])  # type: ignore[call-overload]
        for i, skills in enumerate(TECH_SKILLS):
            tech = f"{region} technician {i + 1}"
            conn.execute(INSERT_TECHNICIAN, (row[0], tech, list(skills), row[0], tech))
    owner_ids: dict[str, int] = {}
    owner_dealer: dict[str, int] = {}
    for i, (code, name, kind) in enumerate(OWNERS):
        dealer_code, _, region, _, _ = DEALERS[i % len(DEALERS)]
        email = f"service@{code.removeprefix('OWN-').lower()}.example"
        row = conn.execute(
            UPSERT_OWNER, (code, name, kind, email, region, dealer_ids[dealer_code])
        ).fetchone()
        assert row is not None
        owner_ids[code] = int(row[0])  # type: ignore[call-overload]
        owner_dealer[code] = dealer_ids[dealer_code]
    machines: list[SeededMachine] = []
    plan = [(Kind.TRACTOR, n + 1) for n in range(tractors)] + [
        (Kind.EXCAVATOR, n + 1) for n in range(excavators)
    ]
    owner_codes = [o[0] for o in OWNERS]
    for index, (kind, n) in enumerate(plan):
        owner_code = owner_codes[index % len(owner_codes)]
        serial = serial_for(kind, n)
        row = conn.execute(
            UPSERT_MACHINE,
            (
                serial,
                str(kind),
                model_for(kind, n),
                rng.randint(2016, 2026),
                owner_ids[owner_code],
                owner_dealer[owner_code],
            ),
        ).fetchone()
        assert row is not None
        machines.append(SeededMachine(int(row[0]), serial, kind, owner_code))  # type: ignore[call-overload]
    seed_parts(conn, dealer_ids=[dealer_ids[d[0]] for d in DEALERS], rules=default_rules())
    return SeededFleet(dealer_ids=dealer_ids, owner_ids=owner_ids, machines=machines)


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
