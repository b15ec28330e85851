from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from telemetry.episodes import ActiveCode, Report, episodes

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
