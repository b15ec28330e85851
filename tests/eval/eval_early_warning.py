"""Early-warning evaluation: does the fleet anomaly detector flag a developing fault before the
controller raises its DTC? A simulated fleet (simulators.machine.FleetModel, its physics and fault
precursors) runs for some days; gradual faults are injected into a share of the machines after
the detector has had days to learn; every simulated minute is aggregated as the ingest database
would (mean of each signal, share of running readings, values rounded as on the wire) and fed to
`maintenance.anomaly.fleet.sweep` as the per-minute scheduler job does. The simulator's ground
truth gives each fault's onset and first DTC.

Reported: gradual faults injected, those whose DTC was raised in the run, those flagged on their
own signal between onset and the DTC, the median lead (DTC time - first alarm, simulated minutes),
and false alerts (alarms on machines without a fault, or before a fault's onset) per 1,000 healthy
engine hours. Faults with no precursor in the readings (water in fuel, soot, SCR, intermittent
codes) and DEF neglect (a level rule's job) are not injected: no detector on these signals can see
them. Last line: JSON.

    .venv/bin/python tests/eval/eval_early_warning.py [--machines N] [--days D] [--seeds 7,11,23]

Each seed is its own fleet (machines, duty cycles, which machines get which fault, onsets); the
last line pools their faults and healthy hours, so one lucky fleet does not carry the figures.

The simulator's fuel rate is an exact function of load and rpm; a real controller's is not (the
JD 5055E captures, `make eval-can-fuel`). `--fuel-noise S` adds an error of sd S x the machine's
full-load rate to every fuel-rate reading, `--fuel-gain G` a fixed per-machine factor within
1 +- G (injector and calibration spread), to see how the fuel-filter precursor and the false
alerts hold up on noisier fuel data. Both default to 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from maintenance.anomaly.fleet import MONITORED, AnomalyEvent, FleetState, MinuteFrame, sweep
from simulators.machine import FleetModel, MachineSpec
from simulators.profiles import demo_model
from simulators.scenarios import Effect, Injection, Plan, fault_catalogue
from telemetry.wire import Kind

# The signal on which each precursor shows; an alarm on it counts as flagging the fault.
FAULT_SIGNALS: dict[Effect, frozenset[str]] = {
    Effect.COOLANT_OFFSET: frozenset({"coolant_c"}),
    Effect.HYD_OFFSET: frozenset({"hyd_oil_c"}),
    Effect.OIL_PRESSURE_LOSS: frozenset({"oil_kpa"}),
    Effect.CHARGE_LOSS: frozenset({"battery_v"}),
    Effect.FUEL_RESTRICTION: frozenset({"fuel_lph"}),
    Effect.HYD_PRESSURE_LOSS: frozenset({"hyd_bar"}),
}
# Digits each signal has on the wire (simulators.machine._readings).
WIRE_DIGITS = {
    "coolant_c": 1,
    "hyd_oil_c": 1,
    "oil_kpa": 0,
    "battery_v": 2,
    "hyd_bar": 0,
    "fuel_lph": 1,
}


@dataclass
class Outcome:
    serial: str
    fault: str
    onset_min: int
    dtc_min: int | None
    flagged_min: int | None

    @property
    def early(self) -> bool:
        """Flagged on its own signal before its DTC was raised."""
        return (
            self.dtc_min is not None
            and self.flagged_min is not None
            and self.flagged_min < self.dtc_min
        )


def fleet_specs(n: int) -> list[MachineSpec]:
    half = n // 2
    return [
        MachineSpec(f"TR-{k:04d}", Kind.TRACTOR, demo_model(Kind.TRACTOR, k))
        for k in range(1, half + 1)
    ] + [
        MachineSpec(f"EX-{k:04d}", Kind.EXCAVATOR, demo_model(Kind.EXCAVATOR, k))
        for k in range(1, n - half + 1)
    ]


def plan(share: float, onset_days: tuple[float, float]) -> Plan:
    gradual = [f.name for f in fault_catalogue().faults if f.effect in FAULT_SIGNALS]
    hours = [onset_days[0] * 24.0, onset_days[1] * 24.0]
    return Plan(
        version=1,
        injections=[Injection(fault=name, machines=share, onset_h=hours) for name in gradual],
    )


def state_arrays(model: FleetModel) -> dict[str, np.ndarray]:
    return {
        "coolant_c": model.coolant,
        "hyd_oil_c": model.hyd,
        "oil_kpa": model.oil_kpa,
        "battery_v": model.battery_v,
        "hyd_bar": model.hyd_bar,
        "fuel_lph": model.fuel_lph,
    }


def run(args: argparse.Namespace, seed: int) -> SeedRun:
    start = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    specs = fleet_specs(args.machines)
    model = FleetModel(
        specs, plan(args.share, (args.onset_from_d, args.onset_to_d)), seed=seed, start=start
    )
    n = model.n
    per_minute = round(60.0 / args.dt_s)
    ids = np.arange(1, n + 1, dtype=np.int64)
    groups = [p.model for p in model.profiles]
    state = FleetState()
    start_minute = int(start.timestamp() // 60)
    minutes = int(args.days * 1440)
    chunk = args.sweep_min
    values = np.zeros((n, chunk, len(MONITORED)))
    load = np.zeros((n, chunk))
    rpm = np.zeros((n, chunk))
    running = np.zeros((n, chunk))
    raised: list[AnomalyEvent] = []  # after the learning days; machine row = machine_id - 1
    hours_before = model.engine_hours.copy()
    learning_minutes = int(args.learning_d * 1440)
    learning_alarms = 0
    onset_hours: dict[int, float] = {}
    faults_by_machine: dict[int, list[int]] = defaultdict(list)
    for k, inj in enumerate(model.injected):
        faults_by_machine[inj.machine].append(k)
    # Its own generator, so the fleet's draws (and so every other figure) stay the same.
    fuel_rng = np.random.default_rng([seed, 1])
    fuel_gain = 1.0 + fuel_rng.uniform(-args.fuel_gain, args.fuel_gain, n)
    t0 = time.perf_counter()
    for m in range(minutes):
        sums = np.zeros((n, len(MONITORED)))
        run_count = np.zeros(n)
        load_sum = np.zeros(n)
        rpm_sum = np.zeros(n)
        for _ in range(per_minute):
            step = model.step(args.dt_s, report=False)
            arrays = state_arrays(model)
            if args.fuel_noise or args.fuel_gain:
                error = fuel_rng.normal(0.0, args.fuel_noise, n) * model.full_lph
                read = np.maximum(model.fuel_lph * fuel_gain + error, 0.0)
                arrays["fuel_lph"] = np.where(step.running, read, 0.0)
            for s, name in enumerate(MONITORED):
                sums[:, s] += np.round(arrays[name], WIRE_DIGITS[name])
            run_count += step.running
            load_sum += np.round(model.load, 1)
            rpm_sum += np.round(model.rpm, 0)
        now = start + timedelta(minutes=m + 1)
        if m + 1 == learning_minutes:
            hours_before = model.engine_hours.copy()
        for k, inj in enumerate(model.injected):
            if k not in onset_hours and now >= inj.onset:
                onset_hours[k] = float(model.engine_hours[inj.machine])
        c = m % chunk
        values[:, c, :] = sums / per_minute
        load[:, c] = load_sum / per_minute
        rpm[:, c] = rpm_sum / per_minute
        running[:, c] = run_count / per_minute
        if c == chunk - 1:
            first = start_minute + m - chunk + 1
            frame = MinuteFrame(
                machine_ids=ids,
                groups=groups,
                start_minute=first,
                values=values.copy(),
                rpm=rpm.copy(),
                load=load.copy(),
                running=running.copy(),
                valid_through=np.full(n, first + chunk - 1, dtype=np.int64),
            )
            for e in sweep(state, frame):
                if e.kind == "raised" and e.minute < start_minute + learning_minutes:
                    learning_alarms += 1
                elif e.kind == "raised":
                    raised.append(e)
    elapsed = time.perf_counter() - t0
    hours_after = model.engine_hours

    outcomes: list[Outcome] = []
    false_kinds: dict[str, int] = defaultdict(int)
    for e in raised:
        # Any alarm after a fault's onset on its machine is about the developing fault.
        explained = any(
            e.minute >= int(model.injected[k].onset.timestamp() // 60)
            for k in faults_by_machine.get(e.machine_id - 1, [])
        )
        if not explained:
            false_kinds[f"{e.signal}/{e.statistic}"] += 1
    healthy_h = 0.0
    for row in range(n):
        ks = faults_by_machine.get(row, [])
        if not ks:
            healthy_h += float(hours_after[row] - hours_before[row])
        else:
            first_onset_h = min(onset_hours.get(k, float(hours_after[row])) for k in ks)
            healthy_h += first_onset_h - float(hours_before[row])
    for inj in model.injected:
        onset_min = int(inj.onset.timestamp() // 60)
        dtc = inj.first_dtc
        dtc_min = int(dtc.timestamp() // 60) if dtc is not None else None
        signals = FAULT_SIGNALS[inj.fault.effect]
        hits = [
            e.minute
            for e in raised
            if e.machine_id - 1 == inj.machine and e.signal in signals and e.minute >= onset_min
        ]
        flagged = min(hits) if hits else None
        outcomes.append(Outcome(inj.serial, inj.fault.name, onset_min, dtc_min, flagged))

    return SeedRun(
        seed=seed,
        machines=n,
        outcomes=outcomes,
        false_kinds=dict(false_kinds),
        healthy_h=healthy_h,
        learning_alarms=learning_alarms,
        seconds=elapsed,
    )


@dataclass
class SeedRun:
    seed: int
    machines: int
    outcomes: list[Outcome]
    false_kinds: dict[str, int]  # false alerts by signal/statistic
    healthy_h: float
    learning_alarms: int
    seconds: float


def summary(runs: list[SeedRun], days: float) -> dict[str, object]:
    """The figures over every run's faults and healthy hours pooled."""
    outcomes = [o for r in runs for o in r.outcomes]
    with_dtc = [o for o in outcomes if o.dtc_min is not None]
    early = [o for o in with_dtc if o.early]
    leads = [float((o.dtc_min or 0) - (o.flagged_min or 0)) for o in early]
    false_alarms = sum(sum(r.false_kinds.values()) for r in runs)
    healthy_h = sum(r.healthy_h for r in runs)
    return {
        "seeds": [r.seed for r in runs],
        "machines": sum(r.machines for r in runs),
        "days": days,
        "faults_injected": len(outcomes),
        "faults_with_dtc": len(with_dtc),
        "flagged_before_dtc": len(early),
        "flagged_before_dtc_share": round(len(early) / len(with_dtc), 3) if with_dtc else None,
        "median_lead_min": round(statistics.median(leads), 1) if leads else None,
        "false_alerts": false_alarms,
        "healthy_engine_hours": round(healthy_h, 1),
        "false_alerts_per_1000_h": round(1000.0 * false_alarms / healthy_h, 3)
        if healthy_h
        else None,
        "alerts_while_learning": sum(r.learning_alarms for r in runs),
        "flagged_without_dtc": sum(
            1 for o in outcomes if o.dtc_min is None and o.flagged_min is not None
        ),
        "seconds": round(sum(r.seconds for r in runs), 1),
    }


