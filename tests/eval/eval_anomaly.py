"""NAB evaluation: IronLink's detector on every labelled series in ../shared/data/nab/data, beside
the published detectors' scores recomputed from their result files on the same files.

    .venv/bin/python tests/eval/eval_anomaly.py        (make eval-anomaly)

IronLink is scored as NAB scores the published detectors: per profile, the one threshold for all
files that maximises the total (maintenance.anomaly.nab.sweep), and also at the detector's fixed
production threshold (detectors.THRESHOLD). The published detectors' result files hold one score
per file at their published threshold (chosen on all 58 NAB files; this copy holds some back), so
their scores here are the sums of those per-file scores over the files present, normalised on the
same files: null 0, perfect 100. Ends with one JSON line. NAB's runner hands every detector the
whole file's minimum and maximum (inputMin, inputMax); the two leading published detectors,
ARTime and contextOSE, scale every value by them and also use the file's length. IronLink's
detector is strictly causal and uses neither.

Two checks of how far the figure is luck are printed beside it: the standard score at the fixed
threshold on the even- and on the odd-indexed files (a change that helps only one half is likely
fitted to it), and with the detector's refractory period (rows an alarm holds the next one off)
set to 90, 95, 105 and 110 % of its own, with the mean of the five: whole windows flip on where
a held re-alarm lands, so one refractory can sit on a lucky peak.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maintenance.anomaly import nab

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NAB_DIR = DATA_DIR / "nab"
SHORT = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}

Windows = list[tuple[np.datetime64, np.datetime64]]
ScoreFn = Callable[[nab.TimeArray, nab.FloatArray], nab.FloatArray]


def read_profiles(nab_dir: Path) -> tuple[nab.CostProfile, ...]:
    with (nab_dir / "config" / "profiles.json").open() as f:
        raw = json.load(f)
    return tuple(
        nab.CostProfile(
            name,
            tp_weight=float(p["CostMatrix"]["tpWeight"]),
            fp_weight=float(p["CostMatrix"]["fpWeight"]),
            fn_weight=float(p["CostMatrix"]["fnWeight"]),
        )
        for name, p in raw.items()
    )


def read_windows(nab_dir: Path) -> dict[str, Windows]:
    """combined_windows.json: data file path (e.g. 'realTweets/Twitter_volume_FB.csv') ->
    windows as (start, end) timestamps, both inclusive."""
    with (nab_dir / "labels" / "combined_windows.json").open() as f:
        raw: dict[str, list[list[str]]] = json.load(f)
    return {
        name: [(np.datetime64(a, "s"), np.datetime64(b, "s")) for a, b in windows]
        for name, windows in raw.items()
    }


def read_series(path: Path) -> tuple[nab.TimeArray, nab.FloatArray, dict[str, nab.FloatArray]]:
    """A NAB CSV: timestamps, values, and any other numeric columns (a result file's
    anomaly_score, S(t)_<profile>, ...) by name."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        columns = list(zip(*reader, strict=True))
    timestamps = np.array(columns[header.index("timestamp")], dtype="datetime64[s]")
    numeric = {
        name: np.array(col, dtype=np.float64)
        for name, col in zip(header, columns, strict=True)
        if name != "timestamp"
    }
    return timestamps, numeric["value"], numeric


def labelled_data_files(nab_dir: Path, windows: dict[str, Windows]) -> list[str]:
    """Every data CSV present that has labels, as NAB names it (folder/file.csv)."""
    data = nab_dir / "data"
    names = (p.relative_to(data).as_posix() for p in sorted(data.glob("**/*.csv")))
    return [name for name in names if name in windows]


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """One file's line of a published <detector>_<profile>_scores.csv."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


def read_published(nab_dir: Path, detector: str, profile: str) -> dict[str, PublishedRow]:
    """File -> its published row (the Totals line left out)."""
    path = nab_dir / "results" / detector / f"{detector}_{profile}_scores.csv"
    with path.open(newline="") as f:
        return {
            row["File"]: PublishedRow(
                threshold=float(row["Threshold"]),
                score=float(row["Score"]),
                tp=int(row["TP"]),
                tn=int(row["TN"]),
                fp=int(row["FP"]),
                fn=int(row["FN"]),
                total=int(row["Total_Count"]),
            )
            for row in csv.DictReader(f)
            if row["Detector"] != "Totals"
        }


def published_detectors(nab_dir: Path) -> list[str]:
    results = nab_dir / "results"
    return sorted(
        d.name for d in results.iterdir() if (d / f"{d.name}_standard_scores.csv").is_file()
    )


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """One detector's normalised scores by profile name, on `files` of the files scored."""

    name: str
    scores: dict[str, float]
    thresholds: dict[str, float]
    files: int


