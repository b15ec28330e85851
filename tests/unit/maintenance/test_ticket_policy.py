from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maintenance.crm.grading import GradeLetter
from maintenance.errors import InvalidTransition
from maintenance.rules.model import Priority
from maintenance.tickets.model import Status
from maintenance.tickets.policy import (
    TRANSITIONS,
    Candidate,
    Skill,
    check_transition,
    pick_technician,
    priority,
    required_skills,
    sla_due,
)

OPENED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
P = Priority


@pytest.mark.parametrize(
    ("rule_priority", "grade", "expected"),
    [
        (P.LOW, GradeLetter.A, P.NORMAL),
        (P.NORMAL, GradeLetter.A, P.HIGH),
        (P.HIGH, GradeLetter.A, P.CRITICAL),
        (P.CRITICAL, GradeLetter.A, P.CRITICAL),  # never above critical
        (P.LOW, GradeLetter.B, P.LOW),
        (P.HIGH, GradeLetter.B, P.HIGH),
        (P.NORMAL, GradeLetter.C, P.NORMAL),
        (P.CRITICAL, GradeLetter.C, P.CRITICAL),
        (P.LOW, None, P.LOW),
        (P.CRITICAL, None, P.CRITICAL),
        (P.CRITICAL, GradeLetter.D, P.HIGH),
        (P.HIGH, GradeLetter.D, P.NORMAL),
        (P.NORMAL, GradeLetter.D, P.LOW),
        (P.LOW, GradeLetter.D, P.LOW),  # never below low
    ],
)
def test_priority_moves_by_the_owners_grade(
    rule_priority: Priority, grade: GradeLetter | None, expected: Priority
) -> None:
    assert priority(rule_priority, owner_grade=grade) is expected


@pytest.mark.parametrize(
    ("ticket_priority", "promised"),
    [
        (P.CRITICAL, timedelta(hours=4)),
        (P.HIGH, timedelta(hours=24)),
        (P.NORMAL, timedelta(hours=72)),
        (P.LOW, timedelta(days=7)),
    ],
)
def test_sla_deadline_by_priority(ticket_priority: Priority, promised: timedelta) -> None:
    assert sla_due(ticket_priority, opened_at=OPENED) == OPENED + promised


S = Status
ALLOWED = {
    (S.OPEN, S.SCHEDULED),
    (S.OPEN, S.IN_PROGRESS),
    (S.OPEN, S.RESOLVED),
    (S.OPEN, S.CANCELLED),
    (S.SCHEDULED, S.SCHEDULED),
    (S.SCHEDULED, S.IN_PROGRESS),
    (S.SCHEDULED, S.RESOLVED),
    (S.SCHEDULED, S.CANCELLED),
    (S.IN_PROGRESS, S.WAITING_PARTS),
    (S.IN_PROGRESS, S.RESOLVED),
    (S.IN_PROGRESS, S.CANCELLED),
    (S.WAITING_PARTS, S.IN_PROGRESS),
    (S.WAITING_PARTS, S.SCHEDULED),
    (S.WAITING_PARTS, S.CANCELLED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.IN_PROGRESS),
}


@pytest.mark.parametrize(("current", "to"), [(a, b) for a in S for b in S])
def test_every_status_pair_is_allowed_exactly_when_listed(current: Status, to: Status) -> None:
    if (current, to) in ALLOWED:
        check_transition(current, to=to)
    else:
        with pytest.raises(InvalidTransition, match=f"a {current} ticket cannot become {to}"):
            check_transition(current, to=to)


def test_the_table_covers_every_status_and_final_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert TRANSITIONS[S.CLOSED] == TRANSITIONS[S.CANCELLED] == frozenset()


def test_a_refusal_names_what_is_reachable() -> None:
    with pytest.raises(InvalidTransition) as refused:
        check_transition(S.WAITING_PARTS, to=S.RESOLVED)
    assert refused.value.detail.endswith("from waiting_parts: cancelled, in_progress, scheduled")
    with pytest.raises(InvalidTransition, match="nothing \\(it is final\\)"):
        check_transition(S.CLOSED, to=S.OPEN)


def tech(id_: int, *skills: str, load: int = 0, active: bool = True) -> Candidate:
    return Candidate(id=id_, skills=frozenset(skills), active=active, load=load)


