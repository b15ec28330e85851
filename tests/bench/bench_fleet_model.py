"""Fleet model benchmark: how fast one process simulates a large fleet (physics, faults, DM1,
connectivity, JSON encoding), without the broker. Prints one JSON line.

    .venv/bin/python tests/bench/bench_fleet_model.py [--machines N] [--hours H] [--sample-s S]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from simulators.connectivity import Outgoing, Transmitter
from simulators.machine import FleetModel, MachineSpec
from simulators.profiles import demo_model
from simulators.scenarios import load_plan
from telemetry.wire import Kind


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=5000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--sample-s", type=float, default=60.0)
    args = parser.parse_args()
    half = args.machines // 2
    specs = [
        MachineSpec(f"TR-{n:05d}", Kind.TRACTOR, demo_model(Kind.TRACTOR, n))
        for n in range(1, half + 1)
    ] + [
        MachineSpec(f"EX-{n:05d}", Kind.EXCAVATOR, demo_model(Kind.EXCAVATOR, n))
        for n in range(1, args.machines - half + 1)
    ]
    plan = load_plan("default")
    model = FleetModel(specs, plan, seed=1, start=datetime(2026, 11, 16, tzinfo=UTC))
    tx = Transmitter(model.n, plan.connectivity, seed=1)
    steps = int(args.hours * 3600 / args.sample_s)
    messages = readings = 0
    started = time.perf_counter()
    for _ in range(steps):
        out = model.step(args.sample_s)
        readings += len(out.readings)
        messages += sum(
            1 for a in tx.step(model.t_s, args.sample_s, out) if isinstance(a, Outgoing)
        )
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bench": "fleet_model",
                "machines": model.n,
                "simulated_hours": args.hours,
                "readings": readings,
                "messages": messages,
                "readings_per_s": round(readings / elapsed),
                "messages_per_s": round(messages / elapsed),
                "simulated_days_per_wall_minute": round(args.hours / 24 / (elapsed / 60), 2),
                "faults_injected": len(model.injected),
                "gaps": len(tx.gaps),
            }
        )
    )


if __name__ == "__main__":
    main()
