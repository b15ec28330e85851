from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.episodes import ActiveCode, Report, episodes, rebuild_start

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def report(seq: int, minutes: int, *codes: tuple[int, int, int, str]) -> Report:
    return Report(T0 + timedelta(minutes=minutes), seq, [ActiveCode(*c) for c in codes])


REPORTS = [
    report(1, 0, (110, 16, 1, "amber")),
    report(2, 5, (110, 16, 1, "amber"), (110, 0, 1, "red")),
    report(3, 9, (110, 16, 1, "red")),
    report(4, 15),
    report(5, 30, (637, 2, 1, "amber")),
]


def test_a_code_is_active_from_its_first_listing_until_a_report_without_it() -> None:
    got = [(e.spn, e.fmi, e.onset, e.cleared, e.reports) for e in episodes(REPORTS)]
    assert got == [
        (110, 16, T0, T0 + timedelta(minutes=15), 3),
        (110, 0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=9), 1),
        (637, 2, T0 + timedelta(minutes=30), None, 1),
    ]


def test_an_episode_keeps_its_most_severe_lamp_and_highest_occurrence_count() -> None:
    first = episodes(REPORTS)[0]
    assert first.lamp == "red"
    assert first.last_seen == T0 + timedelta(minutes=9)


def test_the_order_reports_arrive_in_does_not_matter() -> None:
    expected = episodes(REPORTS)
    for perm in itertools.permutations(REPORTS):
        assert episodes(perm) == expected


def test_two_reports_at_the_same_time_are_ordered_by_seq() -> None:
    same = [report(8, 0), report(7, 0, (97, 16, 1, "amber"))]
    (only,) = episodes(same)
    assert only.cleared == T0  # seq 7 listed it, seq 8 (same ts) did not


def test_the_rebuild_starts_at_the_onset_of_an_episode_open_across_the_new_reports() -> None:
    spans = [(e.onset, e.cleared) for e in episodes(REPORTS)]
    # 110/16 ran from 0 to 15 min: a report at 12 min can change it; 637/2 began after.
    assert rebuild_start(spans, T0 + timedelta(minutes=12)) == T0
    # Nothing was active at 20 min (cleared at 15, next onset at 30).
    assert rebuild_start(spans, T0 + timedelta(minutes=20)) == T0 + timedelta(minutes=20)
    # Chained: 110/0 (5-9 min) spans 7 min, and 110/16 spans its onset at 5 min.
    assert rebuild_start(spans, T0 + timedelta(minutes=7)) == T0


CODES = [(110, 16), (110, 0), (637, 2)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Report], list[Report]]:
    """A machine's reports at whole minutes (ties included), split into those stored before and
    those of a new batch, whose times may fall anywhere (late, out of order)."""
    n = draw(st.integers(1, 14))
    reports = [
        Report(
            T0 + timedelta(minutes=draw(st.integers(0, 20))),
            seq,
            [ActiveCode(spn, fmi, 1, "amber") for spn, fmi in CODES if draw(st.booleans())],
        )
        for seq in range(n)
    ]
    new = draw(st.sets(st.integers(0, n - 1), min_size=1))
    return [r for i, r in enumerate(reports) if i not in new], [reports[i] for i in sorted(new)]


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(history=histories())
def test_rebuilding_from_the_start_gives_the_episodes_of_the_whole_history(
    history: tuple[list[Report], list[Report]],
) -> None:
    old, new = history
    stored = episodes(old)
    start = rebuild_start([(e.onset, e.cleared) for e in stored], min(r.ts for r in new))
    kept = [e for e in stored if e.onset < start]
    rebuilt = episodes([r for r in old + new if r.ts >= start])
    assert sorted(kept + rebuilt, key=lambda e: (e.onset, e.spn, e.fmi)) == episodes(old + new)
