"""Property tests: hostile topics and payloads never raise out of validation, and every message
ends as accepted rows that satisfy the wire contract or as rejects carrying a reason and a detail
that the `rejected` table can hold.

The strategies build messages a machine could send: arbitrary bytes and JSON, almost-valid
readings and DM1 reports with one field broken, batches mixing good and bad readings, hostile
topics. tests/integration/telemetry/test_ingest_fuzz.py publishes the same messages to a real
broker and ingest worker.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.signals import BY_NAME, Signal
from telemetry.validate import (
    EARLIEST_TS,
    MAX_FUTURE,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    Address,
    MachineRef,
    Outcome,
    Reason,
    Reject,
    check_signals,
    parse_topic,
    signals_plausible,
    validate,
)
from telemetry.wire import TOPIC_ROOT, Channel, Dm1, Kind, Lamp, Reading

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MACHINES = {"TR-0001": MachineRef(7, Kind.TRACTOR), "EX-0001": MachineRef(8, Kind.EXCAVATOR)}

# Stable in CI: the same examples on every run until the strategies or Hypothesis change; no
# example database written into the checkout.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Json = Any  # a JSON-encodable value (json.dumps, so NaN and Infinity become raw tokens)

READING_FIELDS = frozenset(Reading.__struct_fields__)
SIGNALS_BY_KIND = {
    kind: tuple(s for s in BY_NAME.values() if kind in s.kinds and s.name != "engine_hours")
    for kind in Kind
}
FOREIGN_SIGNALS = {kind: tuple(s for s in BY_NAME.values() if kind not in s.kinds) for kind in Kind}


# --- building blocks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One reading or DM1 report as JSON, and the reasons a validator may give if it is bad."""

    value: Json
    bad: frozenset[Reason] = frozenset()  # empty: a valid item that must be accepted


@dataclass(frozen=True, slots=True)
class Message:
    """A raw payload; `bad` (the reasons it may be rejected for on `channel`, or on any channel
    when that is None) is empty when the outcome is not pinned down."""

    payload: bytes
    bad: frozenset[Reason] = frozenset()
    channel: Channel | None = None

    def __repr__(self) -> str:  # payloads run to 256 KiB
        payload = self.payload if len(self.payload) <= 300 else self.payload[:300] + b"..."
        return f"Message({payload!r}, {sorted(self.bad)}, {self.channel})"


def dumps(value: Json) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def iso(ts: datetime) -> str:
    return ts.isoformat()


SPECIAL_FLOATS = st.sampled_from([1e308, -1e308, -0.0, 0.0, 5e-324, 1.7976931348623157e308])


