from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest

from maintenance.alerts import policy
from maintenance.alerts.model import (
    AlertKind,
    Audience,
    Channel,
    Claimed,
    Failed,
    QuietHours,
    Sent,
)
from maintenance.errors import Invalid
from maintenance.rules.model import Priority

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NIGHT_BERLIN = QuietHours(time(22, 0), time(6, 0), "Europe/Berlin")


def claimed(
    *,
    priority: Priority = Priority.NORMAL,
    attempts: int = 1,
    quiet: QuietHours | None = None,
    active: bool = True,
) -> Claimed:
    return Claimed(
        id=1,
        idempotency_key=UUID(int=1),
        kind=AlertKind.OPENED,
        priority=priority,
        payload={},
        attempts=attempts,
        created_at=NOW,
        channel=Channel.WEBHOOK,
        target="http://127.0.0.1/hook",
        secret="s" * 16,
        quiet=quiet,
        active=active,
    )


def test_owners_get_their_problems_services_and_digest_by_default_and_dealers_all_but_digest() -> (
    None
):
    assert policy.kinds_for(Audience.OWNER) == [
        AlertKind.OPENED,
        AlertKind.ESCALATED,
        AlertKind.RESOLVED,
        AlertKind.SERVICE_DUE,
        AlertKind.DIGEST,
    ]
    assert policy.kinds_for(Audience.DEALER) == [k for k in AlertKind if k is not AlertKind.DIGEST]


def test_a_dealer_cannot_subscribe_to_the_owners_digest() -> None:
    with pytest.raises(Invalid, match="unknown alert kind 'digest' for dealers"):
        policy.kinds_for(Audience.DEALER, ["service_due", "digest"])
    assert policy.kinds_for(Audience.OWNER, ["digest"]) == [AlertKind.DIGEST]


def test_wanted_kinds_are_checked_and_deduplicated() -> None:
    assert policy.kinds_for(Audience.OWNER, ["sla_breached", "opened", "opened"]) == [
        AlertKind.SLA_BREACHED,
        AlertKind.OPENED,
    ]
    with pytest.raises(Invalid, match="unknown alert kind 'assigned' for owners"):
        policy.kinds_for(Audience.OWNER, ["assigned"])
    with pytest.raises(Invalid, match="at least one"):
        policy.kinds_for(Audience.OWNER, [])


@pytest.mark.parametrize(
    ("utc", "until_utc"),
    [
        # Berlin is UTC+1 in November: quiet from 21:00 to 05:00 UTC.
        (datetime(2026, 11, 23, 20, 59, tzinfo=UTC), None),
        (datetime(2026, 11, 23, 21, 0, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 24, 4, 59, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), None),
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_across_midnight_end_at_the_local_end_time(
    utc: datetime, until_utc: datetime | None
) -> None:
    assert policy.quiet_until(utc, NIGHT_BERLIN) == until_utc


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0), "UTC")
    assert policy.quiet_until(datetime(2026, 1, 1, 12, 30, tzinfo=UTC), lunch) == datetime(
        2026, 1, 1, 13, 0, tzinfo=UTC
    )
    assert policy.quiet_until(datetime(2026, 1, 1, 13, 0, tzinfo=UTC), lunch) is None
    assert policy.quiet_until(datetime(2026, 1, 1, 11, 59, tzinfo=UTC), lunch) is None


def test_quiet_hours_follow_daylight_saving_time() -> None:
    # Summer: Berlin is UTC+2, so the night ends at 04:00 UTC, not 05:00.
    summer = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    assert policy.quiet_until(summer, NIGHT_BERLIN) == datetime(2026, 7, 2, 4, 0, tzinfo=UTC)
    # The night the clocks go back (25 October 2026, 03:00 CEST -> 02:00 CET): 06:00 is CET.
    autumn = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert policy.quiet_until(autumn, NIGHT_BERLIN) == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)


def test_no_quiet_hours_means_never_quiet() -> None:
    assert policy.quiet_until(NOW, None) is None


def test_quiet_hours_are_parsed_with_a_known_zone() -> None:
    assert policy.parse_quiet("22:00-06:00", timezone="Europe/Berlin") == NIGHT_BERLIN
    with pytest.raises(Invalid, match="HH:MM-HH:MM"):
        policy.parse_quiet("22:00", timezone="UTC")
    with pytest.raises(Invalid, match="same time"):
        policy.parse_quiet("06:00-06:00", timezone="UTC")
    with pytest.raises(Invalid, match="unknown time zone"):
        policy.parse_quiet("22:00-06:00", timezone="Mars/Olympus")


