"""The Numenta Anomaly Benchmark (NAB) score, as NAB v1.x computes the published results.

Pure numpy and no I/O: the caller reads the series, the label windows and the detector's scores.

Per file (NAB `scorer.Scorer`, whose per-row `S(t)_<profile>` columns fill the published result
files):

- the first `probation_rows(n)` rows, min(floor(0.15 n), 0.15 * 5000), are not scored at all;
- a row is a detection when its anomaly score is >= the threshold;
- each labelled window earns, for its first scored detection only, tp_weight times the scaled
  sigmoid of the detection's relative position, divided by its value at the window's first row
  (so a detection on the first row earns exactly tp_weight); a window without one costs fn_weight
  (also a window that lies wholly in probation: NAB counts it);
- every detection outside the windows costs fp_weight times the scaled sigmoid of its distance past
  the closest preceding window, in window lengths, or the full fp_weight when no window precedes
  it, so an alarm just after a window costs little and one far from any window costs everything;
- further detections inside a window count nothing.

Over a corpus, the raw scores of the files add up and are normalised so that the null detector
(never alarms: -fn_weight per window) scores 0 and the perfect one (tp_weight per window) 100.
The published results use, per detector and profile, the one threshold for every file that
maximises the corpus total; `sweep` evaluates every distinct threshold at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TimeArray = npt.NDArray[np.datetime64]

# NAB's probation: the first 15 % of a file, at most 750 rows, lets a detector learn unscored.
PROBATION_FRACTION: Final = 0.15
PROBATION_CAP_ROWS: Final = 5000
# Relative positions beyond this many window lengths past a window cost the full FP weight.
FAR_PAST_WINDOW: Final = 3.0


@dataclass(frozen=True, slots=True)
class CostProfile:
    """One row of NAB's config/profiles.json (tnWeight is unused by the score)."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


STANDARD: Final = CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
REWARD_LOW_FP_RATE: Final = CostProfile(
    "reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0
)
REWARD_LOW_FN_RATE: Final = CostProfile(
    "reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0
)
PROFILES: Final = (STANDARD, REWARD_LOW_FP_RATE, REWARD_LOW_FN_RATE)


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """2 * sigmoid(-5 x) - 1: 0.98661 at the window's start (x = -1), 0 at its end, -1 far past."""
    with np.errstate(over="ignore"):
        value = 2.0 * (1.0 / (1.0 + np.exp(5.0 * position))) - 1.0
    return np.where(position > FAR_PAST_WINDOW, -1.0, value)


_MAX_TP: Final = float(scaled_sigmoid(np.array([-1.0]))[0])


def probation_rows(n_rows: int) -> int:
    return int(
        min(math.floor(PROBATION_FRACTION * n_rows), PROBATION_FRACTION * PROBATION_CAP_ROWS)
    )


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """One file's rows against its windows, independent of any detector.

    A window holds the rows whose timestamp lies in [start, end] (NAB's labeler compares
    timestamps, and a few NAB files repeat or reorder some, so a window's rows need not be
    contiguous). `window_rows[w]` lists them in row order. `tp_reward[i]` is what row i earns
    (before tp_weight) as its window's first detection, 0 outside windows; `fp_cost[i]` (<= 0) is
    what it costs (before fp_weight) as a false positive, 0 inside windows.
    """

    n_rows: int
    probation_rows: int
    window_rows: tuple[IntArray, ...]
    window_of_row: IntArray
    tp_reward: FloatArray
    fp_cost: FloatArray

    @property
    def n_windows(self) -> int:
        return len(self.window_rows)


