"""Rows -> ISO 15143-3 (AEMP 2.0) documents, with the standard's element names. No I/O.

A document is its JSON body (what `application/json` answers) under a root element name (what the
XML answers with, see render.py). Element and URL names follow ISO/TS 15143-3 as the makers publish
it (the Fleet snapshot, and per data element a time series of `<Element>` items under
`<Element>Messages`): `Fleet` / `Links` (rel, href) / `Equipment` / `EquipmentHeader` (OEMName,
Model, EquipmentID, SerialNumber, PIN), `Location` (Latitude, Longitude),
`CumulativeOperatingHours` and `CumulativeIdleHours` (Hour), `FuelRemaining` and `DEFRemaining`
(Percent), `EngineStatus` (Running) and, in the `Faults` series, `FaultCode` (CodeIdentifier,
CodeSeverity). Each element carries its own `datetime`: the measured time of the reading it comes
from, in UTC as YYYY-MM-DDThh:mm:ssZ.

What the standard defines and IronLink does not report, because no controller sends it:
UnitInstallDateTime; Location Altitude/AltitudeUnits; Distance (odometer); FuelUsed,
FuelUsedLast24 (no cumulative fuel counter: integrating `fuel_lph` over readings with coverage gaps
would publish an estimate as a meter value); FuelTankCapacity and DEFTankCapacity (with their
units); EngineStatus EngineNumber; CumulativeIdleNonOperatingHours,
CumulativeNonProductiveIdleHours, CumulativePowerTakeOffHours, CumulativeActiveRegenerationHours,
AverageLoadFactorLast24, PeakDailySpeed/MaximumSpeedLast24, CumulativeLoadCount,
CumulativePayloadTotals, SwitchStatus; FaultCode CodeDescription, CodeSource (the J1939 source
address is not stored) and the air temperature at the code. The MakeModelSerial identification
is not offered: equipment is addressed by ID (the IronLink serial, or the PIN).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from maintenance.errors import Invalid, NotFound

# The standard caps a page at 100 items (snapshot equipment and time-series items alike).
PAGE_SIZE: Final = 100
# Time-series ranges longer than this are refused: page numbers are OFFSETs within the range, so a
# bounded range keeps the last page's cost (and the count behind the `last` link) bounded.
MAX_RANGE: Final = timedelta(days=31)
SCHEMA_VERSION: Final = "1"
NAMESPACE: Final = "http://standards.iso.org/iso/15143/-3"

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]


class DataItem(enum.StrEnum):
    """Time-series data elements, by the URL segment the standard gives them."""

    LOCATIONS = "Locations"
    CUMULATIVE_OPERATING_HOURS = "CumulativeOperatingHours"
    CUMULATIVE_IDLE_HOURS = "CumulativeIdleHours"
    FUEL_REMAINING_RATIO = "FuelRemainingRatio"
    DEF_REMAINING = "DEFRemaining"
    ENGINE_CONDITION = "EngineCondition"
    FAULTS = "Faults"


# Other spellings makers use for the same series (Komatsu: DEFRemainingRatio); links always use
# the canonical name above.
ALIASES: Final[Mapping[str, DataItem]] = {
    "FuelRemaining": DataItem.FUEL_REMAINING_RATIO,
    "DEFRemainingRatio": DataItem.DEF_REMAINING,
    "FaultCode": DataItem.FAULTS,
    "FaultCodes": DataItem.FAULTS,
    "EngineStatus": DataItem.ENGINE_CONDITION,
    "Location": DataItem.LOCATIONS,
}


@dataclass(frozen=True, slots=True)
class Series:
    root: str  # the time-series document's root element
    element: str  # the name of each item in it


SERIES: Final[Mapping[DataItem, Series]] = {
    DataItem.LOCATIONS: Series("LocationMessages", "Location"),
    DataItem.CUMULATIVE_OPERATING_HOURS: Series(
        "CumulativeOperatingHoursMessages", "CumulativeOperatingHours"
    ),
    DataItem.CUMULATIVE_IDLE_HOURS: Series("CumulativeIdleHoursMessages", "CumulativeIdleHours"),
    DataItem.FUEL_REMAINING_RATIO: Series("FuelRemainingMessages", "FuelRemaining"),
    DataItem.DEF_REMAINING: Series("DEFRemainingMessages", "DEFRemaining"),
    DataItem.ENGINE_CONDITION: Series("EngineStatusMessages", "EngineStatus"),
    DataItem.FAULTS: Series("DiagnosticTroubleCode", "FaultCode"),
}

# World manufacturer identifiers (the first three characters of an ISO 10261 PIN) of the makes in
# our fleet, for EquipmentHeader OEMName; a PIN from another maker leaves OEMName out.
OEM_BY_WMI: Final[Mapping[str, str]] = {
    "1RW": "John Deere",
    "CAT": "Caterpillar",
    "KMT": "Komatsu",
    "HCM": "Hitachi",
}


def data_item(name: str) -> DataItem:
    try:
        return DataItem(name)
    except ValueError:
        pass
    if name in ALIASES:
        return ALIASES[name]
    known = ", ".join(DataItem)
    raise NotFound(f"no time series {name!r}; this interface serves {known}")


def zulu(ts: datetime) -> str:
    """UTC to the second with `Z`, as the standard writes every date and time."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str, *, name: str) -> datetime:
    """YYYY-MM-DDThh:mm:ssZ (fractions and an explicit offset are accepted and converted), or a
    bare date meaning its midnight UTC. A time without a zone is refused, never guessed."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name} {text!r} is not a date and time like 2024-05-01T06:00:00Z") from None
    if ts.tzinfo is None:
        raise Invalid(f"{name} {text!r} has no zone: times are UTC, written with a trailing Z")
    return ts.astimezone(UTC)


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Invalid(f"endDateUTC {zulu(end)} must be after startDateUTC {zulu(start)}")
    if end - start > MAX_RANGE:
        raise Invalid(f"a time series spans at most {MAX_RANGE.days} days; ask for several ranges")


def last_page(total: int) -> int:
    """Pages are numbered from 1; an empty collection still has its (empty) page 1."""
    return max(1, math.ceil(total / PAGE_SIZE))


def check_page(page: int, total: int) -> None:
    if page < 1:
        raise Invalid(f"page numbers start at 1, not {page}")
    if page > last_page(total):
        raise NotFound(f"page {page} is beyond the last page, {last_page(total)}")


def offset(page: int) -> int:
    return (page - 1) * PAGE_SIZE


def links(href: Callable[[int], str], *, page: int, total: int) -> list[JsonValue]:
    """self, then prev and next where they exist, then last, as the standard's Links."""
    last = last_page(total)
    rels: list[tuple[str, int]] = [("self", page)]
    if page > 1:
        rels.append(("prev", page - 1))
    if page < last:
        rels.append(("next", page + 1))
    rels.append(("last", last))
    return [{"rel": rel, "href": href(n)} for rel, n in rels]