def _detector() -> tuple[ScoreFn, float | None]:
    try:
        from maintenance.anomaly import detectors
    except ImportError as exc:
        sys.exit(f"eval-anomaly: cannot import maintenance.anomaly.detectors ({exc})")
    score_series = getattr(detectors, "score_series", None)
    if score_series is None:
        sys.exit(
            "eval-anomaly: maintenance.anomaly.detectors has no score_series(timestamps, values)"
        )
    threshold = getattr(detectors, "THRESHOLD", None)
    return score_series, None if threshold is None else float(threshold)


def _rows(boards: list[Scoreboard], profiles: tuple[nab.CostProfile, ...]) -> Iterator[str]:
    head = f"{'detector':<26}" + "".join(f"{SHORT[p.name]:>10}" for p in profiles)
    yield head + f"{'files':>7}   thresholds (" + ", ".join(SHORT[p.name] for p in profiles) + ")"
    for b in boards:
        cells = "".join(f"{b.scores[p.name]:>10.2f}" for p in profiles)
        limits = ", ".join(f"{b.thresholds[p.name]:.6g}" for p in profiles)
        yield f"{b.name:<26}{cells}{b.files:>7}   {limits}"


def main() -> None:
    if not NAB_DIR.is_dir():
        sys.exit(f"eval-anomaly: no NAB data at {NAB_DIR}")
    out = sys.stdout.write
    started = time.perf_counter()
    profiles = read_profiles(NAB_DIR)
    windows = read_windows(NAB_DIR)
    files = labelled_data_files(NAB_DIR, windows)
    score_series, fixed_threshold = _detector()

    detect_s = label_s = 0.0
    labelled, scores, series = [], [], []
    for name in files:
        timestamps, values, _ = read_series(NAB_DIR / "data" / name)
        series.append((timestamps, values))
        t0 = time.perf_counter()
        scores.append(np.asarray(score_series(timestamps, values), dtype=np.float64))
        t1 = time.perf_counter()
        labelled.append(nab.label_series(timestamps, windows[name]))
        detect_s += t1 - t0
        label_s += time.perf_counter() - t1
    n_windows = sum(s.n_windows for s in labelled)
    rows = sum(s.n_rows for s in labelled)

    t0 = time.perf_counter()
    swept = nab.sweep(labelled, scores)
    best = {p.name: swept.best(p) for p in profiles}
    boards = [
        Scoreboard(
            "IronLink (swept threshold)",
            {
                p.name: nab.normalise(best[p.name][1], n_windows=n_windows, profile=p)
                for p in profiles
            },
            {p.name: best[p.name][0] for p in profiles},
            len(files),
        )
    ]
    if fixed_threshold is not None:
        boards.append(
            Scoreboard(
                "IronLink (fixed THRESHOLD)",
                {
                    p.name: normalised_score(labelled, scores, threshold=fixed_threshold, profile=p)
                    for p in profiles
                },
                {p.name: fixed_threshold for p in profiles},
                len(files),
            )
        )
    scoring_s = label_s + time.perf_counter() - t0

    incomplete: dict[str, int] = {}
    published: list[Scoreboard] = []
    for detector in published_detectors(NAB_DIR):
        by_profile = {p.name: read_published(NAB_DIR, detector, p.name) for p in profiles}
        covered = min(sum(f in rows_ for f in files) for rows_ in by_profile.values())
        if covered < len(files):
            incomplete[detector] = covered
            continue
        published.append(
            Scoreboard(
                detector,
                {
                    p.name: nab.normalise(
                        sum(by_profile[p.name][f].score for f in files),
                        n_windows=n_windows,
                        profile=p,
                    )
                    for p in profiles
                },
                {p.name: by_profile[p.name][files[0]].threshold for p in profiles},
                len(files),
            )
        )
    published.sort(key=lambda b: -b.scores["standard"])
    total_s = time.perf_counter() - started

    out(
        f"NAB on {len(files)} labelled series ({rows} rows, {n_windows} windows) from {NAB_DIR}\n"
        "normalised: null detector 0, perfect 100; published detectors at their published "
        "thresholds, IronLink swept as NAB sweeps them and at its fixed threshold\n\n"
    )
    for line in _rows(boards + published, profiles):
        out(line + "\n")
    for detector, covered in incomplete.items():
        out(f"{detector}: result files cover {covered} of these {len(files)} series; left out\n")
    out(
        f"\ndetector {detect_s:.2f} s ({rows / max(detect_s, 1e-9):,.0f} rows/s), "
        f"NAB scoring {scoring_s:.2f} s, total {total_s:.2f} s\n"
    )

    ours = boards[0].scores
    top = published[0] if published else None
    summary: dict[str, object] = {
        "nab_standard": round(ours["standard"], 2),
        "nab_low_fp": round(ours["reward_low_FP_rate"], 2),
        "nab_low_fn": round(ours["reward_low_FN_rate"], 2),
        "files": len(files),
        "windows": n_windows,
        "thresholds": {SHORT[k]: v for k, v in boards[0].thresholds.items()},
        "best_published": None
        if top is None
        else {"name": top.name, "standard": round(top.scores["standard"], 2)},
        "detectors": {
            b.name: {SHORT[k]: round(v, 2) for k, v in b.scores.items()} for b in boards + published
        },
        "seconds": {
            "detector": round(detect_s, 3),
            "scoring": round(scoring_s, 3),
            "total": round(total_s, 3),
        },
    }
    if fixed_threshold is not None:
        fixed_scores = boards[1].scores
        summary["fixed_threshold"] = fixed_threshold
        summary["nab_standard_fixed"] = round(fixed_scores["standard"], 2)
        summary["nab_low_fp_fixed"] = round(fixed_scores["reward_low_FP_rate"], 2)
        summary["nab_low_fn_fixed"] = round(fixed_scores["reward_low_FN_rate"], 2)
        halves = standard_by_half(labelled, scores, profiles, threshold=fixed_threshold)
        summary["nab_standard_fixed_halves"] = halves
        out(
            "standard at the fixed threshold on the even- / odd-indexed files (a change that "
            f"helps only one half is likely fitted to it): {halves['even']} / {halves['odd']}\n"
        )
        by_refractory = standard_by_refractory(series, labelled, scores, profiles, fixed_threshold)
        if by_refractory is not None:
            summary["nab_standard_fixed_by_refractory"] = by_refractory
            out(
                "standard at the fixed threshold by refractory rows (and their mean): "
                + ", ".join(f"{k} {v}" for k, v in by_refractory.items())
                + "\n"
            )
    out(json.dumps(summary) + "\n")


