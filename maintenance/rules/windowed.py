"""Window-based rules, vectorised per rule over every machine in a `Window`: thresholds held for a
duration with a clearing level, silence, hour-meter jumps. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from maintenance.rules.findings import Clear, Finding
from maintenance.rules.model import HoursJump, Op, Rule, Silence, Threshold
from maintenance.rules.window import Floats, Ints, Window

# Idle is about 700-900 rpm on these diesels; cranking and run-down stay below 600, and oil
# pressure or charging voltage mean nothing then.
RUNNING_RPM: Final = 600.0
# A held run survives gaps up to max(hold_s, this): a machine on a weak link reports in bursts,
# but a longer silence says nothing about what the signal did meanwhile.
MIN_GAP_LIMIT_S: Final = 300.0


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


def threshold(rule: Threshold, window: Window, ids: Ints) -> tuple[list[Finding], list[Clear]]:
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


def silence(
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


def hours_jump(rule: HoursJump, window: Window, ids: Ints) -> list[Finding]:
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
