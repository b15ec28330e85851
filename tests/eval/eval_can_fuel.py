"""How far is a real tractor's fuel rate a function of its load and rpm? The fleet detector
expects fuel rate from the fleet model's features of load and rpm (`maintenance.anomaly.fleet`)
and barely shrinks that fit, because the simulator's fuel is an exact function of both. This
checks the assumption on the one field source at hand: PolyCAN captures of a John Deere 5055E
(../shared/data/tractor_jd5055e_can, MIT), engine (source address 0) broadcasts of
EEC1 (PGN 61444: SPN 190 engine speed), EEC2 (PGN 61443: SPN 92 percent load at current speed)
and LFE (PGN 65266: SPN 183 fuel rate).

Each fuel-rate message (10 per second) gets the latest load and rpm broadcast before it;
messages with the engine below 500 rpm (cranking, stopped) are left out. The features are fit by
least squares per capture and over all captures pooled (one tractor, as the fleet model fits one
model per machine model), and the residual's sd is reported in L/h and as a share of the 5055E's
full-load fuel rate (about 10 L/h), the unit of `make eval-early-warning`'s --fuel-noise. Last
line: JSON. The engine runs for only 7-21 s per capture (free revving, starting, in gear without
a load), so this checks the shape of the relation on transients, not its calibration over a
working day.

    .venv/bin/python tests/eval/eval_can_fuel.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from maintenance.anomaly.fleet import features

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared/data/tractor_jd5055e_can"
ENGINE_SOURCE = "0"
EEC1, EEC2, LFE = "61444", "61443", "65266"
MIN_RPM = 500.0
# Fuel at rated power of a 55 hp (41 kW) diesel: about 0.25 L/kWh.
FULL_LOAD_LPH = 10.0


def decode(path: Path) -> dict[str, np.ndarray]:
    """(time s, value) rows per signal; 'not available' and error codes skipped."""
    out: dict[str, list[tuple[float, float]]] = {"rpm": [], "load": [], "fuel": []}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["source"] != ENGINE_SOURCE:
                continue
            data = bytes.fromhex(row["data"])
            t = float(row["time"]) / 1000.0
            if row["pgn"] == EEC1 and int.from_bytes(data[3:5], "little") < 0xFB00:
                out["rpm"].append((t, int.from_bytes(data[3:5], "little") * 0.125))
            elif row["pgn"] == EEC2 and data[2] <= 250:
                out["load"].append((t, float(data[2])))
            elif row["pgn"] == LFE and int.from_bytes(data[0:2], "little") < 0xFB00:
                out["fuel"].append((t, int.from_bytes(data[0:2], "little") * 0.05))
    return {k: np.array(v).reshape(-1, 2) for k, v in out.items()}


def latest(at: np.ndarray, series: np.ndarray) -> np.ndarray:
    """The value of `series` (time, value rows) last broadcast at or before each time in `at`."""
    i = np.searchsorted(series[:, 0], at, side="right") - 1
    return np.where(i >= 0, series[np.maximum(i, 0), 1], np.nan)


def fit(load: np.ndarray, rpm: np.ndarray, fuel: np.ndarray) -> dict[str, float]:
    x = features(load, rpm, np.zeros((len(load), 4)))
    coef, *_ = np.linalg.lstsq(x, fuel, rcond=None)
    residual = fuel - x @ coef
    return {
        "rows": len(fuel),
        "r2": round(1.0 - residual.var() / fuel.var(), 3),
        "residual_sd_lph": round(float(residual.std()), 3),
        "residual_sd_share_of_full_load": round(float(residual.std()) / FULL_LOAD_LPH, 3),
    }


def running_rows(path: Path) -> tuple[np.ndarray, ...] | None:
    """(time, load, rpm, fuel) per fuel-rate message with the engine running, or None."""
    signals = decode(path)
    if min(len(v) for v in signals.values()) == 0:
        return None
    t, fuel = signals["fuel"][:, 0], signals["fuel"][:, 1]
    rpm, load = latest(t, signals["rpm"]), latest(t, signals["load"])
    running = np.isfinite(rpm) & np.isfinite(load) & (rpm >= MIN_RPM)
    if np.count_nonzero(running) < 30:
        return None
    return t[running], load[running], rpm[running], fuel[running]


def main() -> None:
    # The scope captures (5-10 s each, in another format) are left out.
    paths = sorted(CAPTURES.glob("polycan*/*.csv"))
    if not paths:
        sys.exit(f"no PolyCAN captures under {CAPTURES}")
    captures = {p.name: running_rows(p) for p in paths}
    pooled: list[tuple[np.ndarray, ...]] = []
    for name, rows in captures.items():
        if rows is None:
            continue
        t, load, rpm, fuel = rows
        pooled.append((load, rpm, fuel))
        figures = {
            "capture": name,
            "running_s": round(float(t[-1] - t[0]), 1),
            "fuel_lph": [round(float(fuel.min()), 2), round(float(fuel.max()), 2)],
            "load_pct": [float(load.min()), float(load.max())],
            "rpm": [float(rpm.min()), float(rpm.max())],
        }
        print(json.dumps(figures | fit(load, rpm, fuel)))
    if not pooled:
        sys.exit("no capture with the engine running")
    load, rpm, fuel = (np.concatenate(c) for c in zip(*pooled, strict=True))
    print(json.dumps({"captures": len(pooled)} | fit(load, rpm, fuel)), flush=True)


if __name__ == "__main__":
    main()
