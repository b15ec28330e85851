"""Pure rule evaluation: evaluate(rules, machines, now, window) -> findings. No I/O.

Service intervals are evaluated with numpy across all machines a rule applies to; a finding is a
statement that a rule holds for a machine now, with the evidence for it. Deduplication into one open
ticket per (machine, rule) happens where findings are written (maintenance.tickets.flows).

Thresholds, silence and hour-meter jumps read recent readings (a `Window`) and are vectorised per
rule across all machines in it; without a window they find nothing. `assess` also returns clear
verdicts (`Clear`): the rule's clearing condition holds for a machine, so an open ticket for that
(machine, rule) may be auto-resolved. `evaluate` returns the findings alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from maintenance.rules import windowed
from maintenance.rules.findings import Clear, Evaluation, Finding, MachineView
from maintenance.rules.model import FaultCode, HoursJump, Rule, ServiceInterval, Silence, Threshold
from maintenance.rules.window import Ints, Window


def evaluate(
    rules: Sequence[Rule],
    machines: Sequence[MachineView],
    now: datetime,
    window: Window | None = None,
) -> list[Finding]:
    return assess(rules, machines, now, window=window).findings


def assess(
    rules: Sequence[Rule],
    machines: Sequence[MachineView],
    now: datetime,
    *,
    window: Window | None = None,
) -> Evaluation:
    """Findings and clear verdicts of every rule for the machines it applies to.

    `machines` decides which machines a rule covers (kind and model); window-based rules look only
    at the window rows of covered machines.
    """
    findings: list[Finding] = []
    clears: list[Clear] = []
    for rule in rules:
        covered = [m for m in machines if rule.applies_to.matches(m.kind, m.model)]
        if not covered:
            continue
        match rule:
            case ServiceInterval():
                findings.extend(_service_due(rule, covered, now))
            case FaultCode():
                findings.extend(_fault_active(rule, covered, now))
            case Threshold() | Silence() | HoursJump():
                if window is None or len(window) == 0:
                    continue
                ids = np.array([m.machine_id for m in covered], dtype=np.int64)
                found, cleared = _windowed(rule, window, ids, now)
                findings.extend(found)
                clears.extend(cleared)
    return Evaluation(findings, clears)


def next_due_h(every_h: float, engine_hours: np.ndarray, last_service_h: np.ndarray) -> np.ndarray:
    """Engine hours at which the next service is due.

    Without a service record (NaN), the machine is assumed serviced on schedule, so the next due
    point is the next multiple of the interval; otherwise it is one interval after the last service.
    """
    assumed = (np.floor(engine_hours / every_h) + 1.0) * every_h
    return np.where(np.isnan(last_service_h), assumed, last_service_h + every_h)


def _service_due(
    rule: ServiceInterval, machines: Sequence[MachineView], now: datetime
) -> list[Finding]:
    with_hours = [m for m in machines if m.engine_hours is not None]
    if not with_hours:
        return []
    hours = np.array([m.engine_hours for m in with_hours], dtype=np.float64)
    last = np.array([m.last_service_h.get(rule.key, np.nan) for m in with_hours], dtype=np.float64)
    due = next_due_h(rule.every_h, hours, last)
    fires = hours >= due - rule.lead_h
    return [
        Finding(
            machine_id=m.machine_id,
            rule_key=rule.key,
            rule_kind="service_interval",
            title=rule.title or f"{rule.every_h:g}-hour service",
            priority=rule.priority,
            evidence={
                "at": now.isoformat(),
                "engine_hours": round(float(hours[i]), 2),
                "due_at_h": float(due[i]),
                "every_h": rule.every_h,
                "lead_h": rule.lead_h,
            },
            parts=tuple(rule.parts),
        )
        for i, m in enumerate(with_hours)
        if fires[i]
    ]


def _fault_active(rule: FaultCode, machines: Sequence[MachineView], now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    for m in machines:
        for dtc in m.active_dtcs:
            if dtc.spn == rule.spn and (not rule.fmi or dtc.fmi in rule.fmi):
                findings.append(
                    Finding(
                        machine_id=m.machine_id,
                        rule_key=rule.key,
                        rule_kind="fault_code",
                        title=rule.title or f"SPN {rule.spn} FMI {dtc.fmi}",
                        priority=rule.priority,
                        evidence={
                            "at": now.isoformat(),
                            "spn": dtc.spn,
                            "fmi": dtc.fmi,
                            "oc": dtc.oc,
                            "reported_at": m.faults_ts.isoformat() if m.faults_ts else None,
                            "engine_hours": m.engine_hours,
                            "action": rule.action,
                        },
                        parts=tuple(rule.parts),
                    )
                )
                break  # one finding per machine and rule, whichever FMI matched first
    return findings


def _windowed(
    rule: Threshold | Silence | HoursJump, window: Window, ids: Ints, now: datetime
) -> tuple[list[Finding], list[Clear]]:
    match rule:
        case Threshold():
            return windowed.threshold(rule, window, ids)
        case Silence():
            return windowed.silence(rule, window, ids, now)
        case HoursJump():
            return windowed.hours_jump(rule, window, ids), []
