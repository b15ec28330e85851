"""Model profiles and duty cycles as data (data/models.yaml), validated into typed structs."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Final

import msgspec
import yaml

from telemetry.wire import Kind

Range = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]


class ModelProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    model: str
    kind: Kind
    rated_kw: float
    rated_rpm: float
    idle_rpm: float
    full_load_lph: float  # fuel burn at 100 % load and rated speed
    idle_lph: float
    tank_l: float
    def_tank_l: float  # 0: no SCR, the machine reports no DEF level
    coolant_warm_c: float  # thermostat-regulated coolant temperature at 50 % load
    coolant_per_load_c: float  # extra degrees from 50 % to 100 % load
    hyd_warm_c: float
    hyd_per_load_c: float
    oil_kpa_idle: float
    oil_kpa_rated: float
    pto_rpm: float  # 0: no PTO reported
    work_speed_kmh: Range
    road_speed_kmh: Range
    service_intervals_h: list[float]


class Mode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    share: float
    mean_min: float
    load: Range  # mean, standard deviation


class Duty(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    idle: Mode
    work: Mode
    travel: Mode


class Shifts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start_h: Range
    length_h: Range
    saturday_share: float
    stops_per_h: float
    stop_min: Range


class Catalogue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    models: list[ModelProfile]
    duty: dict[Kind, Duty]
    shifts: Shifts
    excavator_cycle_s: Range

    def profile(self, kind: Kind, model: str | None) -> ModelProfile:
        """The named model's profile, or the first profile of the kind for an unknown model."""
        same_kind = [p for p in self.models if p.kind is kind]
        return next((p for p in same_kind if p.model == model), same_kind[0])


def parse_catalogue(text: str) -> Catalogue:
    return msgspec.convert(yaml.safe_load(text), Catalogue)


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue (simulators/data/models.yaml)."""
    text = resources.files("simulators").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text)


# The models the demo fleet is given, in turn by machine number; the seed and the simulator both
# use this so that a simulated machine behaves like the model its record names.
DEMO_MODELS: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.TRACTOR: ("6155M", "5075E", "8R 370"),
    Kind.EXCAVATOR: ("320 GC", "PC210LC-11", "ZX135US-7"),
}


def demo_model(kind: Kind, number: int) -> str:
    models = DEMO_MODELS[kind]
    return models[(number - 1) % len(models)]
