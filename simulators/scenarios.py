"""Fault scenarios as data: a gradual precursor and the DTC the controller raises past a
threshold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from telemetry.wire import Lamp


@dataclass(frozen=True, slots=True)
class CoolingDegradation:
    """A clogging radiator: coolant runs progressively hotter under load until SPN 110 FMI 0."""

    onset: datetime
    ramp_c_per_h: float = 8.0
    max_offset_c: float = 30.0
    dtc_above_c: float = 105.0
    clear_below_c: float = 98.0
    spn: int = 110
    fmi: int = 0
    lamp: Lamp = Lamp.RED


Scenario = CoolingDegradation

# The service interval every demo tractor is set just short of, so one comes due within a short
# demo.
DEMO_INTERVAL_H: Final = 250.0
