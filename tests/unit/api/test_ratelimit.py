"""Token-bucket maths and the in-process limiter, on a clock the test moves by hand."""

from __future__ import annotations

import threading

import pytest

from api.ratelimit import Bucket, Decision, Limit, RateLimiter, take


class FakeClock:
    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def run(limit: Limit, times_s: list[float]) -> list[Decision]:
    bucket: Bucket | None = None
    decisions = []
    for now_s in times_s:
        bucket, decision = take(bucket, limit, now_s=now_s)
        decisions.append(decision)
    return decisions


def test_a_new_key_gets_its_whole_burst_at_once_then_is_refused() -> None:
    decisions = run(Limit(rate_per_s=1.0, burst=3), [0.0, 0.0, 0.0, 0.0])
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after_s == 1


def test_tokens_come_back_at_the_rate() -> None:
    # burst 2 spent at t=0; at 2 tokens/s one is back after 0.5 s, the next after another 0.5 s.
    decisions = run(Limit(rate_per_s=2.0, burst=2), [0.0, 0.0, 0.4, 0.5, 0.6, 1.0])
    assert [d.allowed for d in decisions] == [True, True, False, True, False, True]


def test_refill_never_exceeds_the_burst() -> None:
    decisions = run(Limit(rate_per_s=5.0, burst=2), [0.0, 3600.0, 3600.0, 3600.0])
    assert [d.allowed for d in decisions] == [True, True, True, False]


@pytest.mark.parametrize(
    ("rate_per_s", "elapsed_s", "retry_after_s"),
    [
        (0.1, 0.0, 10),  # one token every 10 s
        (0.1, 2.5, 8),  # 7.5 s left rounds up: retrying earlier would be refused again
        (0.1, 9.5, 1),  # 0.5 s left is still at least 1 (Retry-After is whole seconds)
        (100.0, 0.0, 1),
        (1 / 3, 0.0, 3),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    rate_per_s: float, elapsed_s: float, retry_after_s: int
) -> None:
    limit = Limit(rate_per_s=rate_per_s, burst=1)
    decisions = run(limit, [0.0, elapsed_s])
    assert decisions[1] == Decision(allowed=False, remaining=0, retry_after_s=retry_after_s)


def test_waiting_retry_after_is_enough() -> None:
    limit = Limit(rate_per_s=0.3, burst=1)
    bucket, _ = take(None, limit, now_s=0.0)
    bucket, refused = take(bucket, limit, now_s=1.0)
    assert not refused.allowed
    _, retried = take(bucket, limit, now_s=1.0 + refused.retry_after_s)
    assert retried.allowed


def test_refused_requests_do_not_spend_tokens() -> None:
    # Hammering an empty bucket must not push the next allowed request further away.
    limit = Limit(rate_per_s=1.0, burst=1)
    times = [0.0, 0.1, 0.2, 0.3, 0.9, 1.0]
    assert [d.allowed for d in run(limit, times)] == [True, False, False, False, False, True]


def test_a_clock_stepping_back_mints_no_tokens() -> None:
    limit = Limit(rate_per_s=1.0, burst=1)
    bucket, _ = take(None, limit, now_s=100.0)
    bucket, back = take(bucket, limit, now_s=50.0)
    assert not back.allowed
    # Time counts again from the reading it stepped back to.
    _, later = take(bucket, limit, now_s=51.0)
    assert later.allowed


def test_a_lowered_burst_caps_a_full_bucket() -> None:
    bucket, _ = take(None, Limit(rate_per_s=1.0, burst=10), now_s=0.0)
    _, decision = take(bucket, Limit(rate_per_s=1.0, burst=2), now_s=0.0)
    assert decision.remaining == 1


@pytest.mark.parametrize(
    ("rate_per_s", "burst"),
    [(0.0, 1), (-1.0, 1), (float("nan"), 1), (float("inf"), 1), (1.0, 0)],
)
def test_limits_must_be_positive(rate_per_s: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        Limit(rate_per_s=rate_per_s, burst=burst)


def test_limiter_keeps_one_bucket_per_key() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(rate_per_s=1.0, burst=1)
    assert limiter.acquire(1, limit).allowed
    assert not limiter.acquire(1, limit).allowed
    assert limiter.acquire(2, limit).allowed  # another key has its own bucket
    clock.advance(1.0)
    assert limiter.acquire(1, limit).allowed


def test_limiter_grants_exactly_the_burst_to_concurrent_callers() -> None:
    limiter = RateLimiter(clock=FakeClock())
    limit = Limit(rate_per_s=0.001, burst=50)
    results: list[bool] = []
    lock = threading.Lock()

    def hit() -> None:
        for _ in range(20):
            allowed = limiter.acquire(7, limit).allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160
    assert results.count(True) == 50


def test_limiter_applies_its_default_to_keys_without_their_own() -> None:
    limiter = RateLimiter(default=Limit(rate_per_s=1.0, burst=1), clock=FakeClock())
    assert limiter.acquire(1).allowed
    assert not limiter.acquire(1).allowed
    own = Limit(rate_per_s=1.0, burst=3)
    assert [limiter.acquire(2, own).allowed for _ in range(4)] == [True, True, True, False]
