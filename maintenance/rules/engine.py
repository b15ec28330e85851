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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from maintenance.rules.model import (
    FaultCode,
    HoursJump,
    Op,
    PartLine,
    Priority,
    Rule,
    ServiceInterval,
    Silence,
    Threshold,
)
from maintenance.rules.window import Floats, Ints, Window
from telemetry.wire import Dtc, Kind

# Idle is about 700-900 rpm on these diesels; cranking and run-down stay below 600, and oil
# pressure or charging voltage mean nothing then.
RUNNING_RPM: Final = 600.0
# A held run survives gaps up to max(hold_s, this): a machine on a weak link reports in bursts,
# but a longer silence says nothing about what the signal did meanwhile.
MIN_GAP_LIMIT_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class MachineView:
    """What the engine needs to know about one machine; built by the caller from the database."""

    machine_id: int
    kind: Kind
    model: str
    engine_hours: float | None
    # Engine hours at the last service done per service-interval rule key.
    last_service_h: Mapping[str, float] = field(default_factory=dict)
    active_dtcs: Sequence[Dtc] = ()
    faults_ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    machine_id: int
    rule_key: str
    rule_kind: str
    title: str
    priority: Priority
    evidence: dict[str, object]
    parts: tuple[PartLine, ...] = ()


@dataclass(frozen=True, slots=True)
class Clear:
    """The rule's clearing condition holds for the machine now; not a statement that a ticket is
    open (the caller matches clears against open tickets for (machine_id, rule_key))."""

    machine_id: int
    rule_key: str
    rule_kind: str
    evidence: dict[str, object]


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: list[Finding]
    clears: list[Clear]


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
            return _threshold(rule, window, ids)
        case Silence():
            return _silence(rule, window, ids, now)
        case HoursJump():
            return _hours_jump(rule, window, ids), []


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat()


def _segments(m: Ints) -> tuple[Ints, Ints]:
    """First and last row index of each machine's run of rows (`m` sorted)."""
    first = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
    last = np.r_[first[1:] - 1, m.size - 1]
    return first, last


def held_runs(
    t: Floats, beyond: npt.NDArray[np.bool_], first: Ints, last: Ints, *, gap_limit_s: float
) -> Ints:
    """For each machine (rows `first[i]..last[i]`, sorted by `t`), the first row of the unbroken run
    of beyond-readings that ends at its newest row (meaningful only where `beyond[last]`).

    A run breaks at a reading not beyond, at a gap longer than `gap_limit_s`, and between machines.
    """
    n = t.size
    starts_machine = np.zeros(n, dtype=np.bool_)
    starts_machine[first] = True
    after_gap = np.r_[True, np.diff(t) > gap_limit_s]
    after_safe = ~np.r_[False, beyond[:-1]]
    run_start = beyond & (starts_machine | after_gap | after_safe)
    # Within a run every row is beyond and no start lies between the run's start and the row, so
    # the latest start at or before a row is its run's start.
    start_of = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
    return start_of[last]


def _threshold(rule: Threshold, window: Window, ids: Ints) -> tuple[list[Finding], list[Clear]]:
    """Fires for a machine when its newest reading of `signal` is beyond `value` and so is every
    reading back to one at least `hold_s` older, with no gap over max(hold_s, MIN_GAP_LIMIT_S)
    between them ("held for a duration"). Clears when its newest reading is on the safe side of
    the clearing level (below `clear_below` for gt, above `clear_above` for lt). Readings without
    the signal (NaN), and with `only_when_running` those with rpm <= RUNNING_RPM, are ignored.
    """
    values = window.signal(rule.signal)
    keep = np.isin(window.machine_id, ids) & ~np.isnan(values)
    if rule.only_when_running:
        keep &= window.signal("rpm") > RUNNING_RPM  # NaN compares False: not known to run
    m, t, v = window.machine_id[keep], window.ts[keep], values[keep]
    if m.size == 0:
        return [], []
    first, last = _segments(m)
    gt = rule.op is Op.GT
    beyond = v > rule.value if gt else v < rule.value
    held_from = held_runs(t, beyond, first, last, gap_limit_s=max(rule.hold_s, MIN_GAP_LIMIT_S))
    fires = beyond[last] & (t[last] - t[held_from] >= rule.hold_s)
    level = rule.clear_level
    safe = v[last] < level if gt else v[last] > level
    # The worst value over each held run: reduce over [held_from, last] pairs; a NaN pad lets the
    # last run end at the array's end, and the odd slices (between runs) are dropped.
    bounds = np.column_stack([held_from, last + 1]).ravel()
    worst = (np.maximum if gt else np.minimum).reduceat(np.r_[v, np.nan], bounds)[::2]
    level_name = "clear_below" if gt else "clear_above"
    findings = [
        Finding(
            machine_id=int(m[j]),
            rule_key=rule.key,
            rule_kind="threshold",
            title=rule.title or f"{rule.signal} {rule.op} {rule.value:g}",
            priority=rule.priority,
            evidence={
                "signal": rule.signal,
                "op": str(rule.op),
                "value": rule.value,
                level_name: level,
                "observed": float(worst[i]),
                "hold_s": rule.hold_s,
                "from": _iso(float(t[held_from[i]])),
                "to": _iso(float(t[j])),
                "readings": int(j - held_from[i] + 1),
                "action": rule.action,
            },
            parts=tuple(rule.parts),
        )
        for i, j in enumerate(last)
        if fires[i]
    ]
    clears = [
        Clear(
            machine_id=int(m[j]),
            rule_key=rule.key,
            rule_kind="threshold",
            evidence={
                "signal": rule.signal,
                level_name: level,
                "observed": float(v[j]),
                "at": _iso(float(t[j])),
            },
        )
        for i, j in enumerate(last)
        if safe[i]
    ]
    return findings, clears


