"""Realistic CRM records for the demo, planned without I/O: service points, owners with contacts,
technicians, machines with PIN, purchase and warranty, and their service history.

Everything is deterministic for (seed, as_of): each record draws from its own random stream named
by its natural key (owner number, serial), so growing one size never changes the records another
size already made. maintenance.fleet.seed writes the plans idempotently by natural key.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from telemetry.wire import Kind

OwnerKind = str  # farmer | cooperative | contractor | rental | government (owners.kind CHECK)
SKILLS: Final = ("engine", "hydraulics", "electrical", "aftertreatment", "service")


@dataclass(frozen=True, slots=True)
class DealerSpec:
    code: str
    name: str
    region: str
    lat: float
    lon: float
    timezone: str
    phone: str
    email: str
    parts_warehouse: str
    opening_hours: Mapping[str, tuple[str, str]]  # ISO weekday -> (opens, closes); absent = closed
    labour_rate_per_h: Decimal


WEEKDAYS: Final = {str(d): ("07:30", "17:30") for d in range(1, 6)}
WITH_SATURDAY: Final = {**WEEKDAYS, "6": ("08:00", "12:00")}
# The first three are the original demo dealers (same codes and names): the named owners and the
# simulated machines stay with them.
DEALERS: Final = (
    DealerSpec("DLR-NORTH", "Northfield Agri & Plant", "North", 52.95, -1.15, "Europe/London",
               "+44 115 496 0100", "service@northfield.example", "WH-MIDLANDS", WITH_SATURDAY,
               Decimal("86.00")),
    DealerSpec("DLR-VALLEY", "Valley Machinery", "Valley", 52.20, 0.12, "Europe/London",
               "+44 1223 496 200", "workshop@valleymachinery.example", "WH-EAST", WEEKDAYS,
               Decimal("82.00")),
    DealerSpec("DLR-COAST", "Coastline Equipment", "Coast", 50.72, -3.53, "Europe/London",
               "+44 1392 496 300", "service@coastline.example", "WH-SOUTHWEST", WITH_SATURDAY,
               Decimal("79.00")),
    DealerSpec("DLR-UPLAND", "Upland Tractors & Diggers", "Upland", 54.33, -2.75,
               "Europe/London", "+44 1539 496 400", "help@upland.example", "WH-MIDLANDS",
               WEEKDAYS, Decimal("84.00")),
    DealerSpec("DLR-SHANNON", "Shannon Plant Services", "Shannon", 52.67, -8.63, "Europe/Dublin",
               "+353 61 496 500", "service@shannonplant.example", "WH-IRELAND", WITH_SATURDAY,
               Decimal("91.00")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TechnicianSpec:
    dealer_code: str
    name: str
    skills: tuple[str, ...]
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class ContactSpec:
    name: str
    role: str
    phone: str | None
    email: str | None
    preferred: bool


@dataclass(frozen=True, slots=True)
class OwnerSpec:
    code: str
    name: str
    kind: OwnerKind
    dealer_code: str
    region: str
    email: str
    phone: str
    customer_since: date
    contacts: tuple[ContactSpec, ...]


@dataclass(frozen=True, slots=True)
class MachineSpec:
    serial: str
    kind: Kind
    model: str
    year: int
    owner_code: str
    dealer_code: str  # servicing
    selling_dealer_code: str
    pin: str
    purchase_date: date
    purchase_price: Decimal
    warranty_end: date
    active: bool


@dataclass(frozen=True, slots=True)
class PartUse:
    part_no: str
    qty: int


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    serial: str
    dealer_code: str
    technician_name: str
    kind: str  # service | repair | inspection | warranty
    rule_key: str
    engine_hours: float
    done_at: datetime
    labour_h: Decimal
    parts: tuple[PartUse, ...]
    notes: str


FIRST_NAMES: Final = (
    "Tom", "Sarah", "James", "Aoife", "Mark", "Emma", "David", "Ciara", "Paul", "Rachel", "Gareth",
    "Helen", "Owen", "Lucy", "Declan", "Fiona", "Rhys", "Megan", "Sean", "Claire", "Ian", "Niamh",
)  # fmt: skip
SURNAMES: Final = (
    "Baxter", "Hughes", "Walsh", "Pritchard", "Dawson", "Kelly", "Morgan", "Fletcher", "Byrne",
    "Thornton", "Ellis", "Murphy", "Greaves", "Lloyd", "Ashworth", "Doyle", "Rowe", "Carter",
)  # fmt: skip
PLACES: Final = (
    "Ashby", "Brackley", "Calder", "Dunmore", "Elmstead", "Fenwick", "Glenmore", "Holbeck",
    "Ingleby", "Kilrush", "Langley", "Marsden", "Newbold", "Oakham", "Pendle", "Redmire",
    "Sowerby", "Thornbury", "Upton", "Whitwell", "Yarrow", "Ballina", "Carrow", "Hexton",
)  # fmt: skip
OWNER_NAME: Final[Mapping[OwnerKind, tuple[str, ...]]] = {
    "farmer": ("{place} Farms", "{surname} & Sons", "{place} Estate", "{surname} Farming Ltd"),
    "cooperative": ("{place} Growers Cooperative", "{place} Machinery Ring"),
    "contractor": ("{place} Earthworks Ltd", "{surname} Civils", "{surname} Agri Contracting"),
    "rental": ("{place} Plant Hire", "{surname} Hire Centre"),
    "government": ("{place} County Council Highways", "{place} Water Authority"),
}
CONTACT_ROLES: Final[Mapping[OwnerKind, tuple[str, ...]]] = {
    "farmer": ("Owner", "Farm manager", "Workshop"),
    "cooperative": ("Chair", "Machinery coordinator", "Accounts"),
    "contractor": ("Director", "Plant manager", "Site foreman"),
    "rental": ("Depot manager", "Fleet engineer", "Accounts"),
    "government": ("Fleet manager", "Depot supervisor", "Procurement"),
}
# A realistic mix: mostly farms, then contractors; few public bodies.
OWNER_KIND_WEIGHTS: Final[Mapping[OwnerKind, float]] = {
    "farmer": 0.45, "cooperative": 0.1, "contractor": 0.25, "rental": 0.1, "government": 0.1,
}  # fmt: skip
# Relative fleet size by owner kind (a rental depot runs five times a farm's machines).
FLEET_WEIGHT: Final[Mapping[OwnerKind, float]] = {
    "farmer": 3, "cooperative": 8, "contractor": 10, "rental": 16, "government": 7,
}  # fmt: skip
TRACTOR_SHARE: Final[Mapping[OwnerKind, float]] = {
    "farmer": 0.95, "cooperative": 0.9, "contractor": 0.45, "rental": 0.3, "government": 0.5,
}  # fmt: skip
# Engine hours a year: rental and contractors work machines hardest.
HOURS_PER_YEAR: Final[Mapping[OwnerKind, float]] = {
    "farmer": 450, "cooperative": 650, "contractor": 1000, "rental": 1150, "government": 600,
}  # fmt: skip

# 2026 list prices (EUR) and the maker's 3-letter code for the PIN. Older model years list lower
# by PRICE_DRIFT a year; dealers discount 3-15 %.
MODELS: Final[Mapping[Kind, tuple[tuple[str, int, str, float], ...]]] = {
    Kind.TRACTOR: (("6155M", 185_000, "1RW", 0.4), ("5075E", 68_000, "1RW", 0.45),
                   ("8R 370", 420_000, "1RW", 0.15)),
    Kind.EXCAVATOR: (("320 GC", 215_000, "CAT", 0.4), ("PC210LC-11", 240_000, "KMT", 0.3),
                     ("ZX135US-7", 165_000, "HCM", 0.3)),
}  # fmt: skip
PRICE_BASE_YEAR: Final = 2026
PRICE_DRIFT: Final = 0.025
MAX_AGE_Y: Final = 14
# ISO 3779 model-year letters (no I, O, Q, U, Z), 2010 = A.
YEAR_CODES: Final = "ABCDEFGHJKLMNPRSTVWXY"

# A service visit every 250 h; every second one is the 500-hour service, which also does the
# 250-hour work (both kits). Labour hours as a dealer's flat-rate book would charge them.
SERVICE_EVERY_H: Final = 250
SERVICE_LABOUR_H: Final = {"svc-250h": 1.5, "svc-500h": 3.0}
# Repairs by fault-code rule: the skill it needs and the flat-rate labour.
REPAIRS: Final = (
    ("spn110-fmi0", "engine", 3.0), ("spn100-fmi1", "engine", 1.5),
    ("spn637-crank-sensor", "engine", 2.0), ("spn1638-hyd-temp", "hydraulics", 2.5),
    ("spn2602-hyd-level", "hydraulics", 4.0), ("spn168-charging", "electrical", 1.5),
    ("spn158-supply-low", "electrical", 1.0), ("spn1761-def-level", "aftertreatment", 0.5),
)  # fmt: skip
REPAIRS_PER_YEAR: Final = 0.35
INSPECTED_KINDS: Final = frozenset({"rental", "government"})  # yearly thorough examination
INSPECTION_LABOUR_H: Final = 1.0


def _rng(seed: int, *key: object) -> random.Random:
    # A str seed hashes with SHA-512 in random.Random, not with Python's randomised hash().
    return random.Random(":".join(str(k) for k in (seed, *key)))


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _phone(rng: random.Random, dealer: DealerSpec) -> str:
    prefix = "+353 8" if dealer.timezone == "Europe/Dublin" else "+44 7700 9"
    return f"{prefix}{rng.randrange(10_000, 99_999)}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def plan_technicians(*, seed: int) -> list[TechnicianSpec]:
    """3-5 technicians per dealer; the skills are dealt so every dealer covers all of SKILLS."""
    techs: list[TechnicianSpec] = []
    for dealer in DEALERS:
        rng = _rng(seed, "technicians", dealer.code)
        count = rng.randint(3, 5)
        skills: list[set[str]] = [set() for _ in range(count)]
        for i, skill in enumerate(rng.sample(SKILLS, len(SKILLS))):
            skills[i % count].add(skill)
        names: list[str] = []
        while len(names) < count:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
            if name not in names:
                names.append(name)
        for name, own in zip(names, skills, strict=True):
            if rng.random() < 0.4:
                own.add(rng.choice(SKILLS))
            domain = dealer.email.split("@", 1)[1]
            techs.append(
                TechnicianSpec(
                    dealer_code=dealer.code,
                    name=name,
                    skills=tuple(s for s in SKILLS if s in own),
                    phone=_phone(rng, dealer),
                    email=f"{_slug(name.split()[0])}.{_slug(name.split()[1])}@{domain}",
                )
            )
    return techs


def _contacts(
    rng: random.Random, *, kind: OwnerKind, dealer: DealerSpec, domain: str
) -> tuple[ContactSpec, ...]:
    count = rng.choice((1, 1, 2, 2, 2, 3))
    roles = rng.sample(CONTACT_ROLES[kind], count)
    preferred = rng.randrange(count)
    contacts: list[ContactSpec] = []
    for i, role in enumerate(roles):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        if any(c.name == name for c in contacts):
            name = f"{name} ({role})"
        has_email = rng.random() < 0.8
        contacts.append(
            ContactSpec(
                name=name,
                role=role,
                phone=_phone(rng, dealer) if (not has_email or rng.random() < 0.85) else None,
                email=f"{_slug(name.split()[0])}@{domain}" if has_email else None,
                preferred=i == preferred,
            )
        )
    return tuple(contacts)


def plan_owners(
    *, seed: int, count: int, as_of: date, named: Sequence[tuple[str, str, OwnerKind, str]]
) -> list[OwnerSpec]:
    """The named owners (code, name, kind, dealer code) first, then generated ones OWN-007...
    up to `count` in all; customer since spread over the last 15 years."""
    dealers = {d.code: d for d in DEALERS}
    kinds = list(OWNER_KIND_WEIGHTS)
    owners: list[OwnerSpec] = []
    names: set[str] = {n for _, n, _, _ in named}
    for n in range(1, max(count, len(named)) + 1):
        rng = _rng(seed, "owner", n)
        if n <= len(named):
            code, name, kind, dealer_code = named[n - 1]
            # The named owners are the demo's long-standing customers.
            since = date(rng.randint(2008, 2015), rng.randint(1, 12), rng.randint(1, 28))
        else:
            kind = rng.choices(kinds, weights=[OWNER_KIND_WEIGHTS[k] for k in kinds])[0]
            dealer_code = rng.choice(DEALERS).code
            template = rng.choice(OWNER_NAME[kind])
            name = template.format(place=rng.choice(PLACES), surname=rng.choice(SURNAMES))
            if name in names:
                name = f"{name} ({dealers[dealer_code].region})"
            code = f"OWN-{n:03d}"
            since = as_of - timedelta(days=rng.randint(30, 15 * 365))
        names.add(name)
        dealer = dealers[dealer_code]
        domain = f"{_slug(name)[:20]}.example"
        owners.append(
            OwnerSpec(
                code=code,
                name=name,
                kind=kind,
                dealer_code=dealer_code,
                region=dealer.region,
                email=f"office@{domain}",
                phone=_phone(rng, dealer),
                customer_since=since,
                contacts=_contacts(rng, kind=kind, dealer=dealer, domain=domain),
            )
        )
    return owners


def pin_for(*, maker: str, model: str, year: int, sequence: int) -> str:
    """17 characters (ISO 10261 layout): maker, model, model-year letter, 8-digit serial."""
    model_code = re.sub(r"[^A-Z0-9]", "", model.upper())[:5].rjust(5, "0")
    return f"{maker}{model_code}{YEAR_CODES[(year - 2010) % len(YEAR_CODES)]}{sequence:08d}"


def commercial_facts(
    rng: random.Random, *, kind: Kind, model: str, year: int, not_before: date, as_of: date
) -> tuple[str, date, Decimal, date]:
    """(maker code, purchase date, purchase price, warranty end) of a machine bought new."""
    _, list_price, maker, _ = next(m for m in MODELS[kind] if m[0] == model)
    start = max(date(year, 1, 1), not_before)
    bought = min(start + timedelta(days=rng.randint(0, 300)), as_of - timedelta(days=1))
    price = list_price * (1 - PRICE_DRIFT) ** (PRICE_BASE_YEAR - year) * rng.uniform(0.85, 0.97)
    warranty_y = 3 if (kind is Kind.EXCAVATOR or rng.random() < 0.3) else 2
    return (
        maker,
        bought,
        Decimal(round(price, -2)).quantize(Decimal("0.01")),
        _add_years(bought, warranty_y),
    )


def plan_machines(
    *, seed: int, count: int, owners: Sequence[OwnerSpec], as_of: date
) -> list[MachineSpec]:
    """`count` record-only machines REC-00001...: every owner gets one before any gets a second;
    the rest go by fleet weight of the owner's kind. They never report (no controller)."""
    weights = [FLEET_WEIGHT[o.kind] * _rng(seed, "fleet", o.code).lognormvariate(0, 0.5)
               for o in owners]  # fmt: skip
    machines: list[MachineSpec] = []
    for n in range(1, count + 1):
        rng = _rng(seed, "machine", n)
        owner = owners[n - 1] if n <= len(owners) else rng.choices(owners, weights=weights)[0]
        kind = Kind.TRACTOR if rng.random() < TRACTOR_SHARE[owner.kind] else Kind.EXCAVATOR
        model = rng.choices(MODELS[kind], weights=[m[3] for m in MODELS[kind]])[0][0]
        first_year = max(owner.customer_since.year, as_of.year - MAX_AGE_Y)
        year = rng.randint(first_year, as_of.year)
        maker, bought, price, warranty_end = commercial_facts(
            rng, kind=kind, model=model, year=year, not_before=owner.customer_since, as_of=as_of
        )
        servicing = owner.dealer_code if rng.random() < 0.9 else rng.choice(DEALERS).code
        selling = servicing if rng.random() < 0.85 else rng.choice(DEALERS).code
        machines.append(
            MachineSpec(
                serial=f"REC-{n:05d}",
                kind=kind,
                model=model,
                year=year,
                owner_code=owner.code,
                dealer_code=servicing,
                selling_dealer_code=selling,
                pin=pin_for(maker=maker, model=model, year=year, sequence=30_000_000 + n),
                purchase_date=bought,
                purchase_price=price,
                warranty_end=warranty_end,
                # Some of the oldest machines were sold on or scrapped.
                active=not (as_of.year - year > 11 and rng.random() < 0.3),
            )
        )
    return machines


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(7, 15), rng.choice((0, 15, 30, 45))), UTC)


