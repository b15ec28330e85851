"""The signal catalogue as data: name, unit, plausible range and which kinds report it.

Validation rejects values outside these ranges; rules refuse signals not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from telemetry.wire import Kind


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    unit: str
    lo: float
    hi: float
    kinds: frozenset[Kind] = frozenset(Kind)


_BOTH = frozenset(Kind)

SIGNALS: Final[tuple[Signal, ...]] = (
    Signal("engine_hours", "h", 0.0, 1_000_000.0, _BOTH),
    Signal("rpm", "1/min", 0.0, 5_000.0, _BOTH),
    Signal("load_pct", "%", 0.0, 125.0, _BOTH),
    Signal("coolant_c", "degC", -50.0, 160.0, _BOTH),
    Signal("oil_kpa", "kPa", 0.0, 1_200.0, _BOTH),
    Signal("fuel_pct", "%", 0.0, 100.0, _BOTH),
    Signal("fuel_lph", "l/h", 0.0, 500.0, _BOTH),
    Signal("def_pct", "%", 0.0, 100.0, _BOTH),
    Signal("battery_v", "V", 0.0, 36.0, _BOTH),
    Signal("hyd_oil_c", "degC", -50.0, 160.0, _BOTH),
    Signal("hyd_bar", "bar", 0.0, 600.0, _BOTH),
    Signal("lat", "deg", -90.0, 90.0, _BOTH),
    Signal("lon", "deg", -180.0, 180.0, _BOTH),
    Signal("speed_kmh", "km/h", 0.0, 80.0, _BOTH),
    Signal("pto_rpm", "1/min", 0.0, 1_200.0, frozenset({Kind.TRACTOR})),
    Signal("boom_cycles", "count", 0.0, 1e12, frozenset({Kind.EXCAVATOR})),
    Signal("idle_hours", "h", 0.0, 1_000_000.0, _BOTH),
)

BY_NAME: Final[dict[str, Signal]] = {s.name: s for s in SIGNALS}