def threshold_candidates(rules: Sequence[Rule], latest: Window) -> set[int]:
    """The machines whose threshold verdict a batch could have changed, judged from each one's
    newest reading alone (`latest`: one row per machine): it counts for a rule (has the signal, and
    runs when the rule says only_when_running) and is beyond the rule's value. A newest reading on
    the normal side cannot end a run that fires; one that does not count leaves the verdict as the
    last counted reading made it, when it was evaluated. Clears need a full window only where a
    ticket is open, and late readings inside a span are caught by the sweep; the caller adds
    both."""
    keep = np.zeros(len(latest), dtype=bool)
    for rule in rules:
        if not isinstance(rule, Threshold):
            continue
        v = latest.signal(rule.signal)
        beyond = v > rule.value if rule.op is Op.GT else v < rule.value  # NaN: False
        if rule.only_when_running:
            beyond &= latest.signal("rpm") > RUNNING_RPM
        keep |= beyond
    return {int(i) for i in latest.machine_id[keep]}


def _silence(
    rule: Silence, window: Window, ids: Ints, now: datetime
) -> tuple[list[Finding], list[Clear]]:
    """Fires for a machine whose newest row in the window is at least `after_s` old at `now` and
    that was active then: that reading had rpm > 0, or its last status did not say offline.
    Clears when the newest row is younger than `after_s`. Machines without rows find nothing.
    """
    keep = np.isin(window.machine_id, ids)
    m, t = window.machine_id[keep], window.ts[keep]
    if m.size == 0:
        return [], []
    first, last = _segments(m)
    rpm = window.signal("rpm")[keep][last]
    offline = np.isin(m[last], np.fromiter(window.offline, dtype=np.int64))
    active = (rpm > 0) | ~offline
    age_s = now.timestamp() - t[last]
    fires = active & (age_s >= rule.after_s)
    # Last known position: the newest row with both coordinates, -1 for none.
    lat, lon = window.signal("lat")[keep], window.signal("lon")[keep]
    located = np.where(~np.isnan(lat) & ~np.isnan(lon), np.arange(m.size), -1)
    at = np.maximum.reduceat(located, first)
    findings = [
        Finding(
            machine_id=int(m[j]),
            rule_key=rule.key,
            rule_kind="silence",
            title=rule.title or f"No data for {rule.after_s / 3600:g} h",
            priority=rule.priority,
            evidence={
                "at": now.isoformat(),
                "last_seen": _iso(float(t[j])),
                "silent_for_s": round(float(age_s[i]), 1),
                "after_s": rule.after_s,
                "lat": float(lat[at[i]]) if at[i] >= 0 else None,
                "lon": float(lon[at[i]]) if at[i] >= 0 else None,
            },
        )
        for i, j in enumerate(last)
        if fires[i]
    ]
    clears = [
        Clear(
            machine_id=int(m[j]),
            rule_key=rule.key,
            rule_kind="silence",
            evidence={"last_seen": _iso(float(t[j])), "after_s": rule.after_s},
        )
        for i, j in enumerate(last)
        if not fires[i] and age_s[i] < rule.after_s
    ]
    return findings, clears


def _hours_jump(rule: HoursJump, window: Window, ids: Ints) -> list[Finding]:
    """Fires for a machine with any pair of consecutive readings (by ts, readings without
    engine_hours ignored) whose hours rose by more than `max_rate` x elapsed wall hours +
    `tolerance_h`, or fell by more than `tolerance_h`. The evidence is the worst such pair.
    There is no clear verdict: a jump is an event that someone has to explain.

    The finding's rule_kind is "threshold": tickets.kind (migration 0004) has no 'hours_jump', and a
    limit on the hour meter's rate is a threshold; evidence["check"] names the rule kind.
    """
    hours = window.signal("engine_hours")
    keep = np.isin(window.machine_id, ids) & ~np.isnan(hours)
    m, t, h = window.machine_id[keep], window.ts[keep], hours[keep]
    if m.size < 2:
        return []
    same = m[1:] == m[:-1]
    dh = np.diff(h)
    wall_h = np.diff(t) / 3600.0
    excess = np.where(dh < 0, -dh, dh - rule.max_rate * wall_h) - rule.tolerance_h
    pairs = np.flatnonzero(same & (excess > 0))
    if pairs.size == 0:
        return []
    # The worst pair per machine: sort by (machine, excess) and keep each machine's last.
    pairs = pairs[np.lexsort((excess[pairs], m[pairs]))]
    worst = pairs[np.r_[m[pairs][1:] != m[pairs][:-1], True]]
    findings = []
    for k in worst:
        rate = float(dh[k] / wall_h[k]) if wall_h[k] > 0 else None
        findings.append(
            Finding(
                machine_id=int(m[k]),
                rule_key=rule.key,
                rule_kind="threshold",
                title=rule.title or "Engine hours jumped",
                priority=rule.priority,
                evidence={
                    "check": "hours_jump",
                    "from": _iso(float(t[k])),
                    "to": _iso(float(t[k + 1])),
                    "from_h": float(h[k]),
                    "to_h": float(h[k + 1]),
                    "rate": None if rate is None else round(rate, 3),
                    "max_rate": rule.max_rate,
                },
            )
        )
    return findings
