"""The fleet anomaly detector: every machine and monitored signal, a minute at a time, in numpy.
Pure: per-minute aggregates and the carried state in, updated state and alarm events out.

Why not the univariate `detectors.score_series` per series: a coolant temperature that follows
the engine's load is not an anomaly, and re-scoring the last hour of 10,000 machines x 8 signals
every minute costs hours. So the fleet detector is incremental (state carried between sweeps, each
minute processed once) and conditions every signal on what the machine is doing:

1. features per machine and minute: rpm as piecewise-linear "hats", alone and times load (one
   linear model then follows the idle / work / travel modes a minute's mean load and rpm stand
   for, each linear in load with its own slope), and the
   engine's thermal state as exponential filters of "running" and "running x load" with the
   coolant's and the hydraulic oil's time constants (slower while stopped: an engine cools slowly);
   a machine is judged once it has run WARM_MINUTES without a stop;
2. expected value per signal from a centred ridge regression on those features, fitted per model
   over the model's steady peers (sufficient statistics with forgetting, solved once per sweep):
   "expected" is what this model reads at this load, the comparison with same-model peers under
   similar load; fuel rate, nearly a function of load and rpm, is barely shrunk (RIDGE);
3. the residual minus its peers' median residual in the same minute (common mode: weather, time
   of day) minus the machine's own slowly learned offset (its ambient, its sensor), over its own
   robust scale -> z, clipped, signed so that + is the failing direction (coolant hot, oil
   pressure low); offset and scale are frozen while the machine alarms, so a developing fault is
   not learned as normal;
4. statistics, each over its own learned spread because minutes are correlated: a 10-minute mean
   of z (level shift), a 2-hour mean of z (slow drift), the machine's offset against its peers'
   offsets (a difference it had before monitoring began) and a chi-square over all its signals'
   level statistics (several signals moving together, each too little alone); each is taken as
   a ratio r to its alarm level, the largest per signal gives score = r^2 / (1 + r^2) in [0, 1),
   alarming at THRESHOLD = 0.5 as in `detectors`;
5. an alarm episode opens after ALARM_MINUTES judged minutes at or above THRESHOLD and ends after
   CLEAR_MINUTES below CLEAR_SCORE; it yields a 'raised' event, a 'sustained' event once it has
   lasted SUSTAINED_MINUTES (the ticket path raises the priority then) and an 'ended' event.

Minutes are absolute (minutes since the epoch). Each machine is processed up to its own
`valid_through` minute (the caller's watermark: the newest minute whose readings are in), and
never twice, so machines that buffer offline and send in bursts are scored when their data is in.
One configuration, the constants below, serves every machine; they were set on the simulated
fleet of `make eval-early-warning` (its seeds differ from the unit tests').
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from maintenance.anomaly.detectors import THRESHOLD

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Monitored signals and the direction in which each one fails (+1 high is bad, -1 low is bad).
MONITORED: Final[tuple[str, ...]] = (
    "coolant_c",
    "hyd_oil_c",
    "oil_kpa",
    "battery_v",
    "hyd_bar",
    "fuel_lph",
)
FAILS: Final = np.array([+1, +1, -1, -1, -1, -1], dtype=np.float64)
# Smallest meaningful scale per signal (sensor resolution and rounding on the wire): a machine
# whose residual is unusually quiet is not judged against a scale finer than its sensor.
SCALE_FLOOR: Final = np.array([0.3, 0.3, 4.0, 0.03, 3.0, 0.3], dtype=np.float64)
# The 8 signals a sweep reads per minute: the monitored ones, and rpm and load they are
# conditioned on (rpm itself depends on the operating mode too much to be judged from load).
READ_SIGNALS: Final[tuple[str, ...]] = (*MONITORED, "rpm", "load_pct")

# Features: 1, the thermal filters, and rpm as piecewise-linear "hat" functions at
# RPM_KNOTS, alone and times load. One linear model per machine model then follows the idle / work
# / travel modes: a signal that is linear in load within each mode, and a minute that mixes two
# modes, are both piecewise linear in the minute's mean rpm.
RPM_KNOTS: Final = np.arange(600.0, 2601.0, 200.0)
# No load^2: a curvature shared by every mode bent each mode's line where its data are thin
# (a tractor in its work gear at half its usual load read as low on fuel and hydraulic pressure:
# 36 of 37 false alerts in `make eval-early-warning` went with it).
FEATURES: Final = 1 + 4 + 2 * len(RPM_KNOTS)
# Thermal time constants: coolant follows load in ~8 minutes and hydraulic oil in ~25 while the
# engine runs; a stopped engine cools far more slowly, so after a short stop it restarts warm.
TAU_RUNNING_MIN: Final = np.array([8.3, 8.3, 25.0, 25.0])
TAU_STOPPED_MIN: Final = np.array([40.0, 40.0, 60.0, 60.0])
WARM_MINUTES: Final = 20  # a cold engine's readings are a warm-up, not an operating point
RUNNING_SHARE: Final = 0.99  # a minute counts as running when (nearly) all its readings were
# Own offset and spreads learn over ~5 working days of judged minutes, slow enough that a fault
# developing over hours shows as a departure; the first minutes use a plain mean (1/n).
# After the warm-up (plain means), offset and spreads follow medians by bounded steps: the offset
# moves at most ETA_OFFSET of a scale per minute and a spread changes by at most a factor
# exp(ETA_SPREAD) per minute. A mean-based update would learn a fault that ramps over days as the
# new normal (its clipped update still grows a scale exponentially under a lasting departure);
# bounded steps follow a genuine lasting change (a new sensor) over weeks instead.
ETA_OFFSET: Final = 1.0 / 2000.0
ETA_SPREAD: Final = 1.0 / 5000.0
ALARM_LEARNING: Final = 0.25
# Judged minutes before a machine's own statistics score (~1.5 working days): its offset, scale and
# the spreads of its 2-hour statistic need that many minutes before they can be trusted.
OWN_WARM_MINUTES: Final = 600
# Hydraulic oil is judged only once its 25-minute thermal filter is this far up (~40 minutes of
# running): before that its temperature is still a warm-up curve.
HYD_WARM_SHARE: Final = 0.8
HYD_OIL: Final = MONITORED.index("hyd_oil_c")
SHORT_ALPHA: Final = 1.0 / 10.0  # level: ~10 minutes
LONG_ALPHA: Final = 1.0 / 120.0  # drift: ~2 hours
# A minute's z is clipped so that one odd minute moves a 10-minute mean by at most 1; the clip
# must stay above the alarm levels, or a thermal signal (whose residual is so autocorrelated that
# its 10-minute mean spreads as much as z itself) could never reach them.
Z_CLIP: Final = 10.0
# Alarm levels of each statistic, in its own learned spreads (one configuration for every signal).
LEVEL_ALARM_Z: Final = 6.0
DRIFT_ALARM_Z: Final = 7.0
PEER_ALARM_Z: Final = 8.0
MULTI_ALARM_Z: Final = 12.0
# Peer regression: forgetting per minute, ridge per MONITORED signal relative to each feature's
# variance, and how much data a model needs before its expectation is used.
FORGET_PER_MINUTE: Final = 1.0 - 1.0 / 30_000.0
# Fuel rate is barely shrunk: a controller's percent load is its fuel against the most it can
# inject at the current speed, so fuel is nearly a function of load and rpm. Shrunk as the others
# are, its slopes bent with load: healthy machines at 90-100 % load read 0.3-3 lph above
# expectation, as large as a plugging fuel filter's deficit there and opposite to it, so the
# filter was never flagged before its DTC (0 of 12 in `make eval-early-warning`; 10 at 1e-4 and
# at 1e-5; at 1e-3 the slopes still bend, now below the residual's scale: 17 false fuel alerts).
# Real data is noisier than the simulator's exact relation: on a JD 5055E's CAN captures these
# features explain 87 % of the fuel rate's variance message by message, a residual of ~3 % of
# full-load fuel (`make eval-can-fuel`). With that much error on every simulated reading the
# filter is still flagged 10 of 12 times; at 5 % plus a +-5 % per-machine gain 5, at 10 % 4; no
# false fuel alert in any of them (--fuel-noise, --fuel-gain).
RIDGE: Final = np.array([1e-2, 1e-2, 1e-2, 1e-2, 1e-2, 1e-5])
# ... plus this much in absolute terms, so a rarely visited rpm knot is shrunk instead of fitted
# to a handful of minutes.
RIDGE_ABSOLUTE: Final = RIDGE / 10.0
GROUP_READY_ROWS: Final = 400.0
MIN_PEERS: Final = 3  # common-mode removal needs this many steady peers in the minute
ALARM_MINUTES: Final = 15
CLEAR_SCORE: Final = 0.3
CLEAR_MINUTES: Final = 60
SUSTAINED_MINUTES: Final = 60
# A statistic's spread is at least what independent minutes of unit z would give it.
_SHORT_SPREAD_FLOOR: Final = math.sqrt(SHORT_ALPHA / (2.0 - SHORT_ALPHA))
_LONG_SPREAD_FLOOR: Final = math.sqrt(LONG_ALPHA / (2.0 - LONG_ALPHA))
# Spreads follow the 90th percentile of |x| (1.645 sigmas of a Gaussian) rather than the median:
# residuals here are heavy-tailed (a minute that mixes operating modes), and a spread fitted to
# their core alone would make every tail minute an alarm.
SPREAD_QUANTILE: Final = 0.9
_QUANTILE_ABS_OF_SIGMA: Final = 1.645
_MAD_TO_SIGMA: Final = 1.4826
_MEAN_ABS_TO_SIGMA: Final = 1.2533
_CLEAR_RATIO: Final = math.sqrt(CLEAR_SCORE / (1.0 - CLEAR_SCORE))  # score_of(r) = CLEAR_SCORE
_STATISTICS: Final = ("level", "drift", "peer_offset", "multivariate")
_PER_SIGNAL: Final = (
    *("offset", "scale", "learned", "short", "long", "short_spread", "long_spread"),
    *("short_obs", "short_exp", "above", "below"),
)

EventKind = Literal["raised", "sustained", "ended"]


@dataclass(frozen=True, slots=True)
class MinuteFrame:
    """Per-minute aggregates of the machines of one sweep, minutes [start_minute, start + T)."""

    machine_ids: Ints  # (M,)
    groups: Sequence[str]  # (M,) peer group of each machine: its model
    start_minute: int
    values: Floats  # (M, T, S) mean of each MONITORED signal, NaN when not reported
    rpm: Floats  # (M, T) mean rpm
    load: Floats  # (M, T) mean load_pct, NaN without readings
    running: Floats  # (M, T) share of readings with the engine running, NaN without readings
    valid_through: Ints  # (M,) last minute (absolute) whose data is complete for each machine

    @property
    def minutes(self) -> int:
        return int(self.values.shape[1])

    def window(self, start: int, stop: int) -> MinuteFrame:
        """Minutes [start, stop) of this frame, counted from its first minute; same machines."""
        return MinuteFrame(
            machine_ids=self.machine_ids,
            groups=self.groups,
            start_minute=self.start_minute + start,
            values=self.values[:, start:stop],
            rpm=self.rpm[:, start:stop],
            load=self.load[:, start:stop],
            running=self.running[:, start:stop],
            valid_through=self.valid_through,
        )


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    machine_id: int
    signal: str
    kind: EventKind
    episode_start: int  # absolute minute the alarm episode began
    minute: int  # absolute minute of this event
    score: float
    z: float  # the scoring statistic in its own spreads, + = failing direction
    observed: float  # ~10-minute mean of the signal
    expected: float  # what peers of its model read at its load, plus its own offset
    statistic: str  # which statistic scored highest: level, drift, peer_offset, multivariate


def _zeros(*shape: int) -> Floats:
    return np.zeros(shape, dtype=np.float64)


@dataclass(slots=True)
class FleetState:
    """Everything carried from one sweep to the next: per machine row, per machine row and signal
    (the names in _PER_SIGNAL), and per peer group."""

    rows: dict[int, int] = field(default_factory=dict)  # machine id -> row
    machine_ids: list[int] = field(default_factory=list)  # row -> machine id
    group_index: dict[str, int] = field(default_factory=dict)
    group_of: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cursor: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    thermal: Floats = field(default_factory=lambda: _zeros(0, 4))  # run8, load8, run25, load25
    run_minutes: Floats = field(default_factory=lambda: _zeros(0))
    offset: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    scale: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    learned: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))  # judged minutes
    short: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    long: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    short_spread: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    long_spread: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    short_obs: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    short_exp: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))
    above: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))  # minutes >= THR
    below: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED)))  # minutes < CLEAR
    episode_start: Ints = field(default_factory=lambda: np.zeros((0, len(MONITORED)), np.int64))
    sustained: Bools = field(default_factory=lambda: np.zeros((0, len(MONITORED)), np.bool_))
    # Per group: ridge sufficient statistics and coefficients per signal.
    xtx: Floats = field(default_factory=lambda: _zeros(0, FEATURES, FEATURES))
    xty: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED), FEATURES))
    weight: Floats = field(default_factory=lambda: _zeros(0))
    beta: Floats = field(default_factory=lambda: _zeros(0, len(MONITORED), FEATURES))

    def ensure(self, machine_ids: Ints, groups: Sequence[str]) -> Ints:
        """Rows of these machines, adding any new machine and group; returns the row per machine."""
        s = len(MONITORED)
        for g in groups:
            if g not in self.group_index:
                self.group_index[g] = len(self.group_index)
                self.xtx = np.concatenate([self.xtx, _zeros(1, FEATURES, FEATURES)])
                self.xty = np.concatenate([self.xty, _zeros(1, s, FEATURES)])
                self.weight = np.concatenate([self.weight, _zeros(1)])
                self.beta = np.concatenate([self.beta, _zeros(1, s, FEATURES)])
        new = [
            (m, g)
            for m, g in zip(machine_ids.tolist(), groups, strict=True)
            if int(m) not in self.rows
        ]
        if new:
            k = len(new)
            for m, _ in new:
                self.rows[int(m)] = len(self.rows)
                self.machine_ids.append(int(m))
            self.group_of = np.concatenate(
                [self.group_of, np.array([self.group_index[g] for _, g in new], dtype=np.int64)]
            )
            self.cursor = np.concatenate([self.cursor, np.full(k, -1, dtype=np.int64)])
            self.thermal = np.concatenate([self.thermal, _zeros(k, 4)])
            self.run_minutes = np.concatenate([self.run_minutes, _zeros(k)])
            for name in _PER_SIGNAL:
                setattr(self, name, np.concatenate([getattr(self, name), _zeros(k, s)]))
            self.episode_start = np.concatenate(
                [self.episode_start, np.full((k, s), -1, dtype=np.int64)]
            )
            self.sustained = np.concatenate([self.sustained, np.zeros((k, s), dtype=np.bool_)])
        rows = np.array([self.rows[int(m)] for m in machine_ids.tolist()], dtype=np.int64)
        # A machine whose record moved to another model joins that model's peers.
        self.group_of[rows] = [self.group_index[g] for g in groups]
        return rows


def features(load: Floats, rpm: Floats, thermal: Floats) -> Floats:
    """(..., FEATURES): 1, the four thermal filters, rpm hats and rpm hats x load."""
    load_share = _nan_to_zero(load) / 100.0
    r = np.clip(_nan_to_zero(rpm), RPM_KNOTS[0], RPM_KNOTS[-1])
    step = RPM_KNOTS[1] - RPM_KNOTS[0]
    hats = np.maximum(1.0 - np.abs(r[..., None] - RPM_KNOTS) / step, 0.0)
    return np.concatenate(
        [
            np.ones((*load.shape, 1)),
            thermal,
            hats,
            hats * load_share[..., None],
        ],
        axis=-1,
    )


def sweep(state: FleetState, frame: MinuteFrame) -> list[AnomalyEvent]:
    """Processes every minute of `frame` each machine has not processed yet, up to its
    valid_through; updates `state` in place; returns the alarm events of those minutes."""
    rows = state.ensure(frame.machine_ids, frame.groups)
    group = state.group_of[rows]
    layout = GroupLayout(group)
    events: list[AnomalyEvent] = []
    beta = state.beta[group]  # (M, S, F), fixed for the sweep
    ready = state.weight[group] >= GROUP_READY_ROWS
    # Offsets move over days: their comparison with peers is taken once per sweep.
    peer_z = peer_offset_z(state)[rows]
    fit: list[tuple[Floats, Floats, Ints]] = []
    rate_running = 1.0 - np.exp(-1.0 / TAU_RUNNING_MIN)
    rate_stopped = 1.0 - np.exp(-1.0 / TAU_STOPPED_MIN)
    for t in range(frame.minutes):
        minute = frame.start_minute + t
        active = (minute > state.cursor[rows]) & (minute <= frame.valid_through)
        if not active.any():
            continue
        run = frame.running[:, t]
        load = frame.load[:, t]
        y = frame.values[:, t, :]
        # No readings in a complete minute: the engine was off (controllers report every 10 min).
        share = np.where(np.isfinite(run), run, 0.0)
        on = active & (share >= RUNNING_SHARE)
        th = state.thermal[rows]
        load_share = share * _nan_to_zero(load) / 100.0
        target = np.stack([share, load_share, share, load_share], axis=1)
        rate = np.where((share > 0.0)[:, None], rate_running, rate_stopped)
        th = np.where(active[:, None], th + rate * (target - th), th)
        state.thermal[rows] = th
        run_minutes = np.where(on, state.run_minutes[rows] + 1.0, 0.0)
        state.run_minutes[rows] = np.where(active, run_minutes, state.run_minutes[rows])
        state.cursor[rows[active]] = minute
        steady = on & (run_minutes >= WARM_MINUTES) & np.isfinite(load)
        if not steady.any():
            continue
        x = features(load, frame.rpm[:, t], th)
        calm = steady & (state.episode_start[rows] < 0).all(axis=1)  # alarming machines stay out
        fit.append((x[calm], y[calm], group[calm]))
        judged = steady & ready
        if not judged.any():
            continue
        expected = np.einsum("mf,msf->ms", x, beta)
        judged_signal = np.repeat(judged[:, None], len(MONITORED), axis=1)
        judged_signal[:, HYD_OIL] &= th[:, 2] >= HYD_WARM_SHARE
        dev = np.where(judged_signal, y - expected - state.offset[rows], np.nan)
        common = layout.median(dev, usable=state.learned[rows] >= OWN_WARM_MINUTES)
        dev = dev - common
        valid = np.isfinite(dev)
        events.extend(_judge(state, rows, dev, y, expected + common, peer_z, valid, minute))
    if fit:
        x_all, y_all, g_all = (np.concatenate(parts) for parts in zip(*fit, strict=True))
        _refit(state, x_all, y_all, g_all, minutes=frame.minutes)
    return events


class GroupLayout:
    """Rows arranged per peer group in a padded (groups, members) index, so a per-group statistic
    over every signal is one sort instead of a loop over groups and signals."""

    def __init__(self, group: Ints) -> None:
        order = np.argsort(group, kind="stable")
        uniq, first, counts = np.unique(group[order], return_index=True, return_counts=True)
        slot_sorted = np.repeat(np.arange(len(uniq)), counts)
        position = np.arange(len(group)) - np.repeat(first, counts)
        width = int(counts.max()) if len(counts) else 0
        self.index = np.full((len(uniq), width), -1, dtype=np.int64)
        self.index[slot_sorted, position] = order
        self.slot = np.empty(len(group), dtype=np.int64)
        self.slot[order] = slot_sorted

    def median(self, values: Floats, *, usable: Bools, min_count: int = MIN_PEERS) -> Floats:
        """Per row and signal: the median of its group's usable finite values (0 where fewer than
        min_count)."""
        med, count = self.group_median(values, usable=usable)
        return np.where(count >= min_count, med, 0.0)[self.slot]

    def group_median(self, values: Floats, *, usable: Bools) -> tuple[Floats, Ints]:
        v = np.where(usable & np.isfinite(values), values, np.nan)
        padded = np.where(self.index[..., None] >= 0, v[self.index], np.nan)  # (G, K, S)
        ordered = np.sort(padded, axis=1)  # NaN last
        count = np.isfinite(padded).sum(axis=1)  # (G, S)
        lo = np.maximum((count - 1) // 2, 0)[:, None, :]
        hi = np.maximum(count // 2, 0)[:, None, :]
        with np.errstate(invalid="ignore"):
            med = (
                0.5
                * (
                    np.take_along_axis(ordered, lo, axis=1)
                    + np.take_along_axis(ordered, hi, axis=1)
                )[:, 0, :]
            )
        return _nan_to_zero(med), count


def _ewma(old: Floats, new: Floats, alpha: Floats | float, where: Bools) -> Floats:
    return np.where(where, old + alpha * (new - old), old)


def _judge(
    state: FleetState,
    idx: Ints,
    dev: Floats,
    observed: Floats,
    expected_no_offset: Floats,
    peer_z: Floats,
    valid: Bools,
    minute: int,
) -> list[AnomalyEvent]:
    """Statistics, scores and alarm episodes of one minute; then the machine's own learning."""
    n = state.learned[idx]
    judge = valid & (n >= OWN_WARM_MINUTES)
    scale = np.maximum(state.scale[idx], SCALE_FLOOR)
    z = np.where(valid, np.clip(_nan_to_zero(dev) / scale, -Z_CLIP, Z_CLIP), 0.0) * FAILS
    short = state.short[idx] = _ewma(state.short[idx], z, SHORT_ALPHA, valid)
    long = state.long[idx] = _ewma(state.long[idx], z, LONG_ALPHA, valid)
    expected = expected_no_offset + state.offset[idx]
    first = state.short_obs[idx] == 0.0
    state.short_obs[idx] = np.where(
        valid & first, observed, _ewma(state.short_obs[idx], observed, SHORT_ALPHA, valid)
    )
    state.short_exp[idx] = np.where(
        valid & first, expected, _ewma(state.short_exp[idx], expected, SHORT_ALPHA, valid)
    )
    # Each mean of z over its own learned spread: minutes are correlated, so the spread of a
    # 10-minute mean is learned, not assumed.
    level_z = short / np.maximum(state.short_spread[idx], _SHORT_SPREAD_FLOOR)
    drift_z = long / np.maximum(state.long_spread[idx], _LONG_SPREAD_FLOOR)
    multi_z = _multivariate(level_z, judge)
    # Each statistic as a share of its alarm level; the largest one per signal scores.
    stacked = np.stack(
        [
            level_z / LEVEL_ALARM_Z,
            drift_z / DRIFT_ALARM_Z,
            peer_z / PEER_ALARM_Z,
            multi_z / MULTI_ALARM_Z,
        ]
    )  # (4, M, S)
    ratio = np.where(judge, np.maximum(stacked.max(axis=0), 0.0), 0.0)
    which = stacked.argmax(axis=0)
    statistic_z = np.choose(which, [level_z, drift_z, peer_z, multi_z])
    score = score_of(ratio)
    events = _episodes(state, idx, score, which, statistic_z, judge, minute)
    departing = np.maximum(stacked[0], stacked[1]) >= _CLEAR_RATIO  # level or drift
    _learn_own(state, idx, dev, short, long, valid & ~departing, valid)
    return events


