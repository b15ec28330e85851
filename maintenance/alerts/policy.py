"""Delivery policy as pure functions: what each audience gets by default, quiet hours, the retry
schedule, and what an attempt's outcome does to its outbox row. No I/O; the shell is
maintenance.alerts.delivery.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maintenance.alerts.model import (
    AlertKind,
    Audience,
    Channel,
    Claimed,
    Failed,
    Outcome,
    QuietHours,
)
from maintenance.errors import Invalid
from maintenance.rules.model import Priority

# What each audience may subscribe to: the digest summarises one owner's machines, so it has no
# dealer audience.
AUDIENCE_KINDS: Final = {
    Audience.OWNER: tuple(AlertKind),
    Audience.DEALER: tuple(k for k in AlertKind if k is not AlertKind.DIGEST),
}
# Owners hear about their machine's problems and their end, services coming due and their daily
# digest; dealers about everything they may subscribe to, their own promises (SLA) included.
DEFAULT_KINDS: Final = {
    Audience.OWNER: (
        AlertKind.OPENED,
        AlertKind.ESCALATED,
        AlertKind.RESOLVED,
        AlertKind.SERVICE_DUE,
        AlertKind.DIGEST,
    ),
    Audience.DEALER: AUDIENCE_KINDS[Audience.DEALER],
}

# A critical ticket (a red-stop code: "stop the engine and call") is worth waking someone for;
# everything else waits for the end of the recipient's quiet hours.
QUIET_HOURS_BYPASS: Final = frozenset({Priority.CRITICAL})

# Retries: 30 s doubling to at most an hour, 10 attempts in all, about 3.5 h before a row is
# dead: long enough to ride out a receiver's deploy or an evening outage, short enough that a
# dead alert is still worth a person's look the same day.
BACKOFF_BASE_S: Final = 30.0
BACKOFF_CAP_S: Final = 3_600.0
MAX_ATTEMPTS: Final = 10
# A claim holds a row this long. It must exceed a whole batch's sends (BATCH x the channel
# timeout) or a slow worker's row is claimed again while it is still being sent.
LEASE: Final = timedelta(minutes=5)


def kinds_for(audience: Audience, wanted: Iterable[str] | None = None) -> list[AlertKind]:
    """The subscription's kinds: `wanted` checked against what the audience may have, or the
    audience's defaults."""
    if wanted is None:
        return list(DEFAULT_KINDS[audience])
    allowed = AUDIENCE_KINDS[audience]
    kinds: list[AlertKind] = []
    for name in wanted:
        kind = next((k for k in allowed if k == name.strip()), None)
        if kind is None:
            known = ", ".join(allowed)
            raise Invalid(f"unknown alert kind {name!r} for {audience}s; known: {known}")
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        raise Invalid("a subscription needs at least one alert kind")
    return kinds


# Longer than any real URL or address; the table's CHECK says the same.
MAX_TARGET_CHARS: Final = 2000


def check_target(channel: Channel, target: str) -> str:
    """The target stripped, if it is an http(s) URL with a host (webhook) or one plain address
    (e-mail); Invalid otherwise."""
    target = target.strip()
    shown = repr(target[:80])
    plain = len(target) <= MAX_TARGET_CHARS and not any(c.isspace() or ord(c) < 32 for c in target)
    if channel is Channel.WEBHOOK:
        try:
            url = urlsplit(target)
            scheme, host, _ = url.scheme, url.hostname, url.port  # a bad port raises here
        except ValueError:
            scheme, host = "", None
        if not plain or scheme not in ("http", "https") or not host:
            raise Invalid(
                "a webhook target is an http(s) URL with a host, without spaces or control"
                f" characters, got {shown}"
            )
        return target
    local, _, domain = target.partition("@")
    if not plain or not local or "@" in domain or "." not in domain.strip("."):
        raise Invalid(
            "not an e-mail address (one @, a dotted domain, no spaces or control characters):"
            f" {shown}"
        )
    return target


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r}") from None


def quiet_until(now: datetime, quiet: QuietHours | None) -> datetime | None:
    """The end of the quiet span `now` falls in (an aware instant), or None outside quiet hours.
    A wall-clock end that a DST change skips resolves with the offset before the change."""
    if quiet is None or quiet.start == quiet.end:
        return None
    tz = zone(quiet.timezone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        if not quiet.start <= t < quiet.end:
            return None
        end_day = local.date()
    elif t >= quiet.start:  # spans midnight, before it
        end_day = local.date() + timedelta(days=1)
    elif t < quiet.end:  # spans midnight, after it
        end_day = local.date()
    else:
        return None
    end = datetime.combine(end_day, quiet.end, tzinfo=tz)
    return end if end > now else None


def backoff(attempts: int, *, rng: random.Random) -> timedelta:
    """Delay after the `attempts`-th failed attempt: exponential, capped, with "equal jitter"
    (half fixed, half random) so receivers coming back up are not hit by every retry at once,
    yet no retry comes sooner than half its step."""
    step = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(attempts - 1, 0))
    return timedelta(seconds=step / 2 + rng.uniform(0.0, step / 2))


# What a deliverer does with a claimed row before sending.
@dataclass(frozen=True, slots=True)
class Send:
    pass


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime


@dataclass(frozen=True, slots=True)
class GiveUp:
    error: str


def before_send(
    row: Claimed, *, now: datetime, max_attempts: int = MAX_ATTEMPTS
) -> Send | Defer | GiveUp:
    """A row whose subscription was switched off since, or that has used its attempts (a worker
    died holding it on the last one), is not sent; one in its recipient's quiet hours waits for
    their end unless its priority bypasses them."""
    if not row.active:
        return GiveUp("subscription deactivated")
    if row.attempts > max_attempts:
        return GiveUp(f"no outcome recorded for attempt {row.attempts - 1} (worker lost)")
    if row.priority not in QUIET_HOURS_BYPASS:
        until = quiet_until(now, row.quiet)
        if until is not None:
            return Defer(until)
    return Send()


# What an attempt's outcome does to the row.
@dataclass(frozen=True, slots=True)
class Delivered:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class Dead:
    error: str


def after_attempt(
    outcome: Outcome,
    *,
    attempts: int,
    now: datetime,
    rng: random.Random,
    max_attempts: int = MAX_ATTEMPTS,
) -> Delivered | Retry | Dead:
    if not isinstance(outcome, Failed):
        return Delivered()
    if outcome.permanent:
        return Dead(outcome.error)
    if attempts >= max_attempts:
        return Dead(f"{outcome.error} (attempt {attempts} of {max_attempts})")
    delay = backoff(attempts, rng=rng)
    if outcome.retry_after_s is not None:
        delay = max(delay, timedelta(seconds=min(outcome.retry_after_s, BACKOFF_CAP_S)))
    return Retry(now + delay, outcome.error)


def parse_quiet(span: str, *, timezone: str) -> QuietHours:
    """'22:00-06:00' in an IANA time zone."""
    try:
        start_s, end_s = span.split("-")
        start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
    except ValueError:
        raise Invalid(f"quiet hours are HH:MM-HH:MM, got {span!r}") from None
    if start == end:
        raise Invalid(f"quiet hours {span!r} start and end at the same time")
    zone(timezone)
    return QuietHours(start=start, end=end, timezone=timezone)