def json_values(*, max_leaves: int = 12, surrogates: bool = True) -> st.SearchStrategy[Json]:
    """Any JSON value; with `surrogates`, also a lone surrogate escape, which is broken JSON."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**200), 2**200)
        | st.floats()  # NaN and +-Infinity become raw tokens in the JSON text
        | SPECIAL_FLOATS
        | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "\x00"])
        | (st.just("\ud800") if surrogates else st.nothing())
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"seq":' * depth + b"1" + b"}" * depth


OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=2)),
        timezone(-timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=14)),
    ]
)
BAD_SCHEMA = frozenset({Reason.BAD_SCHEMA})
# Wrong for every field of a reading or a report (an empty list would be a valid `active`), and
# apart from the booleans for a status.
WRONG_TYPES: st.SearchStrategy[Json] = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1.5", "", True, False, [1.0], {}, {"v": 1}]
)

# Strategies are built once: building them inside composites costs more than drawing from them.


@functools.cache
def valid_ts(now: datetime) -> st.SearchStrategy[str]:
    # A margin of a day on both sides keeps any offset inside EARLIEST_TS..now.
    return st.builds(
        lambda naive, tz: iso(naive.replace(tzinfo=tz)),
        st.datetimes(
            min_value=EARLIEST_TS.replace(tzinfo=None) + timedelta(days=1),
            max_value=now.replace(tzinfo=None) - timedelta(days=1),
        ),
        OFFSETS,
    )


def _in_range(signal: Signal) -> st.SearchStrategy[Json]:
    ints = st.integers(int(signal.lo), int(signal.hi))
    return ints if signal.name == "boom_cycles" else st.floats(signal.lo, signal.hi) | ints


def _out_of_range(signal: Signal) -> st.SearchStrategy[Json]:
    if signal.name == "boom_cycles":
        return st.integers(max_value=-1) | st.integers(int(signal.hi) + 1, 2**63 - 1)
    return (
        st.floats(min_value=signal.hi, exclude_min=True, allow_infinity=False)
        | st.floats(max_value=signal.lo, exclude_max=True, allow_infinity=False)
        | st.sampled_from([1e308, -1e308])
    )


IN_RANGE = {name: _in_range(signal) for name, signal in BY_NAME.items()}


@functools.cache
def reading_bodies(kind: Kind, now: datetime) -> st.SearchStrategy[dict[str, Json]]:
    """A valid reading without its seq; a few signals keep the draws cheap."""
    names = st.lists(
        st.sampled_from([s.name for s in SIGNALS_BY_KIND[kind]]), unique=True, max_size=3
    )

    @st.composite
    def body(draw: st.DrawFn) -> dict[str, Json]:
        reading = {"ts": draw(valid_ts(now)), "engine_hours": draw(IN_RANGE["engine_hours"])}
        reading.update((name, draw(IN_RANGE[name])) for name in draw(names))
        return reading

    return body()


DTCS = st.fixed_dictionaries(
    {"spn": st.integers(0, 524_287), "fmi": st.integers(0, 31)},
    optional={"oc": st.integers(0, 126), "lamp": st.sampled_from(["off", "amber", "red"])},
)


@functools.cache
def report_bodies(now: datetime) -> st.SearchStrategy[dict[str, Json]]:
    """A valid DM1 report without its seq."""
    return st.fixed_dictionaries({"ts": valid_ts(now), "active": st.lists(DTCS, max_size=3)})


# --- one-field mutations: each keeps the JSON well formed and breaks exactly one thing ----------


@dataclass(frozen=True, slots=True)
class Patch:
    bad: frozenset[Reason]
    set: tuple[tuple[str, Json], ...] = ()
    drop: str | None = None
    add_dtc: Json = None

    def apply(self, item: dict[str, Json]) -> dict[str, Json]:
        patched = {k: v for k, v in item.items() if k != self.drop}
        patched.update(self.set)
        if self.add_dtc is not None:
            patched["active"] = [*patched["active"], self.add_dtc]
        return patched


def _set(name: str, value: st.SearchStrategy[Json], *reasons: Reason) -> st.SearchStrategy[Patch]:
    return value.map(lambda v: Patch(frozenset(reasons), set=((name, v),)))


def _common_patches(
    fields: list[str], required: list[str], now: datetime
) -> st.SearchStrategy[Patch]:
    naive = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1))
    ahead_s = st.integers(int(MAX_FUTURE.total_seconds()) + 60, 10**11)
    return st.one_of(
        st.builds(
            lambda n, v: Patch(BAD_SCHEMA, set=((n, v),)), st.sampled_from(fields), WRONG_TYPES
        ),
        st.sampled_from(required).map(lambda n: Patch(BAD_SCHEMA, drop=n)),
        # Integers beyond 64 bits fail decoding; the rest fail the seq range check.
        _set(
            "seq",
            st.integers(max_value=-1) | st.integers(min_value=MAX_SEQ + 1) | st.just(1.0),
            Reason.BAD_SEQ,
            Reason.BAD_SCHEMA,
        ),
        _set("ts", naive.map(iso), Reason.NO_TIMEZONE),
        _set(
            "ts",
            ahead_s.map(
                lambda s: iso(min(now + timedelta(seconds=s), datetime(9999, 1, 1, tzinfo=UTC)))
            ),
            Reason.FUTURE_TS,
        ),
        _set(
            "ts",
            st.datetimes(max_value=datetime(1999, 12, 31), timezones=OFFSETS).map(iso),
            Reason.ANCIENT_TS,
        ),
        _set(
            "ts",
            st.sampled_from(["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-23 25:00Z", "\x00"])
            | st.integers()
            | st.text(max_size=30),
            Reason.BAD_SCHEMA,
        ),
        st.builds(
            lambda n, v: Patch(BAD_SCHEMA, set=((n, v),)),
            st.sampled_from(["\x00", "\x00seq", "é", "𐀀", "seq ", "SEQ", "rpm\n"])
            | st.text(max_size=12).filter(lambda n: n not in fields),
            json_values(surrogates=False),
        ),
    )


@functools.cache
def reading_patches(kind: Kind, now: datetime) -> st.SearchStrategy[Patch]:
    fields = sorted(READING_FIELDS)
    return st.one_of(
        _common_patches(fields, ["seq", "ts", "engine_hours"], now),
        st.one_of(
            *(
                _set(s.name, _out_of_range(s), Reason.OUT_OF_RANGE)
                for s in (BY_NAME["engine_hours"], *SIGNALS_BY_KIND[kind])
            )
        ),
        st.sampled_from(FOREIGN_SIGNALS[kind]).map(
            lambda s: Patch(frozenset({Reason.KIND_MISMATCH}), set=((s.name, 1),))
        ),
    )


def _bad_dtc_value(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(hi + 1, 2**63 - 1) | st.integers(-(2**63), lo - 1)


@functools.cache
def report_patches(now: datetime) -> st.SearchStrategy[Patch]:
    return st.one_of(
        _common_patches(["seq", "ts", "active"], ["seq", "ts"], now),
        st.one_of(
            _bad_dtc_value(0, 524_287).map(lambda v: {"spn": v, "fmi": 0}),
            _bad_dtc_value(0, 31).map(lambda v: {"spn": 110, "fmi": v}),
            _bad_dtc_value(0, 126).map(lambda v: {"spn": 110, "fmi": 0, "oc": v}),
        ).map(lambda dtc: Patch(frozenset({Reason.BAD_DTC}), add_dtc=dtc)),
        (
            st.sampled_from(
                [
                    {"spn": 110, "fmi": 0, "lamp": "blinking"},
                    {"spn": 110, "fmi": 0, "lamp": "\x00"},
                    {"spn": 110, "fmi": 0, "lamp": None},
                    {"spn": 110},
                    {"spn": 110, "fmi": 0, "\x00": 1},
                    {"spn": 110, "fmi": 0, "oc": 1.5},
                    {"spn": 2**70, "fmi": 0},
                ]
            )
            | st.text(max_size=10)
            .filter(lambda lamp: lamp not in set(Lamp))
            .map(lambda lamp: {"spn": 1, "fmi": 1, "lamp": lamp})
        ).map(lambda dtc: Patch(BAD_SCHEMA, add_dtc=dtc)),
    )


@st.composite
def readings(
    draw: st.DrawFn, *, kind: Kind, now: datetime, seq: int, valid: bool | None = None
) -> Item:
    reading = {"seq": seq, **draw(reading_bodies(kind, now))}
    if valid if valid is not None else draw(st.booleans()):
        return Item(reading)
    patch = draw(reading_patches(kind, now))
    return Item(patch.apply(reading), patch.bad)


@st.composite
def reports(draw: st.DrawFn, *, now: datetime, seq: int, valid: bool | None = None) -> Item:
    report = {"seq": seq, **draw(report_bodies(now))}
    if valid if valid is not None else draw(st.booleans()):
        return Item(report)
    patch = draw(report_patches(now))
    return Item(patch.apply(report), patch.bad)


@st.composite
def batches(
    draw: st.DrawFn, items: Callable[[int], st.SearchStrategy[Item]], *, size: int = 6
) -> list[Item]:
    seqs = draw(st.lists(st.integers(0, 10**9), unique=True, min_size=1, max_size=size))
    return [draw(items(seq)) for seq in seqs]


# --- whole payloads ----------------------------------------------------------------------------


@st.composite
def malformed_json(draw: st.DrawFn, *, kind: Kind, now: datetime) -> Message:
    """Payloads whose JSON text itself is broken: nothing in them can be accepted."""
    text = dumps({"seq": draw(st.integers(0, 10**6)), **draw(reading_bodies(kind, now))})
    choice = draw(st.integers(0, 5))
    if choice == 0:  # a raw NaN/Infinity token where a number belongs
        token = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"]))
        payload = text[:-1] + b', "rpm": ' + token + b"}"
    elif choice == 1:  # cut short
        payload = text[: draw(st.integers(0, len(text) - 1))]
    elif choice == 2:  # trailing garbage
        payload = text + draw(st.sampled_from([b"x", b"}", b",{}", b"\x00"]))
    elif choice == 3:  # a key that is not UTF-8
        key = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"seq\xfe", b"\x80abc"]))
        payload = b'{"' + key + b'": 1, ' + text[1:]
    elif choice == 4:  # the same inside a batch, after a good reading
        payload = b"[" + text + b', {"\xff": 1}]'
    else:  # a lone surrogate escape
        payload = b'{"\\ud800": 1, ' + text[1:]
    return Message(payload, frozenset({Reason.NOT_JSON}), Channel.TELEMETRY)


@st.composite
def oversize(draw: st.DrawFn, *, kind: Kind, now: datetime) -> Message:
    one = dumps({"seq": 1, **draw(reading_bodies(kind, now))})
    copies = MAX_PAYLOAD_BYTES // (len(one) + 1) + draw(st.integers(1, 50))
    return Message(b"[" + b",".join([one] * copies) + b"]", frozenset({Reason.OVERSIZE}))


def nasty(now: datetime) -> list[Message]:
    """Payloads met by earlier fuzzing, pinned so every run tries them whatever Hypothesis draws."""
    ts = iso(now - timedelta(hours=1)).encode()
    reading = b'{"seq": 1, "ts": "' + ts + b'", "engine_hours": 1'
    report = b'{"seq": 1, "ts": "' + ts + b'", "active": [{"spn": 1, "fmi": 1, "lamp": '
    telemetry, faults, status = Channel.TELEMETRY, Channel.FAULTS, Channel.STATUS
    not_json, bad_schema = frozenset({Reason.NOT_JSON}), frozenset({Reason.BAD_SCHEMA})
    return [
        # msgspec raised UnicodeDecodeError (not a DecodeError) for these: validate() raised.
        Message(reading + b', "\xff": 1}', not_json, telemetry),
        Message(b'{"\xed\xa0\x80": 1}', not_json, telemetry),
        Message(report + b'"\xff"}]}', not_json, faults),
        Message(b'{"online": true, "seq\xfe": 1}', not_json, status),
        # A NUL from the payload reached the detail, which PostgreSQL text cannot hold.
        Message(reading + b', "\\u0000": 1}', bad_schema, telemetry),
        Message(report + b'"\\u0000"}]}', bad_schema, faults),
        Message(b'{"online": true, "\\u0000": 1}', bad_schema, status),
        # Status ts was not checked at all.
        Message(
            b'{"online": true, "ts": "2999-01-01T00:00:00Z"}', frozenset({Reason.FUTURE_TS}), status
        ),
        Message(
            b'{"online": true, "ts": "2026-11-23T11:00:00"}',
            frozenset({Reason.NO_TIMEZONE}),
            status,
        ),
        # The per-item fallback must not recurse into deeply nested items.
        Message(b'[{"seq": "x"}, ' + _nested(100_000, "array") + b"]", bad_schema, telemetry),
        Message(_nested(100_000, "array"), bad_schema, telemetry),
        Message(_nested(20_000, "object"), bad_schema, telemetry),
        Message(b"", not_json, None),
        Message(reading + b', "rpm": NaN}', not_json, telemetry),
        Message(
            reading.replace(b'"seq": 1', b'"seq": ' + b"9" * 5000) + b"}", bad_schema, telemetry
        ),
        Message(
            reading.replace(b'"seq": 1', b'"seq": 18446744073709551615') + b"}",
            frozenset({Reason.BAD_SEQ}),
            telemetry,
        ),
        Message(
            reading.replace(ts, b"0001-01-01T00:00:00+23:59") + b"}",
            frozenset({Reason.ANCIENT_TS}),
            telemetry,
        ),
        Message(
            reading.replace(ts, b"9999-12-31T23:59:59-23:59") + b"}",
            frozenset({Reason.FUTURE_TS}),
            telemetry,
        ),
        Message(reading + b', "rpm": 1e308}', frozenset({Reason.OUT_OF_RANGE}), telemetry),
        Message(reading + b', "rpm": 1e999}', bad_schema, telemetry),
    ]


NASTY = nasty(NOW)


def any_payload(kind: Kind, now: datetime) -> st.SearchStrategy[Message]:
    """Every family of payload, good and bad, for a machine of this kind (OVERSIZE apart: its
    256 KiB examples are slow, so it has its own test)."""
    seq = st.integers(0, 10**6)

    def one_reading(seq: int) -> st.SearchStrategy[Item]:
        return readings(kind=kind, now=now, seq=seq)

    def one_report(seq: int) -> st.SearchStrategy[Item]:
        return reports(now=now, seq=seq)

    return st.one_of(
        st.sampled_from(nasty(now)),
        st.binary(max_size=200).map(Message),
        json_values().map(lambda v: Message(dumps(v))),
        st.builds(_nested, st.integers(1, 100_000), st.just("array")).map(Message),
        st.builds(_nested, st.integers(1, 20_000), st.just("object")).map(Message),
        seq.flatmap(one_reading).map(lambda i: Message(dumps(i.value), i.bad, Channel.TELEMETRY)),
        seq.flatmap(one_report).map(lambda i: Message(dumps(i.value), i.bad, Channel.FAULTS)),
        batches(one_reading).map(lambda b: Message(dumps([i.value for i in b]))),
        batches(one_report).map(lambda b: Message(dumps([i.value for i in b]))),
        statuses(now),
        malformed_json(kind=kind, now=now),
    )


@st.composite
def statuses(draw: st.DrawFn, now: datetime) -> Message:
    status: dict[str, Json] = {"online": draw(st.booleans())}
    choice = draw(st.integers(0, 6))
    if choice == 1:
        status["ts"] = draw(valid_ts(now))
        return Message(dumps(status), channel=Channel.STATUS)
    if choice == 2:
        status["ts"] = (now - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
        return Message(dumps(status), frozenset({Reason.NO_TIMEZONE}), Channel.STATUS)
    if choice == 3:
        status["ts"] = iso(now + timedelta(days=draw(st.integers(1, 2_700_000))))
        return Message(dumps(status), frozenset({Reason.FUTURE_TS}), Channel.STATUS)
    if choice == 4:
        status["online"] = draw(WRONG_TYPES.filter(lambda v: not isinstance(v, bool)))
        return Message(dumps(status), frozenset({Reason.BAD_SCHEMA}), Channel.STATUS)
    if choice == 5:
        status[draw(st.text(max_size=5).filter(lambda k: k not in {"online", "ts"}))] = 1
        return Message(dumps(status), frozenset({Reason.BAD_SCHEMA}), Channel.STATUS)
    if choice == 6:
        del status["online"]
        return Message(dumps(status), frozenset({Reason.BAD_SCHEMA}), Channel.STATUS)
    return Message(dumps(status), channel=Channel.STATUS)


# --- topics ------------------------------------------------------------------------------------

LEVEL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="/+#"),
    max_size=12,
)


def hostile_levels(valid: type[Kind] | type[Channel]) -> st.SearchStrategy[str]:
    return (
        st.sampled_from([v.value for v in valid])
        | st.sampled_from(
            ["", "TRACTOR", "Telemetry", "tractor ", "combine", "gossip", "telemetry\x00"]
        )
        | LEVEL
    )


def topics() -> st.SearchStrategy[str]:
    root = st.sampled_from([TOPIC_ROOT, TOPIC_ROOT, "ironlink/v2", "ironlink", "", "/ironlink/v1"])
    serial = st.sampled_from([*MACHINES, "", "TR-9999", "TR-0001 ", "x" * 70_000]) | LEVEL
    structured = st.builds(
        lambda r, k, s, c, extra: "/".join([r, k, s, c, *extra]),
        root,
        hostile_levels(Kind),
        serial,
        hostile_levels(Channel),
        st.lists(LEVEL, max_size=2),
    )
    return structured | st.text(max_size=60)


# --- the contract --------------------------------------------------------------------------------


def storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor unpaired surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def assert_reject_ok(reject: Reject) -> None:
    assert isinstance(reject.reason, Reason)
    assert isinstance(reject.detail, str)
    assert reject.detail.strip()
    assert storable(reject.detail), reject.detail


def assert_ts_ok(ts: datetime, now: datetime) -> None:
    assert ts.tzinfo is not None
    assert EARLIEST_TS <= ts <= now + MAX_FUTURE


def assert_reading_ok(reading: Reading, kind: Kind, now: datetime) -> None:
    assert isinstance(reading.seq, int)
    assert 0 <= reading.seq <= MAX_SEQ
    assert_ts_ok(reading.ts, now)
    for name, signal in BY_NAME.items():
        value = getattr(reading, name)
        if value is None:
            continue
        assert isinstance(value, int | float)
        assert not isinstance(value, bool)
        assert math.isfinite(value)
        assert kind in signal.kinds
        assert signal.lo <= value <= signal.hi


def assert_report_ok(report: Dm1, now: datetime) -> None:
    assert 0 <= report.seq <= MAX_SEQ
    assert_ts_ok(report.ts, now)
    for dtc in report.active:
        assert 0 <= dtc.spn <= 524_287
        assert 0 <= dtc.fmi <= 31
        assert 0 <= dtc.oc <= 126


def assert_outcome_ok(out: Outcome, address: Address, machine: MachineRef, payload: bytes) -> None:
    for reject in out.rejects:
        assert_reject_ok(reject)
    for reading in out.readings:
        assert_reading_ok(reading, machine.kind, NOW)
    for report in out.reports:
        assert_report_ok(report, NOW)
    if out.status is not None and out.status.ts is not None:
        assert_ts_ok(out.status.ts, NOW)
    accepted = bool(out.readings or out.reports or out.status)
    if not accepted and not out.rejects:
        # Nothing to store and nothing wrong: an event (not stored yet) or an empty backlog.
        assert address.channel is Channel.EVENTS or payload.strip() == b"[]", payload[:200]


def run(address: Address, payload: bytes) -> Outcome:
    return validate(address, MACHINES["TR-0001"], payload, NOW)


TRACTOR_PAYLOADS = any_payload(Kind.TRACTOR, NOW)


# --- properties ----------------------------------------------------------------------------------


@FUZZ
@given(topic=topics())
def test_parse_topic_never_raises_and_accepts_only_well_formed_topics(topic: str) -> None:
    result = parse_topic(topic)
    parts = topic.split("/")
    well_formed = (
        len(parts) == 5
        and "/".join(parts[:2]) == TOPIC_ROOT
        and parts[2] in set(Kind)
        and parts[4] in set(Channel)
    )
    if well_formed:
        assert result == Address(Kind(parts[2]), parts[3], Channel(parts[4]))
    else:
        assert isinstance(result, Reject)
        assert result.reason is Reason.BAD_TOPIC
        assert_reject_ok(result)


@FUZZ
@given(topic=topics(), message=TRACTOR_PAYLOADS)
def test_any_message_is_accepted_or_rejected_with_a_reason(topic: str, message: Message) -> None:
    """The ingest path for one message: topic, then machine lookup, then payload."""
    address = parse_topic(topic)
    if isinstance(address, Reject):
        assert_reject_ok(address)
        return
    machine = MACHINES.get(address.serial)
    out = validate(address, machine, message.payload, NOW)
    if machine is None:
        assert [r.reason for r in out.rejects] == [Reason.UNKNOWN_MACHINE]
    elif machine.kind is not address.kind:
        assert [r.reason for r in out.rejects] == [Reason.KIND_MISMATCH]
    else:
        assert_outcome_ok(out, address, machine, message.payload)
    for reject in out.rejects:
        assert_reject_ok(reject)


def check_payload(channel: Channel, message: Message) -> None:
    address = Address(Kind.TRACTOR, "TR-0001", channel)
    out = run(address, message.payload)
    assert_outcome_ok(out, address, MACHINES["TR-0001"], message.payload)
    if message.bad and message.channel in (None, channel):
        # A pinned-down bad message is rejected for one of its own reasons, nothing of it kept.
        assert out.rejects, message.payload[:200]
        assert {r.reason for r in out.rejects} <= message.bad, (message.payload[:200], out.rejects)
        assert out.readings == []
        assert out.reports == []
        assert out.status is None


@FUZZ
@given(data=st.data(), message=TRACTOR_PAYLOADS)
def test_any_payload_on_a_data_channel_is_accepted_or_rejected(
    data: st.DataObject, message: Message
) -> None:
    own = [message.channel] if message.channel else []
    channel = data.draw(st.sampled_from([*own, Channel.TELEMETRY, Channel.FAULTS, Channel.STATUS]))
    check_payload(channel, message)


@pytest.mark.parametrize("message", NASTY, ids=lambda m: repr(m.payload[:40]))
@pytest.mark.parametrize("channel", [Channel.TELEMETRY, Channel.FAULTS, Channel.STATUS])
def test_payloads_found_by_fuzzing_are_rejected(channel: Channel, message: Message) -> None:
    check_payload(channel, message)


@settings(FUZZ, max_examples=10)
@given(message=oversize(kind=Kind.TRACTOR, now=NOW))
def test_oversize_backlog_is_rejected_before_decoding(message: Message) -> None:
    out = run(Address(Kind.TRACTOR, "TR-0001", Channel.TELEMETRY), message.payload)
    assert [
        (r.reason, r.detail.startswith(f"{len(message.payload)} bytes")) for r in out.rejects
    ] == [(Reason.OVERSIZE, True)]
    assert out.readings == []


@FUZZ
@given(data=st.data(), kind=st.sampled_from(list(Kind)))
def test_mutated_reading_is_rejected_for_its_own_reason(data: st.DataObject, kind: Kind) -> None:
    seq = data.draw(st.integers(0, 10**6))
    item = data.draw(readings(kind=kind, now=NOW, seq=seq, valid=False))
    serial = "TR-0001" if kind is Kind.TRACTOR else "EX-0001"
    address = Address(kind, serial, Channel.TELEMETRY)
    out = validate(address, MACHINES[serial], dumps(item.value), NOW)
    assert out.readings == []
    assert len(out.rejects) == 1
    assert out.rejects[0].reason in item.bad, (item.value, out.rejects)
    assert_reject_ok(out.rejects[0])


@FUZZ
@given(data=st.data())
def test_mutated_report_is_rejected_for_its_own_reason(data: st.DataObject) -> None:
    item = data.draw(reports(now=NOW, seq=data.draw(st.integers(0, 10**6)), valid=False))
    out = run(Address(Kind.TRACTOR, "TR-0001", Channel.FAULTS), dumps(item.value))
    assert out.reports == []
    assert len(out.rejects) == 1
    assert out.rejects[0].reason in item.bad, (item.value, out.rejects)
    assert_reject_ok(out.rejects[0])


# Each example is a batch of up to six items: fewer examples cover as many items.
@settings(FUZZ, max_examples=100)
@given(data=st.data(), kind=st.sampled_from(list(Kind)))
def test_valid_readings_in_a_batch_survive_the_bad_ones(data: st.DataObject, kind: Kind) -> None:
    batch = data.draw(batches(lambda seq: readings(kind=kind, now=NOW, seq=seq)))
    serial = "TR-0001" if kind is Kind.TRACTOR else "EX-0001"
    payload = dumps([i.value for i in batch])
    out = validate(Address(kind, serial, Channel.TELEMETRY), MACHINES[serial], payload, NOW)
    assert sorted(r.seq for r in out.readings) == sorted(i.value["seq"] for i in batch if not i.bad)
    assert len(out.rejects) == sum(1 for i in batch if i.bad), out.rejects
    for reject in out.rejects:
        assert_reject_ok(reject)
        assert reject.reason in frozenset().union(*(i.bad for i in batch))


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_valid_reports_in_a_batch_survive_the_bad_ones(data: st.DataObject) -> None:
    batch = data.draw(batches(lambda seq: reports(now=NOW, seq=seq)))
    out = run(Address(Kind.TRACTOR, "TR-0001", Channel.FAULTS), dumps([i.value for i in batch]))
    assert sorted(r.seq for r in out.reports) == sorted(i.value["seq"] for i in batch if not i.bad)
    assert len(out.rejects) == sum(1 for i in batch if i.bad), out.rejects
    for reject in out.rejects:
        assert_reject_ok(reject)


@FUZZ
@given(message=malformed_json(kind=Kind.TRACTOR, now=NOW))
def test_malformed_json_rejects_the_whole_message_once(message: Message) -> None:
    out = run(Address(Kind.TRACTOR, "TR-0001", Channel.TELEMETRY), message.payload)
    assert out.readings == []
    assert [r.reason for r in out.rejects] == [Reason.NOT_JSON]
    assert_reject_ok(out.rejects[0])


@FUZZ
@given(message=statuses(NOW))
def test_status_is_accepted_only_with_a_sane_clock(message: Message) -> None:
    out = run(Address(Kind.TRACTOR, "TR-0001", Channel.STATUS), message.payload)
    if message.bad:
        assert out.status is None
        assert len(out.rejects) == 1
        assert out.rejects[0].reason in message.bad
    else:
        assert out.status is not None
        assert out.rejects == []


def _edge_value(signal: Signal) -> st.SearchStrategy[float | None]:
    """Absent, at or just beyond either bound, anywhere, or not finite."""
    edges = [signal.lo, signal.hi, math.nextafter(signal.lo, -math.inf)]
    edges.append(math.nextafter(signal.hi, math.inf))
    return st.one_of(
        st.none(), st.sampled_from(edges), st.floats(allow_nan=True, allow_infinity=True)
    )


@FUZZ
@given(kind=st.sampled_from(Kind), data=st.data())
def test_the_fast_signal_check_agrees_with_the_explaining_one(
    kind: Kind, data: st.DataObject
) -> None:
    """check_reading answers the common case with one expression compiled from the catalogue and
    asks check_signals only when that refuses: both must accept exactly the same readings. A
    valid reading with one signal (of either kind) at an edge or beyond."""
    values: dict[str, Any] = {
        s.name: data.draw(st.none() | st.floats(s.lo, s.hi), label=s.name)
        if kind in s.kinds
        else None
        for s in BY_NAME.values()
    }
    edge = data.draw(st.sampled_from(sorted(BY_NAME)), label="edge")
    values[edge] = data.draw(_edge_value(BY_NAME[edge]), label="edge value")
    reading = Reading(seq=1, ts=NOW, **values)
    assert signals_plausible(reading, kind) == (check_signals(reading, kind) is None)
