"""What rule evaluation produces and reads: the per-machine view, findings and clear verdicts.
No I/O; shared by the engine (maintenance.rules.engine, .windowed) and the ticket flows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from maintenance.rules.model import PartLine, Priority
from telemetry.wire import Dtc, Kind


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
