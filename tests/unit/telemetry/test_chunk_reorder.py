"""Which chunks the reorder job picks: finished and settled, not yet rewritten or grown since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.chunk_reorder import Chunk, due

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
SETTLE = timedelta(hours=2)


def chunk(day: int, *, hypertable: str = "readings", heap_bytes: int = 8192) -> Chunk:
    start = DAY0 + timedelta(days=day)
    return Chunk(
        schema="_timescaledb_internal",
        name=f"_hyper_1_{day + 1}_chunk" if hypertable == "readings" else f"_hyper_2_{day}_chunk",
        hypertable=hypertable,
        range_start=start,
        range_end=start + timedelta(days=1),
        heap_bytes=heap_bytes,
    )


def pick(chunks: list[Chunk], done: dict[str, int], *, now: datetime, most: int = 10) -> list[int]:
    picked = due(chunks, done, now=now, max_chunks=most, settle=SETTLE, regrowth=0.2)
    return [(c.range_start - DAY0).days for c in picked]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DAY0 + timedelta(days=3, hours=1), [0, 1]),  # day 2 ended an hour ago: still settling
        (DAY0 + timedelta(days=3, hours=2), [0, 1, 2]),  # exactly settled
        (DAY0 + timedelta(hours=12), []),  # nothing has ended
    ],
)
def test_only_chunks_settled_after_their_range_ended_are_due(
    now: datetime, expected: list[int]
) -> None:
    assert pick([chunk(d) for d in range(4)], {}, now=now) == expected


def test_a_rewritten_chunk_is_not_due_again() -> None:
    chunks = [chunk(d) for d in range(3)]
    done = {chunks[1].qualified: chunks[1].heap_bytes}
    assert pick(chunks, done, now=DAY0 + timedelta(days=10)) == [0, 2]


@pytest.mark.parametrize(("grown_to", "again"), [(12_000, True), (9_000, False), (8192, False)])
def test_a_rewritten_chunk_is_due_again_once_late_rows_grew_it_past_the_margin(
    grown_to: int, again: bool
) -> None:
    grown = chunk(0, heap_bytes=grown_to)
    done = {grown.qualified: 8192}
    assert pick([grown], done, now=DAY0 + timedelta(days=10)) == ([0] if again else [])


def test_oldest_first_and_bounded_per_run() -> None:
    chunks = [chunk(d) for d in (4, 1, 3, 0, 2)]
    assert pick(chunks, {}, now=DAY0 + timedelta(days=10), most=3) == [0, 1, 2]


def test_hypertables_share_one_oldest_first_order() -> None:
    faults = chunk(1, hypertable="faults")
    picked = due([chunk(2), faults, chunk(0)], {}, now=DAY0 + timedelta(days=10), max_chunks=2)
    assert [(c.hypertable, c.range_start) for c in picked] == [
        ("readings", DAY0),
        ("faults", DAY0 + timedelta(days=1)),
    ]


def test_a_non_positive_limit_picks_nothing() -> None:
    assert pick([chunk(0)], {}, now=DAY0 + timedelta(days=10), most=0) == []
