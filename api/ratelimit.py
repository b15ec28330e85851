"""Per-key token buckets: pure bucket maths (`take`) and an in-process `RateLimiter`.

A bucket holds at most `burst` tokens and refills at `rate_per_s`; each request takes one. An empty
bucket answers with the whole seconds until one token is back (`Retry-After`, at least 1).

The limiter keeps its buckets in this process's memory, which is right for one API process. With
several processes (uvicorn workers, replicas behind a balancer) each would grant the full rate, so
a key would get N times its limit: they would need a shared store doing the same arithmetic
atomically, e.g. a Redis script or an `UPDATE api_key_buckets ... RETURNING` per request in
PostgreSQL, or sticky routing of each key to one process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# Defaults for a key without its own limits: a dashboard polling a few lists a second stays well
# inside, a runaway script is slowed to 10 requests/s after a burst of 50.
DEFAULT_RATE_PER_S: Final = 10.0
DEFAULT_BURST: Final = 50


@dataclass(frozen=True, slots=True)
class Limit:
    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)):
            raise ValueError(f"rate_per_s must be a positive number, not {self.rate_per_s!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, not {self.burst!r}")


DEFAULT_LIMIT: Final = Limit(DEFAULT_RATE_PER_S, DEFAULT_BURST)


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_s: float  # clock reading at the last take


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left after this request
    retry_after_s: int  # 0 when allowed, else >= 1


def take(bucket: Bucket | None, limit: Limit, *, now_s: float) -> tuple[Bucket, Decision]:
    """One request against `bucket` at clock reading `now_s`; a new key starts with a full bucket.

    A clock that steps back refills nothing (elapsed time counts as 0), so it cannot mint tokens;
    a lowered burst caps the tokens at the next take."""
    if bucket is None:
        tokens = float(limit.burst)
    else:
        elapsed_s = max(0.0, now_s - bucket.updated_s)
        tokens = min(float(limit.burst), bucket.tokens + elapsed_s * limit.rate_per_s)
    if tokens >= 1.0:
        tokens -= 1.0
        return Bucket(tokens, now_s), Decision(True, int(tokens), 0)
    wait_s = (1.0 - tokens) / limit.rate_per_s
    return Bucket(tokens, now_s), Decision(False, 0, max(1, math.ceil(wait_s)))


class RateLimiter:
    """Thread-safe buckets by key id for one process (see the module docstring for several).

    Only authenticated keys reach it, so the table holds at most one bucket per live key.
    `default` applies to keys without a limit of their own."""

    def __init__(
        self, *, default: Limit = DEFAULT_LIMIT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.default = default
        self._clock = clock
        self._buckets: dict[int, Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: int, limit: Limit | None = None) -> Decision:
        limit = limit or self.default
        with self._lock:
            bucket, decision = take(self._buckets.get(key_id), limit, now_s=self._clock())
            self._buckets[key_id] = bucket
        return decision
