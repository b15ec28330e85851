"""Which forecast services get a service-due alert: inside the window, once per due point."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from maintenance.alerts.due_window import DueKey, MachineDue, due_alerts, due_key
from maintenance.forecast.service_due import ServiceDue

TODAY = date(2026, 12, 7)


def service(
    *, rule_key: str = "svc-500h", due_at_h: float | None = 500.0, in_days: int | None = 5
) -> ServiceDue:
    expected = TODAY + timedelta(days=in_days) if in_days is not None else None
    return ServiceDue(
        rule_key=rule_key,
        title="500-hour service",
        every_h=500.0,
        lead_h=25.0,
        last_service_h=None,
        due_at_h=due_at_h,
        hours_left=20.0 if due_at_h is not None else None,
        expected=expected,
        earliest=expected - timedelta(days=2) if expected else None,
        latest=expected + timedelta(days=3) if expected else None,
        reason=None if expected else "parked",
    )


def machine(
    *services: ServiceDue, machine_id: int = 1, open_rules: frozenset[str] = frozenset()
) -> MachineDue:
    return MachineDue(
        machine_id=machine_id,
        today=TODAY,
        engine_hours=480.0,
        hours_per_week=28.0,
        services=services,
        open_ticket_rules=open_rules,
    )


@pytest.mark.parametrize(
    ("in_days", "alerted"),
    [
        (0, True),  # due today (or overdue: the forecast says today)
        (7, True),  # the window's last day
        (8, False),  # a day beyond it
        (None, False),  # no date (parked, no rate): nothing to say
    ],
)
def test_a_service_is_alerted_when_expected_within_the_lead_days(
    in_days: int | None, alerted: bool
) -> None:
    picks = due_alerts([machine(service(in_days=in_days))], lead_days=7, alerted=set())
    assert [p.key for p in picks] == ([DueKey(1, "svc-500h", 500.0)] if alerted else [])


def test_an_alerted_due_point_is_not_alerted_again_but_the_next_interval_is() -> None:
    done = {due_key(1, "svc-500h", 500.04)}
    assert due_alerts([machine(service())], lead_days=7, alerted=done) == []
    [pick] = due_alerts([machine(service(due_at_h=1000.0))], lead_days=7, alerted=done)
    assert pick.key == DueKey(1, "svc-500h", 1000.0)


def test_a_rule_with_a_live_service_ticket_is_left_to_the_tickets_own_alert() -> None:
    m = machine(
        service(rule_key="svc-250h"),
        service(rule_key="svc-500h"),
        open_rules=frozenset({"svc-250h"}),
    )
    assert [p.key.rule_key for p in due_alerts([m], lead_days=7, alerted=set())] == ["svc-500h"]


def test_the_alert_carries_the_forecast_hours_and_dates() -> None:
    [pick] = due_alerts([machine(service(in_days=3))], lead_days=7, alerted=set())
    assert (pick.engine_hours, pick.hours_per_week) == (480.0, 28.0)
    assert (pick.expected, pick.earliest) == (TODAY + timedelta(days=3), TODAY + timedelta(days=1))


def test_machines_and_rules_come_in_a_stable_order_and_the_day_is_each_machines_own() -> None:
    late = MachineDue(2, TODAY - timedelta(days=1), 480.0, 28.0, (service(in_days=7),))
    picks = due_alerts(
        [late, machine(service(rule_key="b"), service(rule_key="a"))], lead_days=6, alerted=set()
    )
    # Machine 2's day is yesterday: TODAY + 7 is 8 days from it, outside a 6-day window.
    assert [(p.key.machine_id, p.key.rule_key) for p in picks] == [(1, "a"), (1, "b")]


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="lead_days"):
        due_alerts([], lead_days=-1, alerted=set())