@dataclass(frozen=True, slots=True)
class Document:
    root: str
    body: JsonObject


@dataclass(frozen=True, slots=True)
class EquipmentRow:
    """One machine with the newest value of each element and when it was measured."""

    serial: str
    model: str
    pin: str | None
    hours_ts: datetime | None = None
    engine_hours: float | None = None
    idle_ts: datetime | None = None
    idle_hours: float | None = None
    location_ts: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    fuel_ts: datetime | None = None
    fuel_pct: float | None = None
    def_ts: datetime | None = None
    def_pct: float | None = None
    engine_ts: datetime | None = None
    rpm: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Position:
    ts: datetime
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class EngineState:
    ts: datetime
    running: bool


@dataclass(frozen=True, slots=True)
class FaultOnset:
    ts: datetime
    spn: int
    fmi: int
    lamp: str  # the most severe lamp lit during the episode


SeriesRow = Sample | Position | EngineState | FaultOnset


def _hours(ts: datetime, hours: float) -> JsonObject:
    return {"datetime": zulu(ts), "Hour": round(hours, 2)}


def _percent(ts: datetime, pct: float) -> JsonObject:
    return {"datetime": zulu(ts), "Percent": round(pct, 1)}


def _location(ts: datetime, lat: float, lon: float) -> JsonObject:
    return {"datetime": zulu(ts), "Latitude": round(lat, 6), "Longitude": round(lon, 6)}


