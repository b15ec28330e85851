"""Demo fleet: dealers, owners and machines, created idempotently by natural keys.

The same seed gives the same fleet; machine serials are TR-0001... (tractors), EX-0001...
(excavators).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, LiteralString

import psycopg

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
    return SeededFleet(dealer_ids=dealer_ids, owner_ids=owner_ids, machines=machines)
