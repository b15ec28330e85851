from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maintenance.rules.model import Priority
from maintenance.tickets.sla import SlaStep, SlaTicket, due_actions, near_from, step, step_one_up

OPENED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = OPENED + timedelta(hours=72)  # a normal ticket's window


def ticket(
    *,
    ticket_id: int = 1,
    priority: Priority = Priority.NORMAL,
    near_sent: bool = False,
    breached_sent: bool = False,
) -> SlaTicket:
    return SlaTicket(
        id=ticket_id,
        priority=priority,
        opened_at=OPENED,
        sla_due_at=DUE,
        near_sent=near_sent,
        breached_sent=breached_sent,
    )


@pytest.mark.parametrize(
    ("hours_after_opening", "near_sent", "breached_sent", "expected"),
    [
        (0, False, False, None),
        (53.9, False, False, None),  # 25 % of 72 h is 18 h: near from 54 h
        (54, False, False, SlaStep.NEAR),
        (71, False, False, SlaStep.NEAR),
        (71, True, False, None),  # near once
        (72, False, False, SlaStep.NEAR),  # at the deadline it is not yet past
        (72.01, False, False, SlaStep.BREACHED),  # first seen late: only the breach
        (73, True, False, SlaStep.BREACHED),
        (73, True, True, None),  # breached once
        (500, False, True, None),
    ],
)
def test_the_step_due_depends_on_the_time_left_and_what_was_sent(
    hours_after_opening: float, near_sent: bool, breached_sent: bool, expected: SlaStep | None
) -> None:
    now = OPENED + timedelta(hours=hours_after_opening)
    t = ticket(near_sent=near_sent, breached_sent=breached_sent)
    assert step(t, now=now, near_fraction=0.25) is expected


def test_the_margin_is_a_share_of_each_ticket_own_window() -> None:
    assert near_from(ticket(), near_fraction=0.25) == DUE - timedelta(hours=18)
    assert near_from(ticket(), near_fraction=0.5) == DUE - timedelta(hours=36)


def test_a_deadline_before_the_opening_has_no_near_window() -> None:
    t = SlaTicket(1, Priority.HIGH, OPENED, OPENED - timedelta(hours=1), False, False)
    assert near_from(t, near_fraction=0.25) == t.sla_due_at


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (Priority.LOW, Priority.NORMAL),
        (Priority.NORMAL, Priority.HIGH),
        (Priority.HIGH, Priority.CRITICAL),
        (Priority.CRITICAL, None),
    ],
)
def test_a_breach_raises_one_step_up_the_ladder(
    priority: Priority, expected: Priority | None
) -> None:
    assert step_one_up(priority) is expected


def test_actions_carry_the_step_time_left_and_the_raise_in_ticket_order() -> None:
    now = OPENED + timedelta(hours=60)
    late = SlaTicket(
        2, Priority.CRITICAL, OPENED - timedelta(hours=5), OPENED - timedelta(hours=1), False, False
    )
    actions = due_actions(
        [ticket(ticket_id=3), late, ticket(ticket_id=1, near_sent=True)],
        now=now,
        near_fraction=0.25,
    )
    assert [(a.ticket_id, a.step, a.remaining_s, a.raise_to) for a in actions] == [
        (2, SlaStep.BREACHED, -61 * 3600, None),
        (3, SlaStep.NEAR, 12 * 3600, None),
    ]


def test_a_breached_normal_ticket_is_raised_to_high() -> None:
    [action] = due_actions([ticket()], now=DUE + timedelta(minutes=1), near_fraction=0.25)
    assert (action.step, action.priority, action.raise_to) == (
        SlaStep.BREACHED,
        Priority.NORMAL,
        Priority.HIGH,
    )


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_a_margin_outside_zero_to_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="near_fraction"):
        due_actions([ticket()], now=OPENED, near_fraction=fraction)
