"""Customer grading: the value matrix over percentile scores, as tables."""

from __future__ import annotations

import numpy as np
import pytest

from maintenance.crm.grading import (
    GradeLetter,
    GradingConfig,
    OwnerFacts,
    depreciated_value,
    grade,
    percentile_scores,
    usage_trend,
)


def facts(
    owner_id: int,
    *,
    revenue: float = 0.0,
    size: int = 1,
    value: float = 0.0,
    years: float = 0.0,
    satisfaction: float | None = None,
    trend: float | None = None,
) -> OwnerFacts:
    return OwnerFacts(
        owner_id=owner_id,
        revenue_12m=revenue,
        fleet_size=size,
        fleet_value=value,
        relationship_years=years,
        satisfaction=satisfaction,
        usage_trend=trend,
    )


# Four owners, one in each corner of the value matrix.
MATRIX = [
    facts(1, revenue=90_000, size=12, value=2e6, years=14, satisfaction=4.8, trend=0.3),
    facts(2, revenue=2_000, size=1, value=5e4, years=12, satisfaction=4.6, trend=0.4),
    facts(3, revenue=80_000, size=10, value=1.5e6, years=1, satisfaction=2.1, trend=-0.5),
    facts(4, revenue=1_000, size=2, value=6e4, years=2, satisfaction=2.5, trend=-0.2),
]


@pytest.mark.parametrize(
    ("owners", "config", "expected"),
    [
        pytest.param(MATRIX, GradingConfig(), {1: "A", 2: "B", 3: "C", 4: "D"}, id="four-corners"),
        pytest.param([facts(7, revenue=10)], GradingConfig(), {7: "A"}, id="single-owner"),
        pytest.param(
            [facts(i, revenue=500, size=3, value=1e5, years=5) for i in range(1, 6)],
            GradingConfig(),
            dict.fromkeys(range(1, 6), "A"),
            id="all-equal-sit-at-the-cut-and-go-high",
        ),
        pytest.param(
            [facts(i, revenue=500, size=3, value=1e5, years=5) for i in range(1, 4)],
            GradingConfig(current_cut=0.6, future_cut=0.6),
            dict.fromkeys(range(1, 4), "D"),
            id="all-equal-below-a-raised-cut",
        ),
        pytest.param(
            [
                facts(1, revenue=100, size=4, value=400, years=10),
                facts(2, revenue=20, size=2, value=200, years=5, satisfaction=5.0),
                facts(3, revenue=10, size=1, value=100, years=1, satisfaction=1.0, trend=-1.0),
                facts(4, revenue=50, size=3, value=300, years=3),
            ],
            GradingConfig(),
            {1: "A", 2: "B", 3: "D", 4: "C"},
            id="missing-satisfaction-and-trend-are-neutral",
        ),
        pytest.param(
            # Owner 1 earns more, owner 2 owns the bigger fleet: the weights decide who is key.
            [
                facts(1, revenue=9_000, size=1, value=1e5),
                facts(2, revenue=1_000, size=9, value=9e5),
            ],
            GradingConfig(revenue_weight=1, fleet_size_weight=0, fleet_value_weight=0),
            {1: "A", 2: "B"},
            id="revenue-weighted",
        ),
        pytest.param(
            [
                facts(1, revenue=9_000, size=1, value=1e5),
                facts(2, revenue=1_000, size=9, value=9e5),
            ],
            GradingConfig(revenue_weight=0.2, fleet_size_weight=0.4, fleet_value_weight=0.4),
            {1: "B", 2: "A"},
            id="fleet-weighted",
        ),
        pytest.param([], GradingConfig(), {}, id="nobody"),
    ],
)
def test_grades_follow_the_value_matrix(
    owners: list[OwnerFacts], config: GradingConfig, expected: dict[int, str]
) -> None:
    assert {g.owner_id: str(g.grade) for g in grade(owners, config=config)} == expected


def test_a_grade_carries_its_scores_facts_and_config() -> None:
    (first, *_) = grade(MATRIX)
    assert first.grade is GradeLetter.A
    assert first.facts == MATRIX[0]
    assert first.scores.revenue == 1.0
    assert first.scores.fleet_size == 1.0
    assert first.current == 1.0
    assert 0.5 <= first.future <= 1.0
    assert first.config == GradingConfig()


def test_an_outlier_does_not_regrade_the_rest() -> None:
    """Ranks, not min-max: a huge customer moves nobody else's revenue score."""
    base = [facts(i, revenue=1_000 * i) for i in range(1, 6)]
    with_outlier = [*base[:-1], facts(5, revenue=10_000_000)]
    before = [g.scores.revenue for g in grade(base)]
    after = [g.scores.revenue for g in grade(with_outlier)]
    assert before == after


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0], [0.5]),
        ([1.0, 2.0, 3.0], [0.0, 0.5, 1.0]),
        ([5.0, 5.0, 5.0], [0.5, 0.5, 0.5]),
        ([1.0, 2.0, 2.0, 9.0], [0.0, 0.5, 0.5, 1.0]),
        ([np.nan, 1.0, 3.0], [0.5, 0.0, 1.0]),
        ([np.nan, np.nan], [0.5, 0.5]),
    ],
)
def test_percentile_scores_share_ties_and_leave_missing_neutral(
    values: list[float], expected: list[float]
) -> None:
    assert percentile_scores(np.array(values)).tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("recent", "previous", "expected"),
    [
        (100.0, 100.0, 0.0),
        (150.0, 100.0, 1 / 3),
        (50.0, 100.0, -0.5),
        (80.0, 0.0, 1.0),
        (0.0, 80.0, -1.0),
        (0.0, 0.0, None),
        (None, 10.0, None),
        (10.0, None, None),
    ],
)
def test_usage_trend_is_bounded_and_missing_without_both_periods(
    recent: float | None, previous: float | None, expected: float | None
) -> None:
    assert usage_trend(recent, previous) == (
        expected if expected is None else pytest.approx(expected)
    )


def test_depreciation_declines_by_age_down_to_the_floor() -> None:
    config = GradingConfig(depreciation_per_year=0.1, residual_floor=0.2)
    values = depreciated_value(
        np.array([100.0, 100.0, 100.0, 100.0]), np.array([0.0, 1.0, 2.0, 40.0]), config=config
    )
    assert values.tolist() == pytest.approx([100.0, 90.0, 81.0, 20.0])


@pytest.mark.parametrize(
    "bad",
    [
        {"revenue_weight": -1},
        {"revenue_weight": 0, "fleet_size_weight": 0, "fleet_value_weight": 0},
        {"relationship_weight": 0, "satisfaction_weight": 0, "trend_weight": 0},
        {"current_cut": 1.5},
        {"depreciation_per_year": 1.0},
    ],
)
def test_a_config_that_cannot_grade_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        GradingConfig(**bad)  # type: ignore[arg-type]
