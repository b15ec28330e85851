"""Controller model of one tractor or excavator: deterministic for a seed, emits wire structs. No
I/O.

Engine hours accrue only while the engine runs; coolant follows its target with thermal inertia;
fuel burns with load and is refilled at the start of a working day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from simulators.profiles import PROFILES, SHIFT_END_H, SHIFT_START_H, WORKING_WEEKDAYS, Profile
from simulators.scenarios import Scenario
from telemetry.wire import Dm1, Dtc, Kind, Reading

COOLANT_TAU_S = 600.0  # coolant reaches ~63 % of a step in target temperature in ten minutes
AMBIENT_C = 14.0


@dataclass(slots=True)
class MachineSim:
    serial: str
    kind: Kind
    rng: np.random.Generator
    engine_hours: float
    base_lat: float
    base_lon: float
    scenarios: list[Scenario] = field(default_factory=list)
    seq: int = 0
    fuel_pct: float = 80.0
    coolant_c: float = AMBIENT_C
    lat: float = 0.0
    lon: float = 0.0
    boom_cycles: int = 0
    active: dict[tuple[int, int], Dtc] = field(default_factory=dict)
    _refuelled_on: int = -1

    @property
    def profile(self) -> Profile:
        return PROFILES[self.kind]

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def step(self, ts: datetime, dt_s: float) -> tuple[Reading, Dm1 | None]:
        """Advances the controller by dt_s to ts; returns the reading and a DM1 report if the
        active fault list changed."""
        p = self.profile
        working = ts.weekday() in WORKING_WEEKDAYS and SHIFT_START_H <= ts.hour < SHIFT_END_H
        if working and self._refuelled_on != ts.toordinal() and self.fuel_pct < 60:
            self.fuel_pct, self._refuelled_on = 100.0, ts.toordinal()
        running = working and self.rng.random() > 0.08  # short stops within the shift
        if running:
            load = float(self.rng.uniform(*p.work_load_pct))
            rpm = p.idle_rpm + (p.rated_rpm - p.idle_rpm) * (0.35 + 0.65 * load / 100)
            fuel_lph = p.idle_lph + (p.full_load_lph - p.idle_lph) * load / 100
            self.engine_hours += dt_s / 3600.0
        else:
            load, rpm, fuel_lph = 0.0, 0.0, 0.0
        self.fuel_pct = max(0.0, self.fuel_pct - fuel_lph * dt_s / 3600.0 / p.tank_l * 100.0)
        target = (
            (p.coolant_warm_c + p.coolant_per_load_c * (load - 50) / 50) if running else AMBIENT_C
        )
        target += self._cooling_offset(ts, load) if running else 0.0
        self.coolant_c += (target - self.coolant_c) * (1 - math.exp(-dt_s / COOLANT_TAU_S))
        self.coolant_c += float(self.rng.normal(0, 0.3))
        if running:
            self.lat = self.base_lat + float(self.rng.normal(0, 0.002))
            self.lon = self.base_lon + float(self.rng.normal(0, 0.002))
            if self.kind is Kind.EXCAVATOR:
                self.boom_cycles += int(dt_s / 20)
        reading = Reading(
            seq=self.next_seq(),
            ts=ts,
            engine_hours=round(self.engine_hours, 3),
            rpm=round(rpm, 0),
            load_pct=round(load, 1),
            coolant_c=round(self.coolant_c, 1),
            oil_kpa=round(120 + 0.18 * rpm + float(self.rng.normal(0, 5)), 0) if running else 0.0,
            fuel_pct=round(self.fuel_pct, 1),
            fuel_lph=round(fuel_lph, 1),
            def_pct=round(max(0.0, 90 - (100 - self.fuel_pct) * 0.3), 1),
            battery_v=round((14.1 if running else 12.6) + float(self.rng.normal(0, 0.05)), 2),
            hyd_oil_c=round(max(AMBIENT_C, self.coolant_c - 15), 1),
            hyd_bar=round(60 + 2.2 * load, 0) if running else 0.0,
            lat=round(self.lat or self.base_lat, 6),
            lon=round(self.lon or self.base_lon, 6),
            speed_kmh=round(float(self.rng.uniform(4, 12)), 1)
            if running and self.kind is Kind.TRACTOR
            else 0.0,
            pto_rpm=(540.0 if running else 0.0) if self.kind is Kind.TRACTOR else None,
            boom_cycles=self.boom_cycles if self.kind is Kind.EXCAVATOR else None,
        )
        return reading, self._update_dtcs(ts)

    def _cooling_offset(self, ts: datetime, load: float) -> float:
        offset = 0.0
        for s in self.scenarios:
            if ts >= s.onset:
                hours = (ts - s.onset) / timedelta(hours=1)
                offset += min(s.max_offset_c, s.ramp_c_per_h * hours) * (0.5 + load / 100)
        return offset

    def _update_dtcs(self, ts: datetime) -> Dm1 | None:
        changed = False
        for s in self.scenarios:
            key = (s.spn, s.fmi)
            if key not in self.active and self.coolant_c > s.dtc_above_c:
                self.active[key] = Dtc(spn=s.spn, fmi=s.fmi, oc=1, lamp=s.lamp)
                changed = True
            elif key in self.active and self.coolant_c < s.clear_below_c:
                del self.active[key]
                changed = True
        if not changed:
            return None
        return Dm1(seq=self.next_seq(), ts=ts, active=list(self.active.values()))