def label_series(
    timestamps: TimeArray, windows: Sequence[tuple[np.datetime64, np.datetime64]]
) -> LabelledSeries:
    n_rows = len(timestamps)
    rows = np.arange(n_rows, dtype=np.int64)
    window_of_row = np.full(n_rows, -1, dtype=np.int64)
    tp_reward = np.zeros(n_rows, dtype=np.float64)
    window_rows: list[IntArray] = []
    for w, (start, end) in enumerate(windows):
        members = np.flatnonzero((timestamps >= start) & (timestamps <= end)).astype(np.int64)
        if len(members) == 0:
            raise ValueError(f"window {start} .. {end} holds no rows")
        if bool(np.any(window_of_row[members] >= 0)):
            raise ValueError(f"window {start} .. {end} overlaps another")
        window_of_row[members] = w
        window_rows.append(members)
        # NAB's "+ 1": the first row sits at -1.0, the last at -1/length (never 0).
        position = -(members[-1] - members + 1) / float(len(members))
        tp_reward[members] = scaled_sigmoid(position) / _MAX_TP

    # A false positive is scaled by the closest window that ended (by row) before it.
    last = np.array([m[-1] for m in window_rows], dtype=np.int64)
    span = np.array([len(m) - 1 for m in window_rows], dtype=np.float64)
    by_last = np.argsort(last)
    outside = window_of_row < 0
    k = np.searchsorted(last[by_last], rows[outside], side="left") - 1
    preceding = np.full(len(k), -1, dtype=np.int64)
    preceding[k >= 0] = by_last[k[k >= 0]]
    cost = np.full(len(k), -1.0)
    after = preceding >= 0
    prev = preceding[after]
    # A one-row window has no length to scale by; NAB v1.0 placed its FPs at 2 window lengths.
    position = np.where(
        span[prev] > 0, np.abs(last[prev] - rows[outside][after]) / np.maximum(span[prev], 1.0), 2.0
    )
    cost[after] = scaled_sigmoid(position)
    fp_cost = np.zeros(n_rows, dtype=np.float64)
    fp_cost[outside] = cost
    return LabelledSeries(
        n_rows=n_rows,
        probation_rows=probation_rows(n_rows),
        window_rows=tuple(window_rows),
        window_of_row=window_of_row,
        tp_reward=tp_reward,
        fp_cost=fp_cost,
    )


@dataclass(frozen=True, slots=True)
class FileScore:
    """NAB's per-file row: raw score and row counts over the scored (post-probation) rows.

    `total` counts every row, as NAB's scorer reports it; result files written by NAB 1.1's
    sweeper (ARTime's) report the scored rows there instead.
    """

    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


def _detections(
    series: LabelledSeries, anomaly_scores: FloatArray, threshold: float
) -> npt.NDArray[np.bool_]:
    if len(anomaly_scores) != series.n_rows:
        raise ValueError(f"{len(anomaly_scores)} scores for {series.n_rows} rows")
    detected = np.asarray(anomaly_scores >= threshold)
    detected[: series.probation_rows] = False
    return detected


def row_contributions(
    series: LabelledSeries, anomaly_scores: FloatArray, *, threshold: float, profile: CostProfile
) -> FloatArray:
    """NAB's `S(t)_<profile>` column: each window's TP reward or FN cost on its first row, each
    false positive's cost on its row, 0 elsewhere. Sums to the file's raw score."""
    detected = _detections(series, anomaly_scores, threshold)
    contributions = np.zeros(series.n_rows, dtype=np.float64)
    for members in series.window_rows:
        hits = members[detected[members]]
        contributions[members[0]] = (
            series.tp_reward[hits[0]] * profile.tp_weight if len(hits) else -profile.fn_weight
        )
    false_positive = detected & (series.window_of_row < 0)
    contributions[false_positive] = series.fp_cost[false_positive] * profile.fp_weight
    return contributions


def score_file(
    series: LabelledSeries, anomaly_scores: FloatArray, *, threshold: float, profile: CostProfile
) -> FileScore:
    detected = _detections(series, anomaly_scores, threshold)
    contributions = row_contributions(series, anomaly_scores, threshold=threshold, profile=profile)
    inside = series.window_of_row >= 0
    scored = np.arange(series.n_rows) >= series.probation_rows
    return FileScore(
        score=float(contributions.sum()),
        tp=int(np.count_nonzero(detected & inside)),
        tn=int(np.count_nonzero(scored & ~detected & ~inside)),
        fp=int(np.count_nonzero(detected & ~inside)),
        fn=int(np.count_nonzero(scored & ~detected & inside)),
        total=series.n_rows,
    )


def null_raw(n_windows: int, profile: CostProfile) -> float:
    return -profile.fn_weight * n_windows


def perfect_raw(n_windows: int, profile: CostProfile) -> float:
    return profile.tp_weight * n_windows


def normalise(raw: float, *, n_windows: int, profile: CostProfile) -> float:
    """Raw corpus score -> NAB's scale: null detector 0, perfect detector 100."""
    null = null_raw(n_windows, profile)
    return 100.0 * (raw - null) / (perfect_raw(n_windows, profile) - null)


