"""Rule kinds as a closed tagged union; a rule file is validated into these before it takes
effect."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from telemetry.signals import BY_NAME
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


class Op(enum.StrEnum):
    GT = "gt"
    LT = "lt"


class Threshold(msgspec.Struct, tag="threshold", tag_field="kind", forbid_unknown_fields=True):
    """`signal` beyond `value` (above for gt, below for lt) for at least `hold_s` seconds.

    The clearing level is the hysteresis for auto-resolve: `clear_below` (< value) for gt,
    `clear_above` (> value) for lt; between value and the clearing level a machine neither fires
    nor clears. With `only_when_running`, readings taken while the engine is not running
    (rpm <= 600 or unknown) are ignored, as for oil pressure.
    Evaluation: maintenance.rules.windowed.
    """

    key: RuleKey
    signal: str
    op: Op
    value: float
    hold_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    clear_below: float | None = None
    clear_above: float | None = None
    only_when_running: bool = False
    title: str = ""
    action: str = ""
    priority: Priority = Priority.NORMAL
    applies_to: Applies = msgspec.field(default_factory=Applies)
    parts: list[PartLine] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError located at the rule (`$.rules[i]`).
        signal = BY_NAME.get(self.signal)
        if signal is None:
            raise ValueError(f"rule {self.key}: signal {self.signal!r} is not a known signal")
        kind = self.applies_to.kind
        if kind is not None and kind not in signal.kinds:
            raise ValueError(f"rule {self.key}: signal {self.signal!r} is not reported by {kind}")
        if self.op is Op.GT:
            given, other, safe = self.clear_below, "clear_above", "below"
        else:
            given, other, safe = self.clear_above, "clear_below", "above"
        field = f"clear_{safe}"
        if getattr(self, other) is not None:
            raise ValueError(
                f"rule {self.key}: {other} does not apply to op {self.op}; use {field}"
            )
        if given is None:
            raise ValueError(f"rule {self.key}: {field} is required for op {self.op}")
        if (self.op is Op.GT and not given < self.value) or (
            self.op is Op.LT and not given > self.value
        ):
            raise ValueError(
                f"rule {self.key}: {field} {given:g} must be {safe} value {self.value:g}"
            )

    @property
    def clear_level(self) -> float:
        level = self.clear_below if self.op is Op.GT else self.clear_above
        assert level is not None  # checked in __post_init__
        return level


class Silence(msgspec.Struct, tag="silence", tag_field="kind", forbid_unknown_fields=True):
    """An active machine (last reading with rpm > 0, or not marked offline by its last status)
    whose newest reading is at least `after_s` seconds old."""

    key: RuleKey
    after_s: Annotated[float, msgspec.Meta(gt=0)]
    title: str = ""
    priority: Priority = Priority.LOW
    applies_to: Applies = msgspec.field(default_factory=Applies)


class HoursJump(msgspec.Struct, tag="hours_jump", tag_field="kind", forbid_unknown_fields=True):
    """Engine hours rising faster than `max_rate` engine hours per wall-clock hour between two
    consecutive readings (plus `tolerance_h` for rounding), or going back by more than
    `tolerance_h`: a swapped controller or a tampered hour meter."""

    key: RuleKey
    max_rate: Annotated[float, msgspec.Meta(gt=0)] = 1.05
    tolerance_h: Annotated[float, msgspec.Meta(ge=0)] = 0.05
    title: str = ""
    priority: Priority = Priority.NORMAL
    applies_to: Applies = msgspec.field(default_factory=Applies)


Rule = ServiceInterval | FaultCode | Threshold | Silence | HoursJump


class RuleSet(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]
    rules: list[Rule]