def _nan_to_zero(x: Floats) -> Floats:
    """np.nan_to_num without its per-call overhead (no infinities occur here)."""
    return np.where(np.isnan(x), 0.0, x)


def score_of(ratio: Floats) -> Floats:
    """Score in [0, 1) of a statistic at `ratio` of its alarm level: 0.5 exactly at the alarm, as
    `detectors` scores (a Gaussian tail surprise grows about as z^2, so this is its shape)."""
    r2 = ratio * ratio
    return np.asarray(r2 / (1.0 + r2), dtype=np.float64)


def _multivariate(level_z: Floats, judge: Bools) -> Floats:
    """Per machine, the chi-square of its signals' failing-direction level statistics as a
    Wilson-Hilferty z, placed on the signal that contributes most."""
    q = np.where(judge, np.maximum(level_z, 0.0) ** 2, 0.0).sum(axis=1)
    df = judge.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = 2.0 / (9.0 * df)
        wh = (np.cbrt(q / df) - (1.0 - c)) / np.sqrt(c)
    wh = np.where(df >= 2, _nan_to_zero(wh), 0.0)
    out = np.zeros_like(level_z)
    top = np.argmax(np.where(judge, level_z, -np.inf), axis=1)
    out[np.arange(len(top)), top] = wh
    return out


