"""Anomaly events -> the findings and clears the ticket path takes (maintenance.tickets.flows).
Pure.

One ticket per machine and anomaly kind: the rule key is `anomaly:<signal>`, and the open-ticket
unique index on (machine, rule key) turns every later event of the same kind into evidence on the
open ticket. An episode opens at LOW priority; once it has been sustained, the same episode's
second finding asks for NORMAL and the ticket path raises the ticket to it. An episode that ended
clears the kind: a ticket nobody has started on is resolved by itself (a blip that went away),
one a technician works on stays theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from maintenance.anomaly.fleet import FAILS, MONITORED, AnomalyEvent
from maintenance.rules.findings import Clear, Finding
from maintenance.rules.model import Priority

RULE_KIND: Final = "anomaly"
_LABELS: Final = {
    "coolant_c": ("coolant temperature", "°C"),
    "hyd_oil_c": ("hydraulic oil temperature", "°C"),
    "oil_kpa": ("engine oil pressure", "kPa"),
    "battery_v": ("charging voltage", "V"),
    "hyd_bar": ("hydraulic pressure", "bar"),
    "fuel_lph": ("fuel rate", "L/h"),
}


def rule_key(signal: str) -> str:
    return f"{RULE_KIND}:{signal}"


def minute_time(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


def evidence(event: AnomalyEvent) -> dict[str, object]:
    label, unit = _LABELS[event.signal]
    return {
        "signal": event.signal,
        "event": event.kind,
        "statistic": event.statistic,
        "score": event.score,
        "z": event.z,
        "observed": round(event.observed, 3),
        "expected": round(event.expected, 3),
        "unit": unit,
        "episode_start": minute_time(event.episode_start).isoformat(),
        "window": {
            "from": minute_time(event.episode_start).isoformat(),
            "to": minute_time(event.minute + 1).isoformat(),
        },
        "description": f"{label} {event.observed:.1f} {unit} where {event.expected:.1f} {unit} "
        "is expected at this load",
    }


def to_findings(events: Sequence[AnomalyEvent]) -> tuple[list[Finding], list[Clear]]:
    findings: list[Finding] = []
    clears: list[Clear] = []
    for e in events:
        if e.kind == "ended":
            clears.append(Clear(e.machine_id, rule_key(e.signal), RULE_KIND, evidence(e)))
            continue
        label, _ = _LABELS[e.signal]
        way = "high" if FAILS[MONITORED.index(e.signal)] > 0 else "low"
        findings.append(
            Finding(
                machine_id=e.machine_id,
                rule_key=rule_key(e.signal),
                rule_kind=RULE_KIND,
                title=f"Anomaly: {label} {way} for the load"
                + (" (sustained)" if e.kind == "sustained" else ""),
                priority=Priority.NORMAL if e.kind == "sustained" else Priority.LOW,
                evidence=evidence(e),
            )
        )
    return findings, clears
