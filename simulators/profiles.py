"""Model profiles as data: what a healthy machine of each kind reads like."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from telemetry.wire import Kind


@dataclass(frozen=True, slots=True)
class Profile:
    kind: Kind
    rated_rpm: float
    idle_rpm: float
    full_load_lph: float  # fuel burn at 100 % load
    idle_lph: float
    tank_l: float
    coolant_warm_c: float  # thermostat-regulated coolant temperature at moderate load
    coolant_per_load_c: float  # extra degrees at 100 % load over the warm temperature
    work_load_pct: tuple[float, float]  # typical load range while working


PROFILES: Final[dict[Kind, Profile]] = {
    Kind.TRACTOR: Profile(Kind.TRACTOR, 2100, 850, 32.0, 2.5, 230.0, 85.0, 8.0, (45.0, 85.0)),
    Kind.EXCAVATOR: Profile(Kind.EXCAVATOR, 1900, 900, 24.0, 2.8, 345.0, 84.0, 9.0, (30.0, 95.0)),
}

# Working day: engines run between these local hours on working days (Mon..Sat).
SHIFT_START_H: Final = 7
SHIFT_END_H: Final = 18
WORKING_WEEKDAYS: Final = frozenset(range(6))