def peer_offset_z(state: FleetState) -> Floats:
    """Every machine's learned offset against the offsets of its model's learned machines (robust
    z in the failing direction; 0 where the model has fewer than 2 x MIN_PEERS learned machines)."""
    if state.cursor.size == 0:
        return np.zeros((0, len(MONITORED)))
    layout = GroupLayout(state.group_of)
    usable = state.learned >= OWN_WARM_MINUTES
    centre, count = layout.group_median(state.offset, usable=usable)
    spread, _ = layout.group_median(np.abs(state.offset - centre[layout.slot]), usable=usable)
    typical_scale, _ = layout.group_median(state.scale, usable=usable)
    spread = np.maximum(np.maximum(_MAD_TO_SIGMA * spread, typical_scale), SCALE_FLOOR)
    z = (state.offset - centre[layout.slot]) / spread[layout.slot] * FAILS
    return np.where(usable & (count >= 2 * MIN_PEERS)[layout.slot], z, 0.0)


def _episodes(
    state: FleetState,
    idx: Ints,
    score: Floats,
    which: Ints,
    statistic_z: Floats,
    judge: Bools,
    minute: int,
) -> list[AnomalyEvent]:
    alarming = judge & (score >= THRESHOLD)
    calm = judge & (score < CLEAR_SCORE)
    above = np.where(alarming, state.above[idx] + 1.0, np.where(judge, 0.0, state.above[idx]))
    below = np.where(calm, state.below[idx] + 1.0, np.where(judge, 0.0, state.below[idx]))
    state.above[idx] = above
    state.below[idx] = below
    start = state.episode_start[idx]
    open_ = start >= 0
    raised = ~open_ & (above >= ALARM_MINUTES)
    ended = open_ & (below >= CLEAR_MINUTES)
    sustained = (
        open_ & ~ended & ~state.sustained[idx] & (minute - start >= SUSTAINED_MINUTES) & alarming
    )
    start = np.where(raised, minute - ALARM_MINUTES + 1, start)
    events: list[AnomalyEvent] = []
    kinds: tuple[tuple[EventKind, Bools], ...] = (
        ("raised", raised),
        ("sustained", sustained),
        ("ended", ended),
    )
    for kind, mask in kinds:
        for r, s in zip(*np.nonzero(mask), strict=True):
            row = int(idx[r])
            events.append(
                AnomalyEvent(
                    machine_id=state.machine_ids[row],
                    signal=MONITORED[s],
                    kind=kind,
                    episode_start=int(start[r, s]),
                    minute=minute,
                    score=round(float(score[r, s]), 4),
                    z=round(float(statistic_z[r, s]), 2),
                    observed=float(state.short_obs[row, s]),
                    expected=float(state.short_exp[row, s]),
                    statistic=_STATISTICS[int(which[r, s])],
                )
            )
    state.sustained[idx] = np.where(raised | ended, False, state.sustained[idx] | sustained)
    state.episode_start[idx] = np.where(ended, -1, start)
    return events


