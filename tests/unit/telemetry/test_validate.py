from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.validate import (
    MAX_PAYLOAD_BYTES,
    Address,
    MachineRef,
    Reason,
    Reject,
    parse_topic,
    validate,
)
from telemetry.wire import Channel, Dm1, Dtc, Kind, Reading, encode

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TRACTOR = MachineRef(id=7, kind=Kind.TRACTOR)
ADDR = Address(Kind.TRACTOR, "TR-0001", Channel.TELEMETRY)


def reading(seq: int = 1, **signals: float) -> Reading:
    return Reading(seq=seq, ts=NOW - timedelta(minutes=1), engine_hours=100.0, **signals)  # type: ignore[arg-type]


def test_topic_parses_kind_serial_channel() -> None:
    assert parse_topic("ironlink/v1/excavator/EX-0001/faults") == Address(
        Kind.EXCAVATOR, "EX-0001", Channel.FAULTS
    )


@pytest.mark.parametrize(
    "topic",
    [
        "ironlink/v1/tractor/TR-1",
        "ironlink/v2/tractor/TR-1/telemetry",
        "ironlink/v1/combine/TR-1/telemetry",
        "ironlink/v1/tractor/TR-1/telemetry/extra",
        "ironlink/v1/tractor/TR-1/gossip",
    ],
)
def test_bad_topics_are_rejected(topic: str) -> None:
    result = parse_topic(topic)
    assert isinstance(result, Reject)
    assert result.reason is Reason.BAD_TOPIC


def test_single_reading_is_accepted() -> None:
    out = validate(ADDR, TRACTOR, encode(reading(coolant_c=88.0, pto_rpm=540.0)), NOW)
    assert out.rejects == []
    assert [r.seq for r in out.readings] == [1]


def test_one_bad_reading_in_a_batch_keeps_the_good_ones() -> None:
    batch = [reading(1), reading(2, fuel_pct=140.0), reading(3)]
    out = validate(ADDR, TRACTOR, encode(batch), NOW)
    assert [r.seq for r in out.readings] == [1, 3]
    assert [r.reason for r in out.rejects] == [Reason.OUT_OF_RANGE]
    assert "fuel_pct" in out.rejects[0].detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", Reason.NOT_JSON),
        (b'{"seq": 1, "ts": "2026-11-23T11:00:00Z"}', Reason.BAD_SCHEMA),  # engine_hours missing
        (b'{"seq": "one", "ts": "2026-11-23T11:00:00Z", "engine_hours": 1}', Reason.BAD_SCHEMA),
        (b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1e999}', Reason.BAD_SCHEMA),
        (b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1, "x": 2}', Reason.BAD_SCHEMA),
        (b'{"seq": 1, "ts": "2026-11-23T11:00:00", "engine_hours": 1}', Reason.NO_TIMEZONE),
        (b'{"seq": 1, "ts": "2026-11-23T13:00:00Z", "engine_hours": 1}', Reason.FUTURE_TS),
        (b'{"seq": 1, "ts": "1969-12-31T00:00:00Z", "engine_hours": 1}', Reason.ANCIENT_TS),
        (b'{"seq": -1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1}', Reason.BAD_SEQ),
        (b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": -5}', Reason.OUT_OF_RANGE),
        (
            b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1, "boom_cycles": 3}',
            Reason.KIND_MISMATCH,
        ),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload: bytes, reason: Reason) -> None:
    out = validate(ADDR, TRACTOR, payload, NOW)
    assert out.readings == []
    assert [r.reason for r in out.rejects] == [reason]


def test_unknown_serial_is_rejected() -> None:
    out = validate(ADDR, None, encode(reading()), NOW)
    assert [r.reason for r in out.rejects] == [Reason.UNKNOWN_MACHINE]


def test_topic_kind_must_match_the_machine() -> None:
    out = validate(ADDR, MachineRef(id=7, kind=Kind.EXCAVATOR), encode(reading()), NOW)
    assert [r.reason for r in out.rejects] == [Reason.KIND_MISMATCH]


