"""The simulators' LinkPool against the real Mosquitto: per-device credentials and ACL, exactly-once
delivery without faults, will and birth, at-least-once delivery across a dropped connection,
links that reconnect by themselves when a (private) broker restarts, and messages that reached no
subscriber held until one subscribes."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ironlink.broker_auth import device_password, sync_users
from ironlink.settings import Settings
from simulators.mqtt_link import Link, LinkPool, LinkRefused, LinkState
from telemetry.mqtt_packets import Will
from telemetry.wire import Status, encode
from tests.private_broker import private_broker

pytestmark = pytest.mark.usefixtures("broker")


def new_serials(n: int) -> list[str]:
    return [f"T-LNK-{uuid.uuid4().hex[:6].upper()}" for _ in range(n)]


def telemetry(serial: str) -> str:
    return f"ironlink/v1/tractor/{serial}/telemetry"


def status(serial: str) -> str:
    return f"ironlink/v1/tractor/{serial}/status"


@dataclass
class Received:
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.messages)

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes, bool]]], bool], timeout_s: float = 30.0
    ) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(got := self.snapshot()):
                return got
            time.sleep(0.05)
        raise AssertionError(f"not received in time; {len(self.snapshot())} messages so far")


@contextmanager
def subscribed(settings: Settings, topics: Sequence[str]) -> Iterator[Received]:
    """A paho client as the ingest service user, subscribed at QoS 1 before the block runs."""
    received = Received()
    ready = threading.Event()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(settings.mqtt_user, settings.mqtt_password)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        with received.lock:
            received.messages.append((m.topic, bytes(m.payload), bool(m.retain)))

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        assert ready.wait(10), "subscriber did not subscribe"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def link_pool(settings: Settings, **kw: int) -> Iterator[LinkPool]:
    with LinkPool(settings.mqtt_host, settings.mqtt_port, **kw) as pool:
        yield pool


def add_device(
    pool: LinkPool, settings: Settings, serial: str, *, with_status: bool = False
) -> Link:
    return pool.add(
        f"test-{serial}",
        serial,
        device_password(settings.device_secret, serial),
        will=Will(status(serial), encode(Status(online=False))) if with_status else None,
        birth=(status(serial), encode(Status(online=True))) if with_status else None,
    )


def test_every_message_of_many_links_arrives_exactly_once(base_settings: Settings) -> None:
    serials = new_serials(20)
    sync_users(base_settings, serials)
    expected = {(telemetry(s), f"{s}:{i}".encode()) for s in serials for i in range(500)}
    with (
        subscribed(base_settings, [f"ironlink/v1/+/{s}/+" for s in serials]) as received,
        link_pool(base_settings) as pool,
    ):
        links = [add_device(pool, base_settings, s) for s in serials]
        pool.connect_all()
        for i in range(500):
            for link in links:
                pool.publish(link, telemetry(link.username), f"{link.username}:{i}".encode())
            if i % 50 == 0:
                pool.pump()
        assert pool.flush(30)
        received.wait_for(lambda got: len(got) >= len(expected))
        time.sleep(0.3)  # a duplicate would land now
        counts = collections.Counter((t, p) for t, p, _ in received.snapshot())
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    assert (pool.sent, pool.acked, pool.refused, pool.pending) == (10_000, 10_000, 0, 0)


def test_a_wrong_password_is_refused_naming_the_user(base_settings: Settings) -> None:
    (serial,) = new_serials(1)
    sync_users(base_settings, [serial])
    with link_pool(base_settings) as pool:
        link = pool.add(f"test-{serial}", serial, "guess")
        with pytest.raises(LinkRefused, match=rf"^{serial}: broker refused the connection: "):
            pool.connect_all()
        assert link.state is LinkState.DOWN
        assert link.refusal in {0x86, 0x87}


def test_another_serials_topic_is_refused_and_not_delivered(base_settings: Settings) -> None:
    own, other = new_serials(2)
    sync_users(base_settings, [own, other])
    with (
        subscribed(base_settings, [f"ironlink/v1/+/{s}/+" for s in (own, other)]) as received,
        link_pool(base_settings) as pool,
    ):
        link = add_device(pool, base_settings, own)
        pool.connect_all()
        pool.publish(link, telemetry(other), b"forged")
        for i in range(5):
            pool.publish(link, telemetry(own), f"own:{i}".encode())
        assert pool.flush(10)
        received.wait_for(lambda got: len(got) >= 5)
        time.sleep(0.3)
        got = received.snapshot()
    assert (link.refused, link.acked) == (1, 5)
    assert [(t, p) for t, p, _ in got] == [(telemetry(own), f"own:{i}".encode()) for i in range(5)]


def test_drop_delivers_the_retained_will_and_reconnect_resends_what_was_in_flight(
    base_settings: Settings,
) -> None:
    (serial,) = new_serials(1)
    sync_users(base_settings, [serial])
    online, offline = (
        (status(serial), encode(Status(online=True))),
        (status(serial), encode(Status(online=False))),
    )
    in_flight = [f"m{i}".encode() for i in range(200)]
    while_down = [f"d{i}".encode() for i in range(50)]
    with (
        subscribed(base_settings, [f"ironlink/v1/+/{serial}/+"]) as received,
        link_pool(base_settings) as pool,
    ):
        link = add_device(pool, base_settings, serial, with_status=True)
        pool.connect_all()
        assert pool.flush(10)
        received.wait_for(lambda got: online in [(t, p) for t, p, _ in got])

        for payload in in_flight:
            pool.publish(link, telemetry(serial), payload)
        pool.pump()  # written, but the PUBACKs are never read on this connection
        assert len(link.inflight) == len(in_flight)
        pool.drop(link)
        received.wait_for(lambda got: offline in [(t, p) for t, p, _ in got])
        with subscribed(base_settings, [status(serial)]) as late:
            late.wait_for(lambda got: [(*offline, True)] == got, 10)  # the will is retained

        for payload in while_down:
            pool.publish(link, telemetry(serial), payload)
        assert pool.pending == len(in_flight) + len(while_down)
        pool.reconnect(link)
        pool.connect_all()
        assert pool.flush(10)
        got = received.wait_for(
            lambda got: (
                {p for _, p, _ in got} >= {*in_flight, *while_down}
                and [(t, p) for t, p, _ in got].count(online) == 2
            )
        )
    statuses = [p for t, p, _ in got if t == status(serial)]
    assert statuses == [online[1], offline[1], online[1]]
    telemetry_payloads = [p for t, p, _ in got if t == telemetry(serial)]
    # after the reconnect: resends first, in their original order, then what was queued
    after = telemetry_payloads[-len(in_flight + while_down) :]
    assert after == in_flight + while_down
    assert link.resent == len(in_flight)
    assert link.connects == 2
    assert (pool.acked, pool.pending) == (1 + len(in_flight) + 1 + len(while_down), 0)


def test_a_dropped_link_stays_down_until_reconnect(base_settings: Settings) -> None:
    (serial,) = new_serials(1)
    sync_users(base_settings, [serial])
    with link_pool(base_settings) as pool:
        link = add_device(pool, base_settings, serial)
        pool.connect_all()
        pool.drop(link)
        deadline = time.monotonic() + 1.5  # longer than the first automatic retry could wait
        while time.monotonic() < deadline:
            pool.pump(0.05)
        assert (link.state, link.auto_reconnects, link.connects) == (LinkState.DOWN, 0, 1)


@contextmanager
def persistent_subscriber(port: int, topic: str) -> Iterator[Received]:
    """A paho client with a persistent session, reconnecting by itself within a second or two."""
    received = Received()
    ready = threading.Event()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=2)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        with received.lock:
            received.messages.append((m.topic, bytes(m.payload), bool(m.retain)))

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 300
    # Not a clean start even the first time (the client id is new anyway): Mosquitto 2.0.11
    # keeps a session begun with clean start in memory only, and loses it when it restarts.
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert ready.wait(10), "subscriber did not subscribe"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def test_links_reconnect_by_themselves_when_the_broker_restarts(tmp_path: Path) -> None:
    total, stop_at, start_at = 3_000, 1_000, 2_000
    with (
        private_broker(tmp_path) as broker,
        persistent_subscriber(broker.port, "ironlink/v1/#") as received,
        LinkPool("127.0.0.1", broker.port) as pool,
    ):
        links = [pool.add(f"test-dev-{i}", f"DEV-{i}", "any") for i in range(5)]
        pool.connect_all()
        expected = set()
        for i in range(total):
            link = links[i % len(links)]
            payload = f"{link.username}:{i}".encode()
            pool.publish(link, telemetry(link.username), payload)
            expected.add(payload)
            if i % 50 == 49:
                pool.pump()
            if i == stop_at:  # mid-stream: some messages in flight, more to come
                broker.stop()
            if i == start_at:
                # Down long enough that the first automatic reconnects are refused and retried.
                deadline = time.monotonic() + 1.5
                while time.monotonic() < deadline:
                    pool.pump(0.05)
                assert all(link.state is not LinkState.CONNECTED for link in links)
                broker.start()
        assert pool.flush(30)
        received.wait_for(lambda got: {p for _, p, _ in got} >= expected, 30)
    assert pool.pending == 0
    assert all(link.connects == 2 for link in links)
    assert all(link.auto_reconnects >= 2 for link in links)  # at least one refused attempt


def test_a_message_nobody_subscribes_to_is_held_until_someone_does(tmp_path: Path) -> None:
    # A private broker: on the shared one, an ingest session a test left behind (kept for a
    # minute, subscribed to every machine's topics) would take the message.
    with (
        private_broker(tmp_path) as broker,
        LinkPool("127.0.0.1", broker.port, hold_unrouted=True) as pool,
    ):
        link = pool.add("test-dev", "DEV-1", "any")
        pool.connect_all()
        pool.publish(link, telemetry("DEV-1"), b"kept")
        deadline = time.monotonic() + 1.0  # sent again once, after 0.5 s
        while time.monotonic() < deadline:
            pool.pump(0.05)
        assert link.unrouted >= 2
        assert (link.sent, link.acked, pool.pending) == (link.unrouted, 0, 1)
        with persistent_subscriber(broker.port, telemetry("DEV-1")) as received:
            assert pool.flush(10)
            got = received.wait_for(lambda got: len(got) >= 1, 10)
    assert [(t, p) for t, p, _ in got] == [(telemetry("DEV-1"), b"kept")]
    assert (link.acked, pool.pending, link.unrouted_delay_s) == (1, 0, 0)