def test_backoff_doubles_from_30_s_to_an_hour_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(7)
    for attempts, step_s in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)]:
        for _ in range(50):
            delay = policy.backoff(attempts, rng=rng).total_seconds()
            assert step_s / 2 <= delay <= step_s


def test_backoff_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = {policy.backoff(5, rng=rng) for _ in range(20)}
    assert len(delays) == 20


def test_a_sent_attempt_is_delivered() -> None:
    step = policy.after_attempt(Sent(), attempts=3, now=NOW, rng=random.Random(0))
    assert step == policy.Delivered()


def test_a_transient_failure_is_retried_later_until_the_last_attempt() -> None:
    rng = random.Random(0)
    step = policy.after_attempt(Failed("HTTP 500"), attempts=1, now=NOW, rng=rng)
    assert isinstance(step, policy.Retry)
    assert NOW + timedelta(seconds=15) <= step.at <= NOW + timedelta(seconds=30)
    last = policy.after_attempt(Failed("HTTP 500"), attempts=policy.MAX_ATTEMPTS, now=NOW, rng=rng)
    assert last == policy.Dead(f"HTTP 500 (attempt {policy.MAX_ATTEMPTS} of 10)")


def test_a_permanent_failure_is_dead_at_once() -> None:
    step = policy.after_attempt(
        Failed("HTTP 401", permanent=True), attempts=1, now=NOW, rng=random.Random(0)
    )
    assert step == policy.Dead("HTTP 401")


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    step = policy.after_attempt(
        Failed("HTTP 429", retry_after_s=600), attempts=1, now=NOW, rng=random.Random(0)
    )
    assert step == policy.Retry(NOW + timedelta(seconds=600), "HTTP 429")


def test_quiet_hours_defer_all_but_critical() -> None:
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    morning = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    normal = claimed(quiet=NIGHT_BERLIN)
    critical = claimed(quiet=NIGHT_BERLIN, priority=Priority.CRITICAL)
    assert policy.before_send(normal, now=night) == policy.Defer(morning)
    assert policy.before_send(critical, now=night) == policy.Send()
    assert policy.before_send(normal, now=morning) == policy.Send()


def test_rows_of_switched_off_subscriptions_or_lost_workers_are_given_up() -> None:
    assert policy.before_send(claimed(active=False), now=NOW) == policy.GiveUp(
        "subscription deactivated"
    )
    lost = policy.before_send(claimed(attempts=policy.MAX_ATTEMPTS + 1), now=NOW)
    assert isinstance(lost, policy.GiveUp)
    assert "worker lost" in lost.error
    assert policy.before_send(claimed(attempts=policy.MAX_ATTEMPTS), now=NOW) == policy.Send()


@pytest.mark.parametrize(
    ("channel", "target", "ok"),
    [
        (Channel.WEBHOOK, " https://farm.example/hook?x=1 ", True),
        (Channel.WEBHOOK, "http://127.0.0.1:8080/hook", True),
        (Channel.WEBHOOK, "ftp://farm.example/hook", False),
        (Channel.WEBHOOK, "https://", False),
        (Channel.WEBHOOK, "https://farm.example:99999/", False),  # port out of range
        (Channel.WEBHOOK, "http://[::1/", False),
        (Channel.WEBHOOK, "https://farm.example/a b", False),
        (Channel.WEBHOOK, "https://farm.example/" + "a" * 2000, False),
        (Channel.EMAIL, "owner@farm.example", True),
        (Channel.EMAIL, "owner@farm", False),
        (Channel.EMAIL, "owner@.example", False),
        (Channel.EMAIL, "a@b@farm.example", False),
        (Channel.EMAIL, "@farm.example", False),
        (Channel.EMAIL, "owner@farm.example\x00", False),
    ],
)
def test_targets_are_urls_with_a_host_or_one_plain_address(
    channel: Channel, target: str, ok: bool
) -> None:
    if ok:
        assert policy.check_target(channel, target) == target.strip()
    else:
        with pytest.raises(Invalid, match=r"webhook target|e-mail address"):
            policy.check_target(channel, target)
