"""Rule kinds as a closed tagged union; a rule file is validated into these before it takes
effect."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from telemetry.wire import Kind

RuleKey = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Applies(msgspec.Struct, forbid_unknown_fields=True):
    """Which machines a rule covers; an empty filter covers every machine."""

    kind: Kind | None = None
    models: list[str] = msgspec.field(default_factory=list)

    def matches(self, kind: Kind, model: str) -> bool:
        return (self.kind is None or self.kind is kind) and (
            not self.models or model in self.models
        )


class PartLine(msgspec.Struct, forbid_unknown_fields=True):
    part_no: str
    qty: int = 1
    description: str = ""


class ServiceInterval(
    msgspec.Struct, tag="service_interval", tag_field="kind", forbid_unknown_fields=True
):
    """Due every `every_h` engine hours after the last service; the ticket opens `lead_h` early."""

    key: RuleKey
    every_h: Annotated[float, msgspec.Meta(gt=0)]
    lead_h: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    title: str = ""
    priority: Priority = Priority.NORMAL
    applies_to: Applies = msgspec.field(default_factory=Applies)
    parts: list[PartLine] = msgspec.field(default_factory=list)


class FaultCode(msgspec.Struct, tag="fault_code", tag_field="kind", forbid_unknown_fields=True):
    """An active J1939 DTC with this SPN and one of these FMIs (any FMI when empty)."""

    key: RuleKey
    spn: Annotated[int, msgspec.Meta(ge=0, le=524_287)]
    fmi: list[Annotated[int, msgspec.Meta(ge=0, le=31)]] = msgspec.field(default_factory=list)
    title: str = ""
    action: str = ""
    priority: Priority = Priority.HIGH
    applies_to: Applies = msgspec.field(default_factory=Applies)
    parts: list[PartLine] = msgspec.field(default_factory=list)


Rule = ServiceInterval | FaultCode


class RuleSet(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    rules: list[Rule]