def plan_history(
    machine: MachineSpec,
    *,
    seed: int,
    owner: OwnerSpec,
    technicians: Sequence[TechnicianSpec],
    kits: Mapping[str, Sequence[PartUse]],
    as_of: date,
) -> list[ServiceSpec]:
    """Past services every 250 h (some done elsewhere: a loyal owner brings most), repairs now
    and then (warranty ones while under warranty) and yearly inspections for hire and public
    fleets, at engine hours consistent with the machine's age and its owner's usage."""
    rng = _rng(seed, "history", machine.serial)
    loyalty = _rng(seed, "loyalty", owner.code).uniform(0.45, 1.0)
    rate_h_per_day = HOURS_PER_YEAR[owner.kind] * rng.uniform(0.7, 1.3) / 365.25
    last_day = as_of if machine.active else _add_years(machine.purchase_date, 11)
    age_days = (min(last_day, as_of) - machine.purchase_date).days
    staff = [t for t in technicians if t.dealer_code == machine.dealer_code]

    def tech(skill: str) -> str:
        return rng.choice([t for t in staff if skill in t.skills] or staff).name

    def day_at(hours: float) -> date:
        return machine.purchase_date + timedelta(days=int(hours / rate_h_per_day))

    records: list[ServiceSpec] = []
    for k in range(1, int(age_days * rate_h_per_day // SERVICE_EVERY_H) + 1):
        hours = k * SERVICE_EVERY_H + rng.uniform(-20, 30)
        if rng.random() > loyalty or day_at(hours) >= as_of:
            continue
        key = "svc-500h" if k % 2 == 0 else "svc-250h"
        parts = (*kits.get("svc-250h", ()), *(kits.get("svc-500h", ()) if k % 2 == 0 else ()))
        records.append(
            ServiceSpec(
                serial=machine.serial,
                dealer_code=machine.dealer_code,
                technician_name=tech("service"),
                kind="service",
                rule_key=key,
                engine_hours=round(hours, 1),
                done_at=_at(day_at(hours), rng),
                labour_h=Decimal(str(round(SERVICE_LABOUR_H[key] * rng.uniform(0.8, 1.3) * 4) / 4)),
                parts=parts,
                notes=f"{key.removeprefix('svc-')} service",
            )
        )
    for _ in range(sum(rng.random() < REPAIRS_PER_YEAR for _ in range(age_days // 365 + 1))):
        day = machine.purchase_date + timedelta(days=rng.randint(0, max(age_days - 1, 0)))
        if day >= as_of:
            continue
        rule_key, skill, labour_h = rng.choice(REPAIRS)
        records.append(
            ServiceSpec(
                serial=machine.serial,
                dealer_code=machine.dealer_code,
                technician_name=tech(skill),
                kind="warranty" if day <= machine.warranty_end else "repair",
                rule_key=rule_key,
                engine_hours=round((day - machine.purchase_date).days * rate_h_per_day, 1),
                done_at=_at(day, rng),
                labour_h=Decimal(str(round(labour_h * rng.uniform(0.8, 1.5) * 4) / 4)),
                parts=tuple(kits.get(rule_key, ())),
                notes=f"repair after {rule_key}",
            )
        )
    if owner.kind in INSPECTED_KINDS:
        for year in range(1, age_days // 365 + 1):
            day = _add_years(machine.purchase_date, year)
            records.append(
                ServiceSpec(
                    serial=machine.serial,
                    dealer_code=machine.dealer_code,
                    technician_name=tech("service"),
                    kind="inspection",
                    rule_key="inspection-yearly",
                    engine_hours=round((day - machine.purchase_date).days * rate_h_per_day, 1),
                    done_at=_at(day, rng),
                    labour_h=Decimal(str(INSPECTION_LABOUR_H)),
                    parts=(),
                    notes="yearly thorough examination",
                )
            )
    return records