def _learn_own(
    state: FleetState,
    idx: Ints,
    dev: Floats,
    short: Floats,
    long: Floats,
    calm: Bools,
    valid: Bools,
) -> None:
    """Offset, scale and statistic spreads per machine and signal: plain means over the first
    OWN_WARM_MINUTES, then bounded median-following steps. During an alarm episode, while the
    signal is above the threshold, and while its level or drift statistic is past the clearing
    score in the failing direction (not `calm`: a fault on its way to an alarm) the steps are
    ALARM_LEARNING of their floor: a fault is not learned as normal within its lead time (a
    developing hydraulic-oil fault grew the scale 1.3 -> 2.5 degC before it could alarm), and a
    machine whose baseline was learned wrong still comes out of its alarm, over weeks."""
    quiet = calm & (state.episode_start[idx] < 0) & (state.above[idx] == 0)
    n = state.learned[idx] + valid
    warming = valid & (n <= OWN_WARM_MINUTES)
    settled = valid & ~warming
    d = _nan_to_zero(dev)
    mean_step = np.where(warming, 1.0 / np.maximum(n, 1.0), 0.0)
    # Robbins-Monro: the steps shrink as 1/n to their floors, so the first days converge quickly.
    decay = np.where(quiet, 1.0 / np.maximum(n, 1.0), 0.0)
    slow = np.where(quiet, 1.0, ALARM_LEARNING)
    eta_offset = np.where(settled, np.maximum(decay, ETA_OFFSET) * slow, 0.0)
    eta_spread = np.where(settled, np.maximum(decay, ETA_SPREAD) * slow, 0.0)
    scale = np.maximum(state.scale[idx], SCALE_FLOOR)
    state.offset[idx] += mean_step * d + eta_offset * scale * np.clip(d / scale, -1.0, 1.0)
    for name, value in (("scale", d), ("short_spread", short), ("long_spread", long)):
        spread = getattr(state, name)[idx]
        warm_mean = spread + mean_step * (_MEAN_ABS_TO_SIGMA * np.abs(value) - spread)
        beyond = np.abs(value) > _QUANTILE_ABS_OF_SIGMA * spread
        follow = spread * np.exp(
            eta_spread * np.where(beyond, SPREAD_QUANTILE, SPREAD_QUANTILE - 1.0) * 2.0
        )
        getattr(state, name)[idx] = np.where(warming, warm_mean, follow)
    state.learned[idx] = n


