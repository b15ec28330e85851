"""The wire contract between controllers and ingest: topics and payload structs. No I/O.

Topic: ironlink/v1/{kind}/{serial}/{channel}. A telemetry message is one Reading (a JSON object)
or a
store-and-forward batch (a JSON array of Readings). A faults message is one Dm1 report or an array.
Every reading and report carries the controller's own seq, monotonic per machine across channels,
and
its measured ts; (machine, seq) identifies it, so a resend is recognised and stored once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import msgspec

TOPIC_ROOT: Final = "ironlink/v1"
SUBSCRIPTION: Final = f"{TOPIC_ROOT}/+/+/+"


class Kind(enum.StrEnum):
    TRACTOR = "tractor"
    EXCAVATOR = "excavator"


class Channel(enum.StrEnum):
    TELEMETRY = "telemetry"
    FAULTS = "faults"
    EVENTS = "events"
    STATUS = "status"


class Lamp(enum.StrEnum):
    """The most severe J1939 DM1 lamp lit for a DTC."""

    OFF = "off"
    PROTECT = "protect"
    AMBER = "amber"
    RED = "red"
    MIL = "mil"


class Reading(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    seq: int
    ts: datetime
    engine_hours: float
    rpm: float | None = None
    load_pct: float | None = None
    coolant_c: float | None = None
    oil_kpa: float | None = None
    fuel_pct: float | None = None
    fuel_lph: float | None = None
    def_pct: float | None = None
    battery_v: float | None = None
    hyd_oil_c: float | None = None
    hyd_bar: float | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    pto_rpm: float | None = None
    boom_cycles: int | None = None
    idle_hours: float | None = None  # engine hours spent idling (ISO 15143 CumulativeIdleHours)


class Dtc(msgspec.Struct, forbid_unknown_fields=True):
    spn: int
    fmi: int
    oc: int = 1
    lamp: Lamp = Lamp.AMBER


class Dm1(msgspec.Struct, forbid_unknown_fields=True):
    """A DM1 report: the controller's list of currently active DTCs (empty when all cleared)."""

    seq: int
    ts: datetime
    active: list[Dtc] = msgspec.field(default_factory=list)


class Status(msgspec.Struct, forbid_unknown_fields=True):
    """Birth/death message, retained; the death form is the MQTT last will."""

    online: bool
    ts: datetime | None = None


TelemetryPayload = Reading | list[Reading]
FaultsPayload = Dm1 | list[Dm1]

_encoder = msgspec.json.Encoder()


def topic(kind: Kind, serial: str, channel: Channel) -> str:
    return f"{TOPIC_ROOT}/{kind}/{serial}/{channel}"


def encode(payload: Reading | list[Reading] | Dm1 | list[Dm1] | Status) -> bytes:
    return _encoder.encode(payload)
