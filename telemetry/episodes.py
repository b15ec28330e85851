"""Fault episodes from DM1 reports. No I/O.

A DM1 report is the controller's whole active list at one moment. A code's episode opens at the
first report that lists it and closes at the first later report (by measured time, then seq) that
does not. Derived from the full ordered list of a machine's reports, so reports that arrive late or
out of order give the same episodes as reports that arrive in order. New reports need not replay a
machine's whole history: rebuild_start says from when its episodes must be derived again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

LAMP_SEVERITY: Final = {"off": 0, "protect": 1, "amber": 2, "mil": 3, "red": 4}


@dataclass(frozen=True, slots=True)
class ActiveCode:
    spn: int
    fmi: int
    oc: int
    lamp: str


@dataclass(frozen=True, slots=True)
class Report:
    ts: datetime
    seq: int
    active: Sequence[ActiveCode]


@dataclass(frozen=True, slots=True)
class Episode:
    spn: int
    fmi: int
    onset: datetime
    cleared: datetime | None
    last_seen: datetime
    max_oc: int
    lamp: str  # the most severe lamp seen during the episode
    reports: int


def episodes(reports: Iterable[Report]) -> list[Episode]:
    """Episodes of one machine from its DM1 reports, in any order; ordered by onset."""
    done: list[Episode] = []
    open_: dict[tuple[int, int], Episode] = {}
    for report in sorted(reports, key=lambda r: (r.ts, r.seq)):
        listed = {(c.spn, c.fmi): c for c in report.active}
        for key in [k for k in open_ if k not in listed]:
            ended = open_.pop(key)
            done.append(
                Episode(
                    ended.spn,
                    ended.fmi,
                    ended.onset,
                    report.ts,
                    ended.last_seen,
                    ended.max_oc,
                    ended.lamp,
                    ended.reports,
                )
            )
        for key, code in listed.items():
            e = open_.get(key)
            if e is None:
                open_[key] = Episode(
                    code.spn, code.fmi, report.ts, None, report.ts, code.oc, code.lamp, 1
                )
            else:
                lamp = max(e.lamp, code.lamp, key=lambda lamp: LAMP_SEVERITY.get(lamp, 0))
                max_oc = max(e.max_oc, code.oc)
                open_[key] = Episode(
                    e.spn, e.fmi, e.onset, None, report.ts, max_oc, lamp, e.reports + 1
                )
    done.extend(open_.values())
    return sorted(done, key=lambda e: (e.onset, e.spn, e.fmi))


def rebuild_start(
    existing: Iterable[tuple[datetime, datetime | None]], since: datetime
) -> datetime:
    """From when a machine's episodes must be derived again after reports at `since` or later
    arrived, given its current episodes' (onset, cleared). An episode that began before the start
    and was still open at it (or cleared at it) moves the start back to its onset, latest onset
    first, so one pass finds the chains; then nothing is active just before the start, and the
    episodes from the reports at or after it, beside the kept ones that began before it, are
    exactly those of the whole history."""
    start = since
    for onset, cleared in sorted(existing, key=lambda e: e[0], reverse=True):
        if onset < start and (cleared is None or cleared >= start):
            start = onset
    return start
