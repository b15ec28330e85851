"""Controller models of a whole fleet, advanced together with numpy arrays. No I/O.

Every machine is a row in the arrays: its profile (data/models.yaml), its working pattern (shifts,
days off, stops), its duty cycle (idle, work, travel), and its physics: engine hours accrue only
while the engine runs, fuel and DEF burn with load and are refilled, coolant and hydraulic oil
follow their targets with thermal inertia and ambient, oil pressure follows rpm, GPS moves within
a farm or site. Injected faults (data/faults.yaml) add a growing precursor to the physics and
raise J1939 DTCs with DM1 semantics: an active list with occurrence counts and lamps, and a code
that clears leaves the list. A fixed seed gives the same machines and the same readings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.profiles import Catalogue, catalogue
from simulators.scenarios import Effect, Fault, FaultCatalogue, Plan, fault_catalogue
from telemetry.wire import Dm1, Dtc, Kind, Reading

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

OFF, IDLE, WORK, TRAVEL = 0, 1, 2, 3
MODE_NAMES: Final = ("idle", "work", "travel")
COOLANT_TAU_RUNNING_S: Final = 500.0  # coolant follows a load step within ~10 min
COOLANT_TAU_OFF_S: Final = 2400.0  # and cools slowly after shutdown
HYD_TAU_RUNNING_S: Final = 1500.0  # hydraulic oil has more mass and warms more slowly
HYD_TAU_OFF_S: Final = 3600.0
DEF_SHARE_OF_FUEL: Final = 0.04  # SCR engines burn about 4 % DEF by volume of fuel
REFUEL_BELOW_PCT: Final = 45.0  # topped up at the start of a day below this
REFILL_DEF_BELOW_PCT: Final = 40.0
EPOCH_MONDAY_OFFSET_D: Final = 3  # 1970-01-01 was a Thursday


@dataclass(frozen=True, slots=True)
class MachineSpec:
    serial: str
    kind: Kind
    model: str | None = None
    engine_hours: float | None = None  # None: drawn from the seed


@dataclass(slots=True)
class DtcEpisode:
    spn: int
    fmi: int
    raised: datetime
    cleared: datetime | None = None


@dataclass(slots=True)
class InjectedFault:
    """One fault injected into one machine, with its state and its ground truth."""

    machine: int
    serial: str
    fault: Fault
    onset: datetime
    speed: float
    severity: float = 0.0
    flicker_until_s: float = -1.0
    episodes: list[DtcEpisode] = field(default_factory=list)

    @property
    def first_dtc(self) -> datetime | None:
        return self.episodes[0].raised if self.episodes else None


@dataclass(frozen=True, slots=True)
class Step:
    """What the fleet produced in one step: a reading per reporting machine and DM1 reports for
    machines whose active list changed. Times are the controllers' own (clock skew included)."""

    readings: list[tuple[int, Reading]]
    reports: list[tuple[int, Dm1]]
    running: Bools


def _draw(rng: np.random.Generator, bounds: Sequence[float], n: int) -> Floats:
    return rng.uniform(bounds[0], bounds[1], n)


