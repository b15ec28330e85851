from __future__ import annotations

import pytest

from telemetry.batcher import Batcher


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_due_when_full() -> None:
    b: Batcher[int] = Batcher(max_items=3, max_wait_s=10, clock=Clock())
    for i in range(2):
        b.add(i)
    assert not b.due()
    b.add(2)
    assert b.due()
    assert b.take() == [0, 1, 2]
    assert len(b) == 0
    assert not b.due()


def test_due_when_oldest_item_has_waited() -> None:
    clock = Clock()
    b: Batcher[str] = Batcher(max_items=100, max_wait_s=0.2, clock=clock)
    b.add("a")
    clock.t = 0.1
    b.add("b")
    assert not b.due()
    assert b.wait_s() == pytest.approx(0.1)
    clock.t = 0.2
    assert b.due()
    assert b.take() == ["a", "b"]
    assert b.wait_s() == pytest.approx(0.2)


def test_empty_batcher_is_never_due() -> None:
    clock = Clock()
    b: Batcher[int] = Batcher(max_items=1, max_wait_s=0.1, clock=clock)
    clock.t = 100
    assert not b.due()


def test_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="max_items"):
        Batcher(max_items=0, max_wait_s=1, clock=Clock())


def test_extend_takes_one_read_at_once_and_starts_the_clock() -> None:
    clock = Clock()
    b: Batcher[int] = Batcher(max_items=3, max_wait_s=0.2, clock=clock)
    b.extend([])
    assert len(b) == 0
    assert b.wait_s() == 0.2
    b.extend([1, 2])
    clock.t = 0.1
    assert not b.due()
    assert b.wait_s() == pytest.approx(0.1)
    b.extend([3, 4, 5])  # one read may go past max_items; the batch is due at once
    assert b.due()
    assert b.take() == [1, 2, 3, 4, 5]