def test_oversize_payload_is_rejected_before_decoding() -> None:
    out = validate(ADDR, TRACTOR, b"[" + b" " * MAX_PAYLOAD_BYTES + b"]", NOW)
    assert [r.reason for r in out.rejects] == [Reason.OVERSIZE]


def test_dm1_report_is_accepted_and_bad_dtc_rejected() -> None:
    faults = Address(Kind.TRACTOR, "TR-0001", Channel.FAULTS)
    good = Dm1(seq=5, ts=NOW, active=[Dtc(spn=110, fmi=0, oc=2)])
    bad = Dm1(seq=6, ts=NOW, active=[Dtc(spn=110, fmi=40)])
    out = validate(faults, TRACTOR, encode([good, bad]), NOW)
    assert [r.seq for r in out.reports] == [5]
    assert [r.reason for r in out.rejects] == [Reason.BAD_DTC]


def test_status_message_decodes() -> None:
    status = Address(Kind.TRACTOR, "TR-0001", Channel.STATUS)
    out = validate(status, TRACTOR, b'{"online": false}', NOW)
    assert out.status is not None
    assert out.status.online is False


# Regressions found by tests/unit/telemetry/test_validate_fuzz.py.


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        (
            Channel.TELEMETRY,
            b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1, "\xff": 1}',
        ),
        (
            Channel.FAULTS,
            b'{"seq": 1, "ts": "2026-11-23T11:00:00Z",'
            b' "active": [{"spn": 1, "fmi": 1, "lamp": "\xff"}]}',
        ),
        (Channel.STATUS, b'{"online": true, "\xed\xa0\x80": 1}'),
    ],
)
def test_invalid_utf8_in_a_key_or_enum_is_not_json(channel: Channel, payload: bytes) -> None:
    # msgspec raises UnicodeDecodeError here, not DecodeError; it escaped validate() and
    # stopped the ingest worker on a message the broker then redelivered for ever.
    out = validate(Address(Kind.TRACTOR, "TR-0001", channel), TRACTOR, payload, NOW)
    assert [r.reason for r in out.rejects] == [Reason.NOT_JSON]


def test_detail_never_carries_a_nul_from_the_payload() -> None:
    # PostgreSQL text cannot hold NUL: storing this detail failed the ingest batch.
    payload = b'{"seq": 1, "ts": "2026-11-23T11:00:00Z", "engine_hours": 1, "\\u0000x": 1}'
    out = validate(ADDR, TRACTOR, payload, NOW)
    assert [r.reason for r in out.rejects] == [Reason.BAD_SCHEMA]
    assert "\x00" not in out.rejects[0].detail
    assert "\\x00x" in out.rejects[0].detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"online": true, "ts": "2026-11-23T13:00:00Z"}', Reason.FUTURE_TS),
        (b'{"online": true, "ts": "2026-11-23T11:00:00"}', Reason.NO_TIMEZONE),
    ],
)
def test_status_with_a_broken_clock_is_rejected(payload: bytes, reason: Reason) -> None:
    # A status ts from the future made machine_state ignore every later status message.
    status = Address(Kind.TRACTOR, "TR-0001", Channel.STATUS)
    out = validate(status, TRACTOR, payload, NOW)
    assert out.status is None
    assert [r.reason for r in out.rejects] == [reason]


def test_one_malformed_reading_in_a_batch_keeps_the_good_ones() -> None:
    payload = b"[" + encode(reading(1)) + b', {"seq": "two"}, ' + encode(reading(3)) + b"]"
    out = validate(ADDR, TRACTOR, payload, NOW)
    assert [r.seq for r in out.readings] == [1, 3]
    assert [r.reason for r in out.rejects] == [Reason.BAD_SCHEMA]
    assert out.rejects[0].detail.startswith("item 1: ")


def test_deeply_nested_item_in_a_bad_batch_is_rejected_not_raised() -> None:
    payload = b'[{"seq": "x"}, ' + b"[" * 100_000 + b"]" * 100_000 + b"]"
    out = validate(ADDR, TRACTOR, payload, NOW)
    assert out.readings == []
    assert [r.reason for r in out.rejects] == [Reason.BAD_SCHEMA]
