"""Fleet anomaly sweep benchmark: 10,000 machines x 8 signals x the last hour at 1 Hz, on one core.

Measures, in one run: aggregating the hour's 1 Hz readings to minutes (numpy mean over each
minute: the floor any per-minute detector pays, and what TimescaleDB's time_bucket does for the
real sweep), the detector over the whole hour (a scheduler that was down for an hour catching
up), and the steady state: one sweep per minute over the newest minute. The detector's state is
warmed up first (peer models fitted, every machine past its learning period), so every minute
takes the judged path. Prints one JSON line; `ratio` figures are against the aggregation floor.

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/bench_anomaly_sweep.py [--machines N]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from maintenance.anomaly.fleet import (
    MONITORED,
    OWN_WARM_MINUTES,
    READ_SIGNALS,
    FleetState,
    MinuteFrame,
    sweep,
)

MODELS = ("6155M", "5075E", "8R 370", "320 GC", "PC210LC-11", "ZX135US-7")
START = 29_000_000


def one_hz_block(rng: np.random.Generator, machines: int, seconds: int) -> np.ndarray:
    """(machines, seconds, 8) float32 readings: load wanders, signals follow it with noise."""
    minutes = seconds // 60
    load_min = np.clip(50 + 20 * rng.standard_normal((machines, minutes)), 5, 95)
    load = np.repeat(load_min, 60, axis=1) + rng.normal(0, 4, (machines, seconds))
    out = np.empty((machines, seconds, len(READ_SIGNALS)), dtype=np.float32)
    rpm = 900 + 12 * load
    out[..., 0] = 82 + 0.12 * load + rng.normal(0, 0.4, (machines, seconds))
    out[..., 1] = 55 + 0.2 * load + rng.normal(0, 0.5, (machines, seconds))
    out[..., 2] = 150 + 0.12 * (rpm - 900) + rng.normal(0, 4, (machines, seconds))
    out[..., 3] = 14.1 + rng.normal(0, 0.04, (machines, seconds))
    out[..., 4] = 30 + 1.4 * load + rng.normal(0, 3, (machines, seconds))
    out[..., 5] = 3 + 0.25 * load + rng.normal(0, 0.3, (machines, seconds))
    out[..., 6] = rpm
    out[..., 7] = load
    return out


def frame_of(minute_means: np.ndarray, start: int, groups: list[str]) -> MinuteFrame:
    m, t, _ = minute_means.shape
    s = len(MONITORED)
    return MinuteFrame(
        machine_ids=np.arange(1, m + 1, dtype=np.int64),
        groups=groups,
        start_minute=start,
        values=minute_means[:, :, :s].astype(np.float64),
        rpm=minute_means[:, :, s].astype(np.float64),
        load=minute_means[:, :, s + 1].astype(np.float64),
        running=np.ones((m, t)),
        valid_through=np.full(m, start + t - 1, dtype=np.int64),
    )


def aggregate(rng: np.random.Generator, machines: int, block: int) -> tuple[np.ndarray, float]:
    """Minute means of one hour of 1 Hz readings for every machine; returns them and the seconds
    spent aggregating (data generation excluded)."""
    parts = []
    spent = 0.0
    for lo in range(0, machines, block):
        raw = one_hz_block(rng, min(block, machines - lo), 3600)
        t0 = time.perf_counter()
        parts.append(raw.reshape(raw.shape[0], 60, 60, raw.shape[2]).mean(axis=2))
        spent += time.perf_counter() - t0
    return np.concatenate(parts), spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    groups = [MODELS[i % len(MODELS)] for i in range(args.machines)]

    # Warm-up hour: fits the peer models; then every machine is declared past its learning
    # period with the spreads this data has, so the timed sweeps judge every machine-minute.
    warm, _ = aggregate(rng, args.machines, args.block)
    state = FleetState()
    sweep(state, frame_of(warm, START, groups))
    state.learned[:] = OWN_WARM_MINUTES + 1
    state.run_minutes[:] = 60
    state.scale[:] = np.array([0.4, 0.5, 4.0, 0.04, 3.0, 0.3])
    state.short_spread[:] = 0.3
    state.long_spread[:] = 0.1

    hour, aggregate_s = aggregate(rng, args.machines, args.block)
    t0 = time.perf_counter()
    events = sweep(state, frame_of(hour, START + 60, groups))
    sweep_hour_s = time.perf_counter() - t0

    minute, _ = aggregate(rng, args.machines, args.block)
    per_minute = []
    for k in range(10):
        frame = frame_of(minute[:, k : k + 1], START + 120 + k, groups)
        t0 = time.perf_counter()
        sweep(state, frame)
        per_minute.append(time.perf_counter() - t0)

    readings = args.machines * 3600 * len(READ_SIGNALS)
    print(
        json.dumps(
            {
                "machines": args.machines,
                "signals": len(READ_SIGNALS),
                "readings_1hz": readings,
                "aggregate_hour_s": round(aggregate_s, 2),
                "sweep_hour_s": round(sweep_hour_s, 2),
                "hour_total_s": round(aggregate_s + sweep_hour_s, 2),
                "sweep_minute_p50_s": round(float(np.median(per_minute)), 3),
                "sweep_minute_max_s": round(max(per_minute), 3),
                "ratio_sweep_hour_to_aggregate": round(sweep_hour_s / aggregate_s, 2),
                "events_in_hour": len(events),
                "target_hour_s": 60,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