class FleetModel:
    def __init__(
        self,
        machines: Sequence[MachineSpec],
        plan: Plan,
        *,
        seed: int,
        start: datetime,
        off_report_s: float = 600.0,
        models: Catalogue | None = None,
        faults: FaultCatalogue | None = None,
    ) -> None:
        self.specs = list(machines)
        self.start = start
        self.off_report_s = off_report_s
        models = models or catalogue()
        faults = faults or fault_catalogue()
        n = self.n = len(self.specs)
        rng = self.rng = np.random.default_rng(seed)
        profiles = [models.profile(s.kind, s.model) for s in self.specs]
        self.profiles = profiles

        def col(name: str) -> Floats:
            return np.array([float(getattr(p, name)) for p in profiles], dtype=np.float64)

        self.is_tractor = np.array([s.kind is Kind.TRACTOR for s in self.specs], dtype=np.bool_)
        self.rated_rpm, self.idle_rpm = col("rated_rpm"), col("idle_rpm")
        self.full_lph, self.idle_lph = col("full_load_lph"), col("idle_lph")
        self.tank_l, self.def_tank_l = col("tank_l"), col("def_tank_l")
        self.coolant_warm, self.coolant_per_load = col("coolant_warm_c"), col("coolant_per_load_c")
        self.hyd_warm, self.hyd_per_load = col("hyd_warm_c"), col("hyd_per_load_c")
        self.oil_idle, self.oil_rated = col("oil_kpa_idle"), col("oil_kpa_rated")
        self.pto = col("pto_rpm")
        self.work_speed = np.array([p.work_speed_kmh for p in profiles], dtype=np.float64)
        self.road_speed = np.array([p.road_speed_kmh for p in profiles], dtype=np.float64)

        # Duty cycle per machine: probability of entering each mode (share of time over mean
        # duration), mean duration and load of each mode.
        duty = [models.duty[s.kind] for s in self.specs]
        modes = [(d.idle, d.work, d.travel) for d in duty]
        weights = np.array([[m.share / m.mean_min for m in ms] for ms in modes])
        self.mode_cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        self.mode_mean_s = np.array([[m.mean_min * 60 for m in ms] for ms in modes])
        self.mode_load = np.array([[m.load for m in ms] for ms in modes])  # (n, 3, 2)

        # Working pattern and site per machine.
        shifts = models.shifts
        self.shift_start_h = _draw(rng, shifts.start_h, n)
        self.shift_len_h = _draw(rng, shifts.length_h, n)
        self.works_saturday = rng.random(n) < shifts.saturday_share
        self.stops_per_h, self.stop_min = shifts.stops_per_h, shifts.stop_min
        self.cycle_s = _draw(rng, models.excavator_cycle_s, n)
        self.ambient_base = _draw(rng, (6.0, 18.0), n)
        self.home_lat = 52.0 + _draw(rng, (-1.2, 1.2), n)
        self.home_lon = -1.0 + _draw(rng, (-1.5, 1.5), n)
        self.radius_km = np.where(self.is_tractor, 2.0, 0.3)
        drawn_hours = _draw(rng, (50.0, 6000.0), n)
        overrides = {o.serial: o.engine_hours for o in plan.machines}
        self.engine_hours = np.array(
            [
                overrides.get(s.serial, s.engine_hours if s.engine_hours is not None else h)
                for s, h in zip(self.specs, drawn_hours.tolist(), strict=True)
            ],
            dtype=np.float64,
        )

        # State.
        self.mode = np.zeros(n, dtype=np.int64)
        self.mode_left_s = np.zeros(n)
        self.mode_load_now = np.zeros(n)
        self.mode_speed = np.zeros(n)
        self.stopped_until_s = np.full(n, -1.0)
        self.load = np.zeros(n)
        self.rpm = np.zeros(n)
        self.idle_hours = self.engine_hours * _draw(rng, (0.15, 0.3), n)
        self.fuel_pct = _draw(rng, (50.0, 100.0), n)
        self.def_pct = np.where(self.def_tank_l > 0, _draw(rng, (50.0, 100.0), n), np.nan)
        self.ambient = self.ambient_base.copy()
        self.coolant = self.ambient_base.copy()
        self.hyd = self.ambient_base.copy()
        self.lat, self.lon = self.home_lat.copy(), self.home_lon.copy()
        self.heading = _draw(rng, (0.0, 2 * math.pi), n)
        self.cycles = np.zeros(n)
        self.refuelled_day = np.full(n, -1, dtype=np.int64)
        self.last_report_s = np.full(n, -math.inf)
        self.seq = np.zeros(n, dtype=np.int64)
        self.t_s = 0.0
        self.fuel_lph = np.zeros(n)
        self.oil_kpa = np.zeros(n)
        self.battery_v = np.full(n, 12.6)
        self.hyd_bar = np.zeros(n)
        self.speed = np.zeros(n)
        self.skew_s = np.zeros(n)
        skewed = rng.random(n) < plan.connectivity.skewed_share
        self.skew_s[skewed] = _draw(rng, plan.connectivity.skew_s, int(skewed.sum()))

        # Faults.
        self.active: list[dict[tuple[int, int], Dtc]] = [{} for _ in range(n)]
        self.occurrences: list[dict[tuple[int, int], int]] = [{} for _ in range(n)]
        self.injected = self._inject(plan, faults, rng)
        self.def_neglected = np.zeros(n, dtype=np.bool_)
        for inj in self.injected:
            if inj.fault.effect is Effect.DEF_NEGLECT:
                self.def_neglected[inj.machine] = True

    def _inject(
        self, plan: Plan, faults: FaultCatalogue, rng: np.random.Generator
    ) -> list[InjectedFault]:
        by_name = faults.by_name()
        index = {s.serial: i for i, s in enumerate(self.specs)}
        out: list[InjectedFault] = []
        for injection in plan.injections:
            fault = by_name[injection.fault]
            if injection.serials is not None:
                chosen = [index[s] for s in injection.serials if s in index]
            else:
                # DEF can only be neglected on a machine with SCR.
                needs_def = fault.effect is Effect.DEF_NEGLECT
                eligible = [
                    i
                    for i, s in enumerate(self.specs)
                    if s.kind in fault.kinds and (not needs_def or self.def_tank_l[i] > 0)
                ]
                count = (
                    int(injection.machines)
                    if injection.machines >= 1
                    else round(injection.machines * len(eligible))
                )
                count = min(count, len(eligible))
                chosen = sorted(int(i) for i in rng.choice(eligible, size=count, replace=False))
            for i in chosen:
                onset_h = float(rng.uniform(injection.onset_h[0], injection.onset_h[1]))
                onset = self.start + timedelta(hours=onset_h)
                out.append(InjectedFault(i, self.specs[i].serial, fault, onset, injection.speed))
        return out

    # --- one step -------------------------------------------------------------------------

    def step(self, dt_s: float, *, report: bool = True) -> Step:
        """Advances every machine by dt_s and returns what their controllers report; with
        report=False no readings are built (an evaluation reads the state arrays directly)."""
        self.t_s += dt_s
        t = self.t_s
        now = self.start + timedelta(seconds=t)
        dt_h = dt_s / 3600.0
        epoch_s = now.timestamp()
        hour = (epoch_s / 3600.0) % 24.0
        day = int(epoch_s // 86400)
        weekday = (day + EPOCH_MONDAY_OFFSET_D) % 7

        running = self._schedule(t, hour, weekday, dt_s, dt_h)
        effects = self._fault_effects(running, now, dt_h)
        self._physics(running, effects, hour, day, dt_s, dt_h)
        reports = self._dtcs(running, now, t, dt_h)

        if not report:
            return Step([], reports, running)
        due = running | (t - self.last_report_s >= self.off_report_s)
        self.last_report_s[due] = t
        readings = self._readings(np.flatnonzero(due), now, running)
        return Step(readings, reports, running)

    def _schedule(self, t: float, hour: float, weekday: int, dt_s: float, dt_h: float) -> Bools:
        n, rng = self.n, self.rng
        if weekday == 6:
            working_day = np.zeros(n, dtype=np.bool_)
        elif weekday == 5:
            working_day = self.works_saturday
        else:
            working_day = np.ones(n, dtype=np.bool_)
        into_shift = (hour - self.shift_start_h) % 24.0
        on_shift = working_day & (into_shift < self.shift_len_h)
        # Stops within the shift (lunch, waiting for a trailer): the engine is off.
        new_stop = on_shift & (self.stopped_until_s < t) & (rng.random(n) < self.stops_per_h * dt_h)
        self.stopped_until_s[new_stop] = t + 60 * _draw(rng, self.stop_min, int(new_stop.sum()))
        engine_on = on_shift & (self.stopped_until_s < t)

        self.mode_left_s -= dt_s
        pick = engine_on & ((self.mode == OFF) | (self.mode_left_s <= 0))
        k = int(pick.sum())
        if k:
            idx = np.flatnonzero(pick)
            u = rng.random(k)
            choice = (u[:, None] > self.mode_cdf[idx]).sum(axis=1)  # 0 idle, 1 work, 2 travel
            self.mode[idx] = choice + 1
            self.mode_left_s[idx] = rng.exponential(self.mode_mean_s[idx, choice])
            mean, sd = self.mode_load[idx, choice, 0], self.mode_load[idx, choice, 1]
            self.mode_load_now[idx] = np.clip(rng.normal(mean, sd), 3.0, 98.0)
            work_v = rng.uniform(self.work_speed[idx, 0], self.work_speed[idx, 1])
            road_v = rng.uniform(self.road_speed[idx, 0], self.road_speed[idx, 1])
            self.mode_speed[idx] = np.select([choice == 1, choice == 2], [work_v, road_v], 0.0)
        self.mode[~engine_on] = OFF
        return engine_on

    def _fault_effects(self, running: Bools, now: datetime, dt_h: float) -> dict[Effect, Floats]:
        effects = {e: np.zeros(self.n) for e in Effect}
        for inj in self.injected:
            if now < inj.onset:
                continue
            if running[inj.machine]:
                inj.severity = min(
                    inj.fault.max, inj.severity + inj.fault.ramp_per_h * inj.speed * dt_h
                )
            effects[inj.fault.effect][inj.machine] += inj.severity
        return effects

    def _physics(
        self,
        running: Bools,
        effects: dict[Effect, Floats],
        hour: float,
        day: int,
        dt_s: float,
        dt_h: float,
    ) -> None:
        n, rng = self.n, self.rng
        mode = self.mode
        # Load follows the mode's level with short-term variation (an AR(1) around it).
        target = np.where(running, self.mode_load_now, 0.0)
        self.load = np.clip(
            self.load + 0.6 * (target - self.load) + rng.normal(0, 4.0, n) * running, 0, 100
        )
        self.load[~running] = 0.0
        span = self.rated_rpm - self.idle_rpm
        rpm = np.select(
            [mode == IDLE, mode == WORK, mode == TRAVEL],
            [
                self.idle_rpm,
                np.where(self.is_tractor, self.rated_rpm - 0.1 * span, self.rated_rpm - 50),
                self.idle_rpm + span * (0.55 + 0.35 * self.load / 100),
            ],
            0.0,
        )
        rpm = rpm + rng.normal(0, 12.0, n) * running
        # Fuel: demand from load and speed; a restricted filter caps the flow and rpm droops.
        demand = self.idle_lph + (self.full_lph - self.idle_lph) * self.load / 100 * np.maximum(
            rpm / self.rated_rpm, 0.3
        )
        cap = self.full_lph * (1 - 0.6 * effects[Effect.FUEL_RESTRICTION])
        short = np.maximum(demand - cap, 0.0) * running
        self.fuel_lph = fuel_lph = np.where(running, np.minimum(demand, cap), 0.0)
        rpm = rpm - short / self.full_lph * span * 1.5
        self.load = np.minimum(100.0, self.load + short / self.full_lph * 100)
        self.rpm = np.where(running, np.maximum(rpm, self.idle_rpm * 0.8), 0.0)

        self.engine_hours += dt_h * running
        self.idle_hours += dt_h * (running & (mode == IDLE))
        burnt_l = fuel_lph * dt_h
        self.fuel_pct -= burnt_l / self.tank_l * 100
        has_def = self.def_tank_l > 0
        self.def_pct = np.where(
            has_def,
            self.def_pct - burnt_l * DEF_SHARE_OF_FUEL / np.maximum(self.def_tank_l, 1.0) * 100,
            np.nan,
        )
        # Refuel at the start of a working day (a bowser visit), or on the spot when nearly dry.
        first_today = running & (self.refuelled_day != day)
        refuel = (first_today & (self.fuel_pct < REFUEL_BELOW_PCT)) | (self.fuel_pct < 8.0)
        self.fuel_pct[refuel] = 100.0
        refill_def = refuel & has_def & (self.def_pct < REFILL_DEF_BELOW_PCT) & ~self.def_neglected
        self.def_pct[refill_def] = 100.0
        self.refuelled_day[first_today] = day
        self.fuel_pct = np.clip(self.fuel_pct, 0.0, 100.0)
        self.def_pct = np.where(has_def, np.clip(self.def_pct, 0.0, 100.0), np.nan)

        # Temperatures: first-order lags towards targets that depend on load and ambient.
        self.ambient = self.ambient_base + 5.0 * np.sin(2 * math.pi * (hour - 9.0) / 24.0)
        load_share = 0.4 + 0.6 * self.load / 100
        coolant_target = np.where(
            running,
            self.coolant_warm
            + self.coolant_per_load * (self.load - 50) / 50
            + 0.25 * (self.ambient - 15)
            + effects[Effect.COOLANT_OFFSET] * load_share,
            self.ambient,
        )
        tau = np.where(running, COOLANT_TAU_RUNNING_S, COOLANT_TAU_OFF_S)
        self.coolant = coolant_target + (self.coolant - coolant_target) * np.exp(-dt_s / tau)
        hyd_target = np.where(
            running,
            self.hyd_warm
            + self.hyd_per_load * self.load / 100
            + 0.5 * (self.ambient - 15)
            + effects[Effect.HYD_OFFSET] * load_share,
            self.ambient,
        )
        tau = np.where(running, HYD_TAU_RUNNING_S, HYD_TAU_OFF_S)
        self.hyd = hyd_target + (self.hyd - hyd_target) * np.exp(-dt_s / tau)

        # Oil pressure rises with rpm and falls as the oil thins when hot.
        rpm_share = np.clip((self.rpm - self.idle_rpm) / span, 0.0, 1.0)
        oil = self.oil_idle + (self.oil_rated - self.oil_idle) * rpm_share
        oil = (oil - 1.5 * np.maximum(self.coolant - 90.0, 0.0)) * (
            1 - effects[Effect.OIL_PRESSURE_LOSS]
        )
        self.oil_kpa = np.where(running, np.maximum(oil + rng.normal(0, 4.0, n), 0.0), 0.0)
        charge = 14.1 - effects[Effect.CHARGE_LOSS] + rng.normal(0, 0.04, n)
        resting = 12.6 - 0.4 * np.minimum(effects[Effect.CHARGE_LOSS] / 2.0, 1.0)
        self.battery_v = np.where(running, charge, resting + rng.normal(0, 0.02, n))
        hyd_bar = np.select(
            [mode == IDLE, mode == WORK, mode == TRAVEL],
            [
                np.full(n, 25.0),
                np.where(self.is_tractor, 30 + 1.4 * self.load, 120 + 2.2 * self.load),
                np.where(self.is_tractor, 20 + 0.5 * self.load, 150 + 1.0 * self.load),
            ],
            0.0,
        )
        self.hyd_bar = np.maximum(
            hyd_bar * (1 - effects[Effect.HYD_PRESSURE_LOSS]) + rng.normal(0, 3.0, n) * running,
            0.0,
        )

        # Movement within the farm or site; outside its radius a machine heads back.
        self.speed = np.where(running, self.mode_speed * (1 + rng.normal(0, 0.05, n)), 0.0)
        self.speed = np.maximum(self.speed, 0.0)
        dist_km = self.speed * dt_h
        self.heading += rng.normal(0, 0.4, n)
        north_km = (self.lat - self.home_lat) * 111.0
        east_km = (self.lon - self.home_lon) * 111.0 * np.cos(np.radians(self.home_lat))
        away = np.hypot(north_km, east_km) > self.radius_km
        self.heading = np.where(away, np.arctan2(-east_km, -north_km), self.heading)
        self.lat += dist_km * np.cos(self.heading) / 111.0
        self.lon += dist_km * np.sin(self.heading) / (111.0 * np.cos(np.radians(self.lat)))
        digging = running & ~self.is_tractor & (mode == WORK)
        self.cycles += np.where(digging, dt_s / self.cycle_s, 0.0)

    def _dtcs(self, running: Bools, now: datetime, t: float, dt_h: float) -> list[tuple[int, Dm1]]:
        changed: set[int] = set()
        signals = {
            "coolant_c": self.coolant,
            "hyd_oil_c": self.hyd,
            "oil_kpa": self.oil_kpa,
            "battery_v": self.battery_v,
            "def_pct": self.def_pct,
        }
        for inj in self.injected:
            m, fault = inj.machine, inj.fault
            if now < inj.onset:
                continue
            if running[m] and self._may_flicker(inj) and t >= inj.flicker_until_s:
                if self.rng.random() < fault.flicker_per_h * dt_h:
                    minutes = float(self.rng.uniform(fault.flicker_min[0], fault.flicker_min[1]))
                    inj.flicker_until_s = t + minutes * 60
            for index, dtc in enumerate(fault.dtcs):
                key = (dtc.spn, dtc.fmi)
                active = key in self.active[m]
                if not running[m]:
                    on = False  # the controller powers down; its DM1 list is empty at restart
                elif dtc.signal == "severity":
                    level = dtc.above if dtc.above is not None else math.inf
                    on = inj.severity >= level or (index == 0 and t < inj.flicker_until_s)
                else:
                    value = float(signals[dtc.signal][m])
                    if dtc.above is not None:
                        clear = dtc.clear if dtc.clear is not None else dtc.above
                        on = value > dtc.above if not active else value >= clear
                    else:
                        assert dtc.below is not None
                        clear = dtc.clear if dtc.clear is not None else dtc.below
                        on = value < dtc.below if not active else value <= clear
                if on and not active:
                    count = self.occurrences[m].get(key, 0) + 1
                    self.occurrences[m][key] = count
                    self.active[m][key] = Dtc(spn=dtc.spn, fmi=dtc.fmi, oc=count, lamp=dtc.lamp)
                    inj.episodes.append(DtcEpisode(dtc.spn, dtc.fmi, now))
                    changed.add(m)
                elif active and not on:
                    del self.active[m][key]
                    for episode in reversed(inj.episodes):
                        if (episode.spn, episode.fmi) == key and episode.cleared is None:
                            episode.cleared = now
                            break
                    changed.add(m)
        reports = []
        for m in sorted(changed):
            self.seq[m] += 1
            ts = now + timedelta(seconds=float(self.skew_s[m]))
            reports.append(
                (m, Dm1(seq=int(self.seq[m]), ts=ts, active=list(self.active[m].values())))
            )
        return reports

    @staticmethod
    def _may_flicker(inj: InjectedFault) -> bool:
        fault = inj.fault
        if fault.effect is Effect.INTERMITTENT:
            return True
        if fault.flicker_from is None:
            return False
        first = fault.dtcs[0]
        level = first.above if first.above is not None else math.inf
        return fault.flicker_from <= inj.severity < level

    def _readings(
        self, idx: npt.NDArray[np.int64], now: datetime, running: Bools
    ) -> list[tuple[int, Reading]]:
        if idx.size == 0:
            return []
        self.seq[idx] += 1

        def r(values: Floats, digits: int) -> list[float]:
            rounded: list[float] = np.round(values[idx], digits).tolist()
            return rounded

        seqs: list[int] = self.seq[idx].tolist()
        skews: list[float] = self.skew_s[idx].tolist()
        hours, rpm, load = r(self.engine_hours, 3), r(self.rpm, 0), r(self.load, 1)
        idle = r(self.idle_hours, 3)
        coolant, oil, fuel = r(self.coolant, 1), r(self.oil_kpa, 0), r(self.fuel_pct, 1)
        fuel_lph = r(self.fuel_lph, 1)
        def_pct, battery, hyd = r(self.def_pct, 1), r(self.battery_v, 2), r(self.hyd, 1)
        hyd_bar, lat, lon, speed = (
            r(self.hyd_bar, 0),
            r(self.lat, 6),
            r(self.lon, 6),
            r(self.speed, 1),
        )
        pto = r(np.where(running & (self.mode == WORK), self.pto, 0.0), 0)
        cycles: list[int] = np.floor(self.cycles[idx]).astype(np.int64).tolist()
        tractor: list[bool] = self.is_tractor[idx].tolist()
        out: list[tuple[int, Reading]] = []
        for j, m in enumerate(idx.tolist()):
            out.append(
                (
                    m,
                    Reading(
                        seq=seqs[j],
                        ts=now + timedelta(seconds=skews[j]) if skews[j] else now,
                        engine_hours=hours[j],
                        rpm=rpm[j],
                        load_pct=load[j],
                        coolant_c=coolant[j],
                        oil_kpa=oil[j],
                        fuel_pct=fuel[j],
                        fuel_lph=fuel_lph[j],
                        def_pct=None if math.isnan(def_pct[j]) else def_pct[j],
                        battery_v=battery[j],
                        hyd_oil_c=hyd[j],
                        hyd_bar=hyd_bar[j],
                        lat=lat[j],
                        lon=lon[j],
                        speed_kmh=speed[j],
                        pto_rpm=pto[j] if tractor[j] else None,
                        boom_cycles=None if tractor[j] else cycles[j],
                        idle_hours=idle[j],
                    ),
                )
            )
        return out
