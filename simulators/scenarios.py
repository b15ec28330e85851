"""Fault scenarios and run plans as data, validated into typed structs.

data/faults.yaml is the catalogue of faults a controller can develop (precursor effect and DTCs);
a run plan (data/default_plan.yaml, or `ironlink simulate --scenario FILE`) says which faults are
injected into how many machines and how the machines' connectivity behaves.
"""

from __future__ import annotations

import enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

import msgspec
import yaml

from telemetry.wire import Kind, Lamp

Range = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]


class PlanError(ValueError):
    """A scenario file that cannot be used, with the reason."""


class Effect(enum.StrEnum):
    COOLANT_OFFSET = "coolant_offset"
    HYD_OFFSET = "hyd_offset"
    OIL_PRESSURE_LOSS = "oil_pressure_loss"
    CHARGE_LOSS = "charge_loss"
    FUEL_RESTRICTION = "fuel_restriction"
    HYD_PRESSURE_LOSS = "hyd_pressure_loss"
    DEF_NEGLECT = "def_neglect"
    HIDDEN = "hidden"
    INTERMITTENT = "intermittent"


# A DTC condition on one of these readings, or on the fault's own severity.
DTC_SIGNALS = frozenset({"coolant_c", "hyd_oil_c", "oil_kpa", "battery_v", "def_pct", "severity"})


class DtcSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    spn: Annotated[int, msgspec.Meta(ge=0, le=524287)]
    fmi: Annotated[int, msgspec.Meta(ge=0, le=31)]
    lamp: Lamp
    signal: str
    above: float | None = None
    below: float | None = None
    clear: float | None = None  # hysteresis level; default: the raise level itself


class Fault(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str
    kinds: list[Kind]
    effect: Effect
    ramp_per_h: float
    max: float
    dtcs: list[DtcSpec]
    flicker_from: float | None = None
    flicker_per_h: float = 0.0
    flicker_min: Range = msgspec.field(default_factory=lambda: [1.0, 5.0])


class FaultCatalogue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    faults: list[Fault]

    def by_name(self) -> dict[str, Fault]:
        return {f.name: f for f in self.faults}


class Injection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fault: str
    machines: Annotated[float, msgspec.Meta(gt=0)]  # a share (< 1) or a count (>= 1)
    onset_h: Range
    speed: float = 1.0
    serials: list[str] | None = None  # exact machines instead of drawn ones


class Connectivity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    gaps_per_day: float = 0.0
    gap_h: Range = msgspec.field(default_factory=lambda: [0.25, 6.0])
    batch_max: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 120
    resend_last: Annotated[int, msgspec.Meta(ge=0)] = 0
    skewed_share: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    skew_s: Range = msgspec.field(default_factory=lambda: [-120.0, 120.0])


class MachineOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A machine's starting state set by the plan (e.g. just short of a service interval)."""

    serial: str
    engine_hours: Annotated[float, msgspec.Meta(ge=0)]


class Plan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    injections: list[Injection] = msgspec.field(default_factory=list)
    connectivity: Connectivity = msgspec.field(default_factory=Connectivity)
    machines: list[MachineOverride] = msgspec.field(default_factory=list)


def _validate_catalogue(catalogue: FaultCatalogue) -> FaultCatalogue:
    for fault in catalogue.faults:
        for dtc in fault.dtcs:
            if dtc.signal not in DTC_SIGNALS:
                raise PlanError(
                    f"fault {fault.name}: DTC signal {dtc.signal!r} is not one of "
                    f"{sorted(DTC_SIGNALS)}"
                )
            if (dtc.above is None) == (dtc.below is None):
                raise PlanError(
                    f"fault {fault.name}: DTC {dtc.spn}/{dtc.fmi} needs exactly one of above/below"
                )
    return catalogue


def parse_catalogue(text: str) -> FaultCatalogue:
    try:
        catalogue = msgspec.convert(yaml.safe_load(text), FaultCatalogue)
    except (msgspec.ValidationError, yaml.YAMLError) as exc:
        raise PlanError(f"fault catalogue: {exc}") from exc
    return _validate_catalogue(catalogue)


@cache
def fault_catalogue() -> FaultCatalogue:
    text = resources.files("simulators").joinpath("data/faults.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text)


def parse_plan(text: str, catalogue: FaultCatalogue | None = None) -> Plan:
    try:
        plan = msgspec.convert(yaml.safe_load(text), Plan)
    except (msgspec.ValidationError, yaml.YAMLError) as exc:
        raise PlanError(f"scenario file: {exc}") from exc
    known = (catalogue or fault_catalogue()).by_name()
    for injection in plan.injections:
        if injection.fault not in known:
            raise PlanError(
                f"scenario file: unknown fault {injection.fault!r}; known: "
                f"{', '.join(sorted(known))}"
            )
        low, high = injection.onset_h
        if low > high or low < 0:
            raise PlanError(
                f"scenario file: onset_h {injection.onset_h} of {injection.fault} "
                "must be a non-negative [from, to] range"
            )
    return plan


SHIPPED_PLANS = {"default": "data/default_plan.yaml", "demo": "data/demo_plan.yaml"}


def load_plan(name_or_path: str | Path = "default") -> Plan:
    """A shipped run plan by name ("default", "demo"), or the plan in a file."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_PLANS:
        resource = resources.files("simulators").joinpath(SHIPPED_PLANS[name_or_path])
        return parse_plan(resource.read_text(encoding="utf-8"))
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"scenario file {path}: {exc.strerror}") from exc
    return parse_plan(text)