@dataclass(frozen=True, slots=True)
class Sweep:
    """A corpus's score parts at every distinct threshold, highest threshold first.

    `thresholds[0]` lies above every score (no detections). The parts are unweighted, so one
    sweep serves every profile.
    """

    thresholds: FloatArray
    tp_reward: FloatArray
    fp_cost: FloatArray
    missed: IntArray
    n_windows: int

    def raw(self, profile: CostProfile) -> FloatArray:
        return (
            profile.tp_weight * self.tp_reward
            + profile.fp_weight * self.fp_cost
            - profile.fn_weight * self.missed
        )

    def index_of(self, threshold: float) -> int:
        """The entry whose detections are those of `threshold` (the lowest entry >= it)."""
        at_or_above = int(np.count_nonzero(self.thresholds >= threshold))
        return max(at_or_above - 1, 0)

    def best(self, profile: CostProfile) -> tuple[float, float]:
        """(threshold, raw score) of the best total; on a tie the highest threshold wins."""
        raw = self.raw(profile)
        i = int(np.argmax(raw))
        return float(self.thresholds[i]), float(raw[i])


def sweep(series: Sequence[LabelledSeries], anomaly_scores: Sequence[FloatArray]) -> Sweep:
    """Evaluate every threshold at which some file's detections change, over all files at once."""
    if len(series) != len(anomaly_scores):
        raise ValueError("one score array per series")
    scored_scores = [
        np.asarray(s, dtype=np.float64)[ls.probation_rows :]
        for ls, s in zip(series, anomaly_scores, strict=True)
    ]
    for ls, s in zip(series, anomaly_scores, strict=True):
        if len(s) != ls.n_rows:
            raise ValueError(f"{len(s)} scores for {ls.n_rows} rows")
    pooled = np.concatenate([*scored_scores, np.empty(0)])
    pooled = pooled[~np.isnan(pooled)]
    distinct = np.unique(pooled)[::-1]
    top = np.nextafter(distinct[0], np.inf) if len(distinct) else 1.1
    thresholds = np.concatenate([[top], distinct])

    # False positives: the cost of every outside row whose score reaches the threshold.
    fp_scores, fp_costs = [], []
    for ls, s in zip(series, scored_scores, strict=True):
        outside = ls.window_of_row[ls.probation_rows :] < 0
        fp_scores.append(s[outside])
        fp_costs.append(ls.fp_cost[ls.probation_rows :][outside])
    fp_cost = _reaching_sum(
        np.concatenate([*fp_scores, np.empty(0)]),
        np.concatenate([*fp_costs, np.empty(0)]),
        thresholds,
    )

    # Windows: the earliest detection earns the most, so a window's reward at a threshold is the
    # largest reward among its rows whose score reaches it.
    tp_reward = np.zeros(len(thresholds), dtype=np.float64)
    missed = np.zeros(len(thresholds), dtype=np.int64)
    n_windows = 0
    for ls, s in zip(series, anomaly_scores, strict=True):
        for members in ls.window_rows:
            n_windows += 1
            members = members[members >= ls.probation_rows]
            rows_s = np.asarray(s[members], dtype=np.float64)
            rewards = ls.tp_reward[members]
            keep = ~np.isnan(rows_s)
            rows_s, rewards = rows_s[keep], rewards[keep]
            if len(rows_s) == 0:
                missed += 1
                continue
            order = np.argsort(rows_s, kind="stable")
            sorted_s = rows_s[order]
            best_from = np.maximum.accumulate(rewards[order][::-1])[::-1]
            start = np.searchsorted(sorted_s, thresholds, side="left")
            hit = start < len(sorted_s)
            tp_reward[hit] += best_from[start[hit]]
            missed[~hit] += 1
    return Sweep(
        thresholds=thresholds,
        tp_reward=tp_reward,
        fp_cost=fp_cost,
        missed=missed,
        n_windows=n_windows,
    )


def _reaching_sum(scores: FloatArray, values: FloatArray, thresholds: FloatArray) -> FloatArray:
    """For each threshold, the sum of `values` whose score is >= it (NaN scores never reach)."""
    keep = ~np.isnan(scores)
    order = np.argsort(scores[keep], kind="stable")
    sorted_scores = scores[keep][order]
    suffix = np.concatenate([np.cumsum(values[keep][order][::-1])[::-1], [0.0]])
    return np.asarray(suffix[np.searchsorted(sorted_scores, thresholds, side="left")])
