"""Hostile messages a machine can publish (everything under its own serial, which is all the ACL
lets it write), interleaved with its valid readings, through the real broker and a running ingest
worker: the worker survives and keeps consuming, every valid reading is stored exactly once, and
every hostile message lands in `rejected` with a reason and nothing of it in readings or faults.

The messages come from the strategies of tests/unit/telemetry/test_validate_fuzz.py, drawn
derandomized, so every run publishes the same ones.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ironlink.settings import Settings
from telemetry.validate import (
    MAX_PAYLOAD_BYTES,
    Address,
    MachineRef,
    Reason,
    parse_topic,
    validate,
)
from telemetry.wire import TOPIC_ROOT, Channel, Kind, Reading, encode, topic
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import publish, running_ingest
from tests.unit.telemetry.test_validate_fuzz import (
    LEVEL,
    Item,
    Json,
    any_payload,
    batches,
    dumps,
    nasty,
    reading_bodies,
    readings,
)

pytestmark = pytest.mark.usefixtures("broker")

HOSTILE = 100
VALID = 100
MIXED_BATCHES = 10

T = TypeVar("T")
Message = tuple[str, bytes]  # (topic, payload)


def draw_distinct(strategy: st.SearchStrategy[T], n: int, key: Callable[[T], Hashable]) -> list[T]:
    """Up to n examples with distinct keys (None: skip the example), the same on every run."""
    found: dict[Hashable, T] = {}

    @settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=8 * n,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        k = key(value)
        if k is not None and len(found) < n:
            found.setdefault(k, value)

    collect()
    return list(found.values())


def wait_for(predicate: Callable[[], bool], what: Callable[[], str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout_s}s: {what()}")


def count(conn: psycopg.Connection[tuple[object, ...]], query: str, *args: object) -> int:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return cast(int, row[0])


class Oracle:
    """What validation decides for a message of this machine, judged before it is published."""

    def __init__(self, serial: str, machine: MachineRef, now: datetime) -> None:
        self.serial, self.machine, self.now = serial, machine, now

    def judge(self, message: Message) -> tuple[list[str], list[int]]:
        """(reasons of its rejects, seqs of accepted readings; -1 for anything else accepted)."""
        address = parse_topic(message[0])
        if not isinstance(address, Address):
            return [address.reason.value], []
        machine = self.machine if address.serial == self.serial else None
        out = validate(address, machine, message[1], self.now)
        others = len(out.reports) + (out.status is not None)
        return [r.reason.value for r in out.rejects], [r.seq for r in out.readings] + [-1] * others

    def hostile(self, message: Message) -> Message | None:
        """The message if it is rejected at least once and nothing of it is accepted."""
        reasons, accepted = self.judge(message)
        return message if reasons and not accepted else None


def hostile_messages(serial: str, now: datetime) -> st.SearchStrategy[Message]:
    def own(channel: str, kind: str = Kind.TRACTOR) -> str:
        return f"{TOPIC_ROOT}/{kind}/{serial}/{channel}"

    payloads = any_payload(Kind.TRACTOR, now).map(lambda m: m.payload)
    valid_reading = reading_bodies(Kind.TRACTOR, now).map(lambda b: dumps({"seq": 7, **b}))
    return st.one_of(
        st.tuples(st.just(own(Channel.TELEMETRY)), payloads),
        st.tuples(st.sampled_from([own(Channel.FAULTS), own(Channel.STATUS)]), payloads),
        # Topics the ACL lets through: any kind and channel level under the machine's serial.
        st.tuples(st.just(own(Channel.TELEMETRY, Kind.EXCAVATOR)), valid_reading),
        st.tuples(
            st.sampled_from(["combine", "TRACTOR", "tractor ", "x"]).map(
                lambda k: own(Channel.TELEMETRY, k)
            )
            | LEVEL.filter(lambda k: k not in set(Kind)).map(lambda k: own(Channel.TELEMETRY, k)),
            valid_reading | payloads,
        ),
        st.tuples(
            st.sampled_from(["gossip", "Telemetry", "telemetry ", "fault"]).map(own)
            | LEVEL.filter(lambda c: c not in set(Channel)).map(own),
            valid_reading | payloads,
        ),
    )


@pytest.fixture
def tractor(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, str]:
    dealer = make_dealer(conn)
    return make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)


def test_hostile_messages_are_rejected_and_valid_readings_stored_once(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tractor: tuple[int, str]
) -> None:
    machine_id, serial = tractor
    now = datetime.now(UTC)
    oracle = Oracle(serial, MachineRef(machine_id, Kind.TRACTOR), now)
    telemetry = topic(Kind.TRACTOR, serial, Channel.TELEMETRY)

    pinned: list[Message] = [
        (topic(Kind.TRACTOR, serial, m.channel or Channel.TELEMETRY), m.payload) for m in nasty(now)
    ]
    one = encode(Reading(seq=1, ts=now - timedelta(hours=1), engine_hours=1.0))
    pinned.append((telemetry, b"[" + b",".join([one] * (MAX_PAYLOAD_BYTES // len(one))) + b"]"))
    hostile = [m for m in pinned if oracle.hostile(m)]
    assert len(hostile) == len(pinned), "a pinned hostile message is accepted"
    hostile += draw_distinct(
        hostile_messages(serial, now),
        HOSTILE - len(hostile),
        key=lambda m: None if m in pinned else oracle.hostile(m),
    )
    assert len(set(hostile)) == HOSTILE

    # Every good reading sits on one timeline whose engine hours only grow: ingest rejects hours
    # that go backwards, so random hours on good readings would not all be storable.
    start = now - timedelta(hours=6)

    def good(seq: int, signals: dict[str, Json] | None = None) -> dict[str, Json]:
        ts = (start + timedelta(seconds=seq)).isoformat()
        return {**(signals or {}), "seq": seq, "ts": ts, "engine_hours": 100 + seq / 3600}

    # Batches mixing good and bad readings; the good ones get seqs of their own.
    fresh = iter(range(1_001, 10_000))

    def renumbered(batch: list[Item]) -> list[Item]:
        return [i if i.bad else Item(good(next(fresh), i.value)) for i in batch]

    mixed_batches = [
        renumbered(b)
        for b in draw_distinct(
            batches(lambda seq: readings(kind=Kind.TRACTOR, now=now, seq=seq)),
            MIXED_BATCHES,
            key=lambda b: (
                dumps([i.value for i in b])
                if any(i.bad for i in b) and not all(i.bad for i in b)
                else None
            ),
        )
    ]
    mixed = [(telemetry, dumps([i.value for i in b])) for b in mixed_batches]
    valid = [(telemetry, dumps(good(seq))) for seq in range(1, VALID + 1)]

    expected_rejects: Counter[tuple[str, bytes, str]] = Counter()
    expected_seqs = list(range(1, VALID + 1))
    for message in hostile + mixed:
        reasons, accepted = oracle.judge(message)
        assert reasons
        # ingest keeps one row per (message, reason), however many readings it rejected
        expected_rejects.update((*message, reason) for reason in set(reasons))
        expected_seqs += accepted
    assert len(expected_seqs) > VALID, "no mixed batch kept a good reading"
    assert -1 not in expected_seqs

    messages = hostile + mixed + valid
    random.Random(20261123).shuffle(messages)
    own_rejects = "SELECT topic, payload, reason, detail FROM rejected WHERE topic LIKE %s"
    pattern = f"%/{serial}/%"

    def stored_seqs() -> list[int]:
        query = "SELECT seq FROM readings WHERE machine_id = %s ORDER BY seq"
        return [cast(int, r[0]) for r in conn.execute(query, (machine_id,))]

    def stored_rejects() -> Counter[tuple[str, bytes, str]]:
        rows = conn.execute(own_rejects, (pattern,)).fetchall()
        assert all(str(detail).strip() for *_, detail in rows)
        return Counter((str(t), cast(bytes, p), str(r)) for t, p, r, _ in rows)

    def progress() -> str:
        got = stored_rejects()
        missing = [(t, p[:80], r) for t, p, r in expected_rejects - got]
        return (
            f"{len(stored_seqs())}/{len(expected_seqs)} readings,"
            f" {got.total()}/{expected_rejects.total()} rejects, missing e.g. {missing[:3]}"
        )

    with running_ingest(settings) as worker:
        publish(settings, serial, messages)
        wait_for(
            lambda: (
                len(stored_seqs()) >= len(expected_seqs)
                and count(conn, "SELECT count(*) FROM rejected WHERE topic LIKE %s", pattern)
                >= expected_rejects.total()
            ),
            progress,
        )
        # Still consuming after all of it.
        last = Reading(seq=10_000, ts=now - timedelta(minutes=1), engine_hours=200.0)
        publish(settings, serial, [(telemetry, encode(last))])
        wait_for(lambda: last.seq in stored_seqs(), progress, timeout_s=15)
        assert any(t.name == "ingest" and t.is_alive() for t in threading.enumerate())
        assert not worker.stop.is_set()
        time.sleep(0.3)  # anything still in flight would land now

    assert stored_seqs() == sorted([*expected_seqs, last.seq])
    assert count(conn, "SELECT count(*) FROM faults WHERE machine_id = %s", machine_id) == 0
    got = stored_rejects()
    assert got == expected_rejects, progress()
    stored_reasons = {reason for *_, reason in got}
    assert stored_reasons <= {r.value for r in Reason}
    # The drawn messages exercise most of the vocabulary, not one reason a hundred times.
    assert len(stored_reasons) >= 8, stored_reasons