@pytest.mark.parametrize(
    ("candidates", "required", "expected"),
    [
        pytest.param(
            [tech(1, "engine", load=3), tech(2, "engine", load=1), tech(3, "engine", load=2)],
            {"engine"},
            2,
            id="lightest load among the skilled",
        ),
        pytest.param(
            [tech(1, "hydraulics", load=0), tech(2, "engine", load=5)],
            {"engine"},
            2,
            id="a skilled technician beats a lighter unskilled one",
        ),
        pytest.param(
            [tech(4, "engine", load=1), tech(2, "engine", load=1)],
            {"engine"},
            2,
            id="ties go to the lowest id",
        ),
        pytest.param(
            [tech(1, "engine", "electrical", load=2), tech(2, "engine", load=0)],
            {"engine", "electrical"},
            1,
            id="every required skill, not one of them",
        ),
        pytest.param(
            [tech(1, "engine", load=0, active=False), tech(2, "engine", load=4)],
            {"engine"},
            2,
            id="inactive technicians are never picked",
        ),
        pytest.param(
            [tech(1, "hydraulics", load=2), tech(2, "electrical", load=1)],
            {"aftertreatment"},
            2,
            id="nobody skilled: lightest active technician of any skills",
        ),
        pytest.param(
            [tech(1, load=1), tech(2, "engine", load=0)],
            set(),
            2,
            id="no skill required: anyone, lightest first",
        ),
        pytest.param([tech(1, "engine", active=False)], {"engine"}, None, id="nobody active"),
        pytest.param([], {"engine"}, None, id="no technicians"),
    ],
)
def test_pick_technician(candidates: list[Candidate], required: set[str], expected: int) -> None:
    assert pick_technician(candidates, required_skills=frozenset(required)) == expected


@pytest.mark.parametrize(
    ("rule_kind", "evidence", "expected"),
    [
        ("service_interval", {"due_at_h": 500.0}, {Skill.SERVICE}),
        ("fault_code", {"spn": 110, "fmi": 0}, {Skill.ENGINE}),
        ("fault_code", {"spn": 111, "fmi": 1}, {Skill.ENGINE}),
        ("fault_code", {"spn": 175, "fmi": 16}, {Skill.ENGINE}),
        ("fault_code", {"spn": 110, "fmi": 3}, {Skill.ELECTRICAL}),  # sensor circuit
        ("fault_code", {"spn": 100, "fmi": 4}, {Skill.ELECTRICAL}),
        ("fault_code", {"spn": 1638, "fmi": 0}, {Skill.HYDRAULICS}),
        ("fault_code", {"spn": 2602, "fmi": 1}, {Skill.HYDRAULICS}),
        ("fault_code", {"spn": 168, "fmi": 18}, {Skill.ELECTRICAL}),
        ("fault_code", {"spn": 3719, "fmi": 31}, {Skill.AFTERTREATMENT}),
        ("fault_code", {"spn": 4364, "fmi": 18}, {Skill.AFTERTREATMENT}),
        ("fault_code", {"spn": 1761, "fmi": 17}, {Skill.AFTERTREATMENT}),
        ("fault_code", {"spn": 3226, "fmi": 2}, {Skill.AFTERTREATMENT}),
        ("fault_code", {"spn": 999_999, "fmi": 0}, set()),  # unknown family: anyone
        ("threshold", {"signal": "coolant_c"}, {Skill.ENGINE}),
        ("threshold", {"signal": "hyd_oil_c"}, {Skill.HYDRAULICS}),
        ("threshold", {"signal": "battery_v"}, {Skill.ELECTRICAL}),
        ("threshold", {"signal": "def_pct"}, {Skill.AFTERTREATMENT}),
        ("threshold", {"signal": "fuel_pct"}, set()),
        ("threshold", {"check": "hours_jump"}, {Skill.ELECTRICAL}),
        ("silence", {"after_s": 86400}, {Skill.ELECTRICAL}),
        ("anomaly", {"signal": "coolant_c"}, set()),
        ("manual", {}, set()),
    ],
)
def test_required_skills_by_finding(
    rule_kind: str, evidence: dict[str, object], expected: set[Skill]
) -> None:
    assert required_skills(rule_kind, evidence) == expected