def _engine(ts: datetime, running: bool) -> JsonObject:
    return {"datetime": zulu(ts), "Running": running}


def header(row: EquipmentRow) -> JsonObject:
    """EquipmentID and SerialNumber are the IronLink serial (the controller's identity, which
    machine records key on); the frame's own serial is inside the PIN."""
    out: JsonObject = {}
    oem = OEM_BY_WMI.get(row.pin[:3]) if row.pin else None
    if oem is not None:
        out["OEMName"] = oem
    out["Model"] = row.model
    out["EquipmentID"] = row.serial
    out["SerialNumber"] = row.serial
    if row.pin:
        out["PIN"] = row.pin
    return out


def equipment(row: EquipmentRow) -> JsonObject:
    """Snapshot of one machine: elements it has never reported are left out, not zeroed."""
    out: JsonObject = {"EquipmentHeader": header(row)}
    if row.location_ts and row.lat is not None and row.lon is not None:
        out["Location"] = _location(row.location_ts, row.lat, row.lon)
    if row.hours_ts and row.engine_hours is not None:
        out["CumulativeOperatingHours"] = _hours(row.hours_ts, row.engine_hours)
    if row.idle_ts and row.idle_hours is not None:
        out["CumulativeIdleHours"] = _hours(row.idle_ts, row.idle_hours)
    if row.fuel_ts and row.fuel_pct is not None:
        out["FuelRemaining"] = _percent(row.fuel_ts, row.fuel_pct)
    if row.def_ts and row.def_pct is not None:
        out["DEFRemaining"] = _percent(row.def_ts, row.def_pct)
    if row.engine_ts and row.rpm is not None:
        out["EngineStatus"] = _engine(row.engine_ts, row.rpm > 0)
    return out


def fleet_document(
    rows: Sequence[EquipmentRow],
    *,
    page: int,
    total: int,
    href: Callable[[int], str],
    now: datetime,
) -> Document:
    return Document(
        "Fleet",
        {
            "version": SCHEMA_VERSION,
            "snapshotTime": zulu(now),
            "Links": links(href, page=page, total=total),
            "Equipment": [equipment(r) for r in rows],
        },
    )


def equipment_document(row: EquipmentRow, *, self_href: str, now: datetime) -> Document:
    """The single-element snapshot: a Fleet holding one Equipment, linked to itself only."""
    return Document(
        "Fleet",
        {
            "version": SCHEMA_VERSION,
            "snapshotTime": zulu(now),
            "Links": [{"rel": "self", "href": self_href}],
            "Equipment": [equipment(row)],
        },
    )


def code_identifier(spn: int, fmi: int) -> str:
    """The J1939 DTC as suspect parameter number and failure mode identifier."""
    return f"SPN {spn} FMI {fmi}"


_HOUR_ITEMS: Final = frozenset(
    {DataItem.CUMULATIVE_OPERATING_HOURS, DataItem.CUMULATIVE_IDLE_HOURS}
)


def series_item(item: DataItem, row: SeriesRow) -> JsonObject:
    match row:
        case Sample(ts=ts, value=value):
            return _hours(ts, value) if item in _HOUR_ITEMS else _percent(ts, value)
        case Position(ts=ts, lat=lat, lon=lon):
            return _location(ts, lat, lon)
        case EngineState(ts=ts, running=running):
            return _engine(ts, running)
        case FaultOnset(ts=ts, spn=spn, fmi=fmi, lamp=lamp):
            return {
                "datetime": zulu(ts),
                "CodeIdentifier": code_identifier(spn, fmi),
                "CodeSeverity": lamp,
            }


def series_document(
    item: DataItem,
    rows: Sequence[SeriesRow],
    *,
    page: int,
    total: int,
    href: Callable[[int], str],
) -> Document:
    """One page of a time series, oldest first. EngineCondition lists changes of the running
    state (the first reading of the range, then each start and stop), not every reading."""
    series = SERIES[item]
    items: list[JsonValue] = [series_item(item, r) for r in rows]
    return Document(
        series.root,
        {"Links": links(href, page=page, total=total), series.element: items},
    )