def normalised_score(
    labelled: list[nab.LabelledSeries],
    scores: list[nab.FloatArray],
    *,
    threshold: float,
    profile: nab.CostProfile,
) -> float:
    """NAB's normalised score of `scores` at `threshold` over the files `labelled`."""
    raw = sum(
        nab.score_file(s, a, threshold=threshold, profile=profile).score
        for s, a in zip(labelled, scores, strict=True)
    )
    return nab.normalise(raw, n_windows=sum(s.n_windows for s in labelled), profile=profile)


def standard_by_half(
    labelled: list[nab.LabelledSeries],
    scores: list[nab.FloatArray],
    profiles: tuple[nab.CostProfile, ...],
    *,
    threshold: float,
) -> dict[str, float]:
    """The standard profile's normalised score on the even- and on the odd-indexed files alone."""
    standard = next(p for p in profiles if p.name == "standard")
    return {
        name: round(
            normalised_score(
                labelled[first::2], scores[first::2], threshold=threshold, profile=standard
            ),
            2,
        )
        for name, first in (("even", 0), ("odd", 1))
    }


def standard_by_refractory(
    series: list[tuple[nab.TimeArray, nab.FloatArray]],
    labelled: list[nab.LabelledSeries],
    scores: list[nab.FloatArray],
    profiles: tuple[nab.CostProfile, ...],
    threshold: float,
) -> dict[str, float] | None:
    """The standard profile's normalised score at the fixed threshold with the detector's
    refractory period at 90 .. 110 % of its own (`scores` are those at its own), and the mean of
    the five; None when the detector has no DEFAULT_CONFIG.refractory_rows to vary."""
    from maintenance.anomaly import detectors

    config = getattr(detectors, "DEFAULT_CONFIG", None)
    if config is None or not hasattr(config, "refractory_rows"):
        return None
    standard = next(p for p in profiles if p.name == "standard")
    own = int(config.refractory_rows)
    out: dict[str, float] = {}
    for rows in sorted({round(own * share) for share in (0.9, 0.95, 1.0, 1.05, 1.1)}):
        varied = dataclasses.replace(config, refractory_rows=rows)
        scored = [
            own_scores if rows == own else detectors.score_series(t, v, config=varied)
            for (t, v), own_scores in zip(series, scores, strict=True)
        ]
        out[str(rows)] = round(
            normalised_score(labelled, scored, threshold=threshold, profile=standard), 2
        )
    out["mean"] = round(statistics.mean(out.values()), 2)
    return out


if __name__ == "__main__":
    main()
