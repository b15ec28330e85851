"""Ticket policy as pure functions: priority by customer grade, SLA deadlines, the status machine,
the skills a finding needs and which technician gets the ticket. No I/O; the SQL side is
maintenance.tickets.flows and maintenance.tickets.lifecycle.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from maintenance.crm.grading import GradeLetter
from maintenance.errors import InvalidTransition
from maintenance.rules.model import Priority
from maintenance.tickets.model import Status

# --- Priority -------------------------------------------------------------------------------------

LADDER: Final = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.CRITICAL)
# Levels a grade moves the rule's priority: key (A) customers are answered a level sooner, customers
# the dealer has decided to let go (D) a level later; B, C and ungraded owners get the rule's own.
GRADE_STEP: Final[Mapping[GradeLetter | None, int]] = {
    GradeLetter.A: +1,
    GradeLetter.B: 0,
    GradeLetter.C: 0,
    GradeLetter.D: -1,
    None: 0,
}


def priority(rule_priority: Priority, *, owner_grade: GradeLetter | None) -> Priority:
    """The rule's priority moved by the owner's grade (GRADE_STEP), clamped to low..critical."""
    level = LADDER.index(rule_priority) + GRADE_STEP[owner_grade]
    return LADDER[min(max(level, 0), len(LADDER) - 1)]


# --- SLA ------------------------------------------------------------------------------------------

# Promised response time from opening: a red-stop fault is answered within half a working day, a
# warning the next day, a due service within three days, a silent machine within the week.
SLA_BY_PRIORITY: Final[Mapping[Priority, timedelta]] = {
    Priority.CRITICAL: timedelta(hours=4),
    Priority.HIGH: timedelta(hours=24),
    Priority.NORMAL: timedelta(hours=72),
    Priority.LOW: timedelta(days=7),
}


def sla_due(ticket_priority: Priority, *, opened_at: datetime) -> datetime:
    return opened_at + SLA_BY_PRIORITY[ticket_priority]


# --- Status machine -------------------------------------------------------------------------------

# open -> scheduled -> in_progress <-> waiting_parts; in_progress -> resolved -> closed.
# Beyond the main line:
# - open -> in_progress: a technician starts at once (a red-stop fault, a walk-in).
# - open/scheduled -> resolved: fixed without a visit (by phone, or the rules saw the condition
#   clear before anyone started; see flows.resolve_cleared).
# - scheduled -> scheduled: rescheduling the visit.
# - waiting_parts -> scheduled: the parts came and a new visit is booked.
# - resolved -> in_progress: reopened, the fix did not hold. Closed and cancelled are final.
# - anything not finished -> cancelled.
TRANSITIONS: Final[Mapping[Status, frozenset[Status]]] = {
    Status.OPEN: frozenset(
        {Status.SCHEDULED, Status.IN_PROGRESS, Status.RESOLVED, Status.CANCELLED}
    ),
    Status.SCHEDULED: frozenset(
        {Status.SCHEDULED, Status.IN_PROGRESS, Status.RESOLVED, Status.CANCELLED}
    ),
    Status.IN_PROGRESS: frozenset({Status.WAITING_PARTS, Status.RESOLVED, Status.CANCELLED}),
    Status.WAITING_PARTS: frozenset({Status.IN_PROGRESS, Status.SCHEDULED, Status.CANCELLED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}


def check_transition(current: Status, *, to: Status) -> None:
    """Raises InvalidTransition naming the statuses reachable from `current`."""
    allowed = TRANSITIONS[current]
    if to in allowed:
        return
    reachable = ", ".join(sorted(allowed)) or "nothing (it is final)"
    raise InvalidTransition(f"a {current} ticket cannot become {to}; from {current}: {reachable}")


# --- Skills ---------------------------------------------------------------------------------------


class Skill(enum.StrEnum):
    """What technicians.skills holds: the trades a ticket can need."""

    ENGINE = "engine"
    HYDRAULICS = "hydraulics"
    ELECTRICAL = "electrical"
    AFTERTREATMENT = "aftertreatment"
    SERVICE = "service"


# J1939 SPN families (names as in ../shared/data/j1939/common_dtcs.csv). Engine: fuel delivery
# pressure, water in fuel, oil pressure, coolant temperature and level, oil temperature, engine
# speed, engine timing sensor. Hydraulics: hydraulic oil temperature and level. Electrical: key
# switch and battery potential, charging. Aftertreatment: DEF tank volume and quality, NOx sensors,
# DPF differential pressure and soot load, SCR efficiency. An SPN not listed needs no skill.
SKILL_BY_SPN: Final[Mapping[int, Skill]] = {
    **dict.fromkeys((94, 97, 100, 110, 111, 175, 190, 637), Skill.ENGINE),
    **dict.fromkeys((1638, 2602), Skill.HYDRAULICS),
    **dict.fromkeys((158, 167, 168), Skill.ELECTRICAL),
    **dict.fromkeys((1761, 3216, 3226, 3251, 3364, 3719, 4364), Skill.AFTERTREATMENT),
}
# FMI 3/4 voltage above/below normal, 5/6 current below/above normal: the sensor's circuit is at
# fault, whatever it measures, so it is wiring work.
ELECTRICAL_FMIS: Final = frozenset({3, 4, 5, 6})
SKILL_BY_SIGNAL: Final[Mapping[str, Skill]] = {
    "coolant_c": Skill.ENGINE,
    "oil_kpa": Skill.ENGINE,
    "hyd_oil_c": Skill.HYDRAULICS,
    "hyd_bar": Skill.HYDRAULICS,
    "battery_v": Skill.ELECTRICAL,
    "def_pct": Skill.AFTERTREATMENT,
}


def required_skills(rule_kind: str, evidence: Mapping[str, object]) -> frozenset[Skill]:
    """The skills a finding's ticket needs; empty means any technician will do.

    Service intervals need 'service'; faults by FMI (circuit faults are electrical) then SPN family;
    thresholds by signal; an hour-meter jump (a threshold with evidence check 'hours_jump') and a
    silent machine are the controller's or telematics unit's wiring and power, so electrical.
    """
    match rule_kind:
        case "service_interval":
            return frozenset({Skill.SERVICE})
        case "fault_code":
            fmi, spn = evidence.get("fmi"), evidence.get("spn")
            if isinstance(fmi, int) and fmi in ELECTRICAL_FMIS:
                return frozenset({Skill.ELECTRICAL})
            skill = SKILL_BY_SPN.get(spn) if isinstance(spn, int) else None
            return frozenset({skill}) if skill else frozenset()
        case "threshold":
            if evidence.get("check") == "hours_jump":
                return frozenset({Skill.ELECTRICAL})
            signal = evidence.get("signal")
            skill = SKILL_BY_SIGNAL.get(signal) if isinstance(signal, str) else None
            return frozenset({skill}) if skill else frozenset()
        case "silence":
            return frozenset({Skill.ELECTRICAL})
        case _:
            return frozenset()


# --- Assignment -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A technician of the ticket's servicing dealer; load = live tickets assigned to them."""

    id: int
    skills: frozenset[str]
    active: bool
    load: int


def pick_technician(
    candidates: Sequence[Candidate], *, required_skills: frozenset[str]
) -> int | None:
    """The active candidate with every required skill and the lightest load, ties to the lowest
    id. When no active candidate has them all, the lightest-loaded active candidate of any skills:
    a ticket with someone on it beats one waiting for a specialist who does not exist at this
    dealer. None when no candidate is active."""
    active = [c for c in candidates if c.active]
    skilled = [c for c in active if required_skills <= c.skills]
    pool = skilled or active
    if not pool:
        return None
    return min(pool, key=lambda c: (c.load, c.id)).id