def _refit(state: FleetState, x: Floats, y: Floats, g: Ints, *, minutes: int) -> None:
    """Adds the sweep's steady rows (machines in an alarm kept out) to each group's sufficient
    statistics, with forgetting, and solves the ridge regressions."""
    finite = np.isfinite(y).all(axis=1)
    x, y, g = x[finite], y[finite], g[finite]
    decay = FORGET_PER_MINUTE ** min(minutes, 1000)
    state.xtx *= decay
    state.xty *= decay
    state.weight *= decay
    for k in np.unique(g).tolist():
        rows = g == k
        xk, yk = x[rows], y[rows]
        state.xtx[k] += xk.T @ xk
        state.xty[k] += yk.T @ xk
        state.weight[k] += float(rows.sum())
    # Centred ridge, one batched solve per group and signal: the intercept is the mean and is not
    # shrunk (shrinking it would hand the level to features that are ~1 whenever the engine is
    # warm); each slope is shrunk relative to its feature's variance, which keeps nearly collinear
    # thermal filters from trading large opposite weights.
    w = np.maximum(state.weight, 1e-9)[:, None]
    mean_x = state.xtx[:, 0, 1:] / w  # (G, F-1); feature 0 is the constant 1
    mean_y = state.xty[:, :, 0] / w  # (G, S)
    cov = state.xtx[:, 1:, 1:] / w[..., None] - mean_x[:, :, None] * mean_x[:, None, :]
    cross = state.xty[:, :, 1:] / w[..., None] - mean_y[..., None] * mean_x[:, None, :]
    variance = np.diagonal(cov, axis1=1, axis2=2)  # (G, F-1)
    ridge = RIDGE[None, :, None] * variance[:, None, :] + RIDGE_ABSOLUTE[None, :, None]
    a = cov[:, None, :, :] + np.eye(FEATURES - 1) * ridge[..., None, :]  # (G, S, F-1, F-1)
    slopes = np.linalg.solve(a, cross[..., None])[..., 0]  # (G, S, F-1)
    intercept = mean_y - np.einsum("gsf,gf->gs", slopes, mean_x)
    fitted = state.weight >= GROUP_READY_ROWS / 4
    state.beta[fitted, :, 0] = intercept[fitted]
    state.beta[fitted, :, 1:] = slopes[fitted]
