"""Customer grading A/B/C/D by the value matrix: current value against future value. Pure: values
in, grades out, numpy over the whole owner population at once.

The rule, exactly:

1. Six components per owner. Current value: parts and labour revenue of the last 12 months, fleet
   size (active machines), fleet value (purchase prices depreciated by age, `fleet_value`).
   Future value: relationship length in years, average satisfaction (1-5), usage trend (engine
   hours of the last 90 days against the 90 before, `usage_trend`, in [-1, 1]).
2. Each component becomes a score in [0, 1]: its percentile rank among the owners that have it
   (ties share their mean rank; a lone owner or an all-equal population scores 0.5). An owner
   without satisfaction or trend scores 0.5 there, the population's median: no evidence neither
   rewards nor punishes.
3. current = weighted mean of the current scores, future = weighted mean of the future scores,
   with the weights of `GradingConfig` (each group's weights are divided by their sum).
4. High means >= its cut (0.5 by default: above the population's middle). A = high current and
   high future (key), B = low current, high future (developing), C = high current, low future
   (selective), D = low and low (abandon).

Why percentile ranks rather than min-max: revenue and fleet value are heavy-tailed (one rental
fleet is worth thirty farms), so min-max would squash everyone but the largest customer towards 0
and a single outlier would regrade the whole population; ranks are scale-free, need no clipping
thresholds to tune, and make the cut read as "the better half of our customers". The price is that
grades are relative: they move when the population does, which suits a dealer deciding where its
own attention goes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

NEUTRAL_SCORE = 0.5  # a missing component sits at the population's median
CUT_TOLERANCE = 1e-9


class GradeLetter(enum.StrEnum):
    """A key, B developing, C selective, D abandon (owners.grade)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


@dataclass(frozen=True, slots=True)
class GradingConfig:
    """Weights (relative within their group) and the cuts between low and high, in [0, 1]."""

    revenue_weight: float = 0.5
    fleet_size_weight: float = 0.2
    fleet_value_weight: float = 0.3
    relationship_weight: float = 0.4
    satisfaction_weight: float = 0.35
    trend_weight: float = 0.25
    current_cut: float = 0.5
    future_cut: float = 0.5
    # Declining balance: agricultural and construction machines lose about 10-12 % a year after
    # the first; a floor keeps a 20-year-old machine worth its scrap and parts value.
    depreciation_per_year: float = 0.11
    residual_floor: float = 0.15

    def __post_init__(self) -> None:
        weights = (self.current_weights, self.future_weights)
        if any(w < 0 for group in weights for w in group) or any(sum(g) <= 0 for g in weights):
            raise ValueError("grading weights must be >= 0 with a positive sum in each group")
        if not (0 <= self.current_cut <= 1 and 0 <= self.future_cut <= 1):
            raise ValueError("grading cuts must lie in [0, 1]")
        if not (0 <= self.depreciation_per_year < 1 and 0 <= self.residual_floor <= 1):
            raise ValueError("depreciation must lie in [0, 1) and the residual floor in [0, 1]")

    @property
    def current_weights(self) -> tuple[float, float, float]:
        return (self.revenue_weight, self.fleet_size_weight, self.fleet_value_weight)

    @property
    def future_weights(self) -> tuple[float, float, float]:
        return (self.relationship_weight, self.satisfaction_weight, self.trend_weight)


DEFAULT_CONFIG: Final = GradingConfig()


@dataclass(frozen=True, slots=True)
class OwnerFacts:
    """The grading inputs of one owner, as gathered from the records."""

    owner_id: int
    revenue_12m: float
    fleet_size: int
    fleet_value: float
    relationship_years: float
    satisfaction: float | None = None
    usage_trend: float | None = None


@dataclass(frozen=True, slots=True)
class Scores:
    """Percentile scores in [0, 1] of each component (0.5 where the input is missing)."""

    revenue: float
    fleet_size: float
    fleet_value: float
    relationship: float
    satisfaction: float
    trend: float


@dataclass(frozen=True, slots=True)
class Grade:
    """An owner's grade with what made it: stored as owners.grade_detail."""

    owner_id: int
    grade: GradeLetter
    current: float
    future: float
    scores: Scores
    facts: OwnerFacts
    config: GradingConfig = field(default_factory=GradingConfig)


def percentile_scores(values: Floats) -> Floats:
    """Mid-rank percentiles in [0, 1] of the finite values; NaN (missing) scores NEUTRAL_SCORE.

    Ties share their mean rank, so an all-equal population (or a single value) scores 0.5."""
    out = np.full(values.shape, NEUTRAL_SCORE)
    present = ~np.isnan(values)
    x = values[present]
    n = x.size
    if n > 1:
        ordered = np.sort(x)
        below = np.searchsorted(ordered, x, side="left")
        at_or_below = np.searchsorted(ordered, x, side="right")
        out[present] = (below + (at_or_below - below - 1) / 2) / (n - 1)
    return out


def depreciated_value(
    price: Floats, age_years: Floats, *, config: GradingConfig = DEFAULT_CONFIG
) -> Floats:
    """Purchase price after declining-balance depreciation, never below the residual floor."""
    factor = np.maximum(
        (1 - config.depreciation_per_year) ** np.maximum(age_years, 0.0), config.residual_floor
    )
    result: Floats = price * factor
    return result


def usage_trend(recent_h: float | None, previous_h: float | None) -> float | None:
    """(recent - previous) / max(recent, previous), in [-1, 1]: +1 a fleet that started working,
    -1 one that stopped, 0 steady. None without both periods or when neither saw any work."""
    if recent_h is None or previous_h is None:
        return None
    top = max(recent_h, previous_h)
    return None if top <= 0 else (recent_h - previous_h) / top


def _weighted(scores: Floats, weights: tuple[float, float, float]) -> Floats:
    w = np.asarray(weights, dtype=np.float64)
    result: Floats = scores @ (w / w.sum())
    return result


def grade(owners: Sequence[OwnerFacts], *, config: GradingConfig = DEFAULT_CONFIG) -> list[Grade]:
    """Grades every owner against the others (see the module docstring for the rule)."""
    if not owners:
        return []

    def column(values: list[float | None]) -> Floats:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    raw = np.stack(
        [
            column([o.revenue_12m for o in owners]),
            column([float(o.fleet_size) for o in owners]),
            column([o.fleet_value for o in owners]),
            column([o.relationship_years for o in owners]),
            column([o.satisfaction for o in owners]),
            column([o.usage_trend for o in owners]),
        ],
        axis=1,
    )
    scores = np.stack([percentile_scores(raw[:, j]) for j in range(raw.shape[1])], axis=1)
    current = _weighted(scores[:, :3], config.current_weights)
    future = _weighted(scores[:, 3:], config.future_weights)
    # The tolerance keeps an owner exactly at the cut high whatever rounding the weights bring.
    high_current = current >= config.current_cut - CUT_TOLERANCE
    high_future = future >= config.future_cut - CUT_TOLERANCE
    letters = np.where(
        high_future, np.where(high_current, "A", "B"), np.where(high_current, "C", "D")
    )
    return [
        Grade(
            owner_id=o.owner_id,
            grade=GradeLetter(str(letters[i])),
            current=round(float(current[i]), 4),
            future=round(float(future[i]), 4),
            scores=Scores(*(round(float(s), 4) for s in scores[i])),
            facts=o,
            config=config,
        )
        for i, o in enumerate(owners)
    ]