def print_faults(runs: list[SeedRun]) -> None:
    by_fault: dict[str, dict[str, int]] = defaultdict(lambda: {"injected": 0, "dtc": 0, "early": 0})
    for o in (o for r in runs for o in r.outcomes):
        by_fault[o.fault]["injected"] += 1
        by_fault[o.fault]["dtc"] += int(o.dtc_min is not None)
        by_fault[o.fault]["early"] += int(o.early)
    for fault, counts in sorted(by_fault.items()):
        print(
            f"{fault:26s} injected {counts['injected']:3d}  DTC in run {counts['dtc']:3d}  "
            f"flagged before DTC {counts['early']:3d}"
        )
    kinds: dict[str, int] = defaultdict(int)
    for r in runs:
        for kind, count in r.false_kinds.items():
            kinds[kind] += count
    print("false alerts by signal/statistic:", dict(sorted(kinds.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=120)
    parser.add_argument("--days", type=float, default=12.0)
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[7, 11, 23],
        help="simulated fleets, run in parallel, figures pooled",
    )
    parser.add_argument("--share", type=float, default=0.04, help="machines per fault kind")
    parser.add_argument("--onset-from-d", type=float, default=3.0)
    parser.add_argument("--onset-to-d", type=float, default=7.0)
    parser.add_argument(
        "--learning-d", type=float, default=2.0, help="days the detector learns before it counts"
    )
    parser.add_argument("--dt-s", type=float, default=15.0)
    parser.add_argument("--sweep-min", type=int, default=1, help="minutes per sweep")
    parser.add_argument(
        "--fuel-noise",
        type=float,
        default=0.0,
        help="sd of each fuel-rate reading's error, as a share of the full-load rate",
    )
    parser.add_argument(
        "--fuel-gain", type=float, default=0.0, help="per-machine fuel-rate factor within 1 +- G"
    )
    args = parser.parse_args()
    workers = min(len(args.seeds), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(run, [args] * len(args.seeds), args.seeds))
    for r in runs:
        print(f"seed {r.seed}:", json.dumps(summary([r], args.days)))
    print_faults(runs)
    figures = summary(runs, args.days) | {
        "fuel_noise": args.fuel_noise,
        "fuel_gain": args.fuel_gain,
    }
    print(json.dumps(figures), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
