"""Ingest's MQTT receiver against a real Mosquitto of the test's own: shared subscription,
acknowledgement only when asked, redelivery of what was not acknowledged, and reconnecting by
itself (subscription included) when the broker restarts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from simulators.mqtt_link import LinkPool
from telemetry.mqtt_receiver import Message, Receiver, ReceiverConfig
from tests.private_broker import PrivateBroker, private_broker


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    def put(self, messages: list[Message]) -> None:
        with self.lock:
            self.messages.extend(messages)

    def take(self) -> list[Message]:
        with self.lock:
            got, self.messages = self.messages, []
            return got

    def wait(self, predicate: Callable[[list[Message]], bool], timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.messages):
                    return
            time.sleep(0.02)
        raise AssertionError(f"not received in time; {len(self.messages)} so far")


@contextmanager
def receiver(broker: PrivateBroker, client_id: str, inbox: Inbox) -> Iterator[Receiver]:
    r = Receiver(
        ReceiverConfig(
            host="127.0.0.1",
            port=broker.port,
            client_id=client_id,
            username="ingest",
            password="any",
            topic_filter="$share/test/ironlink/v1/+/+/+",
            receive_maximum=1000,
            session_expiry_s=300,
        ),
        inbox.put,
    )
    r.start()
    try:
        assert r.subscribed.wait(10), "receiver did not subscribe"
        yield r
    finally:
        r.close()


def publish(broker: PrivateBroker, payloads: list[bytes]) -> None:
    with LinkPool("127.0.0.1", broker.port) as pool:
        link = pool.add(f"dev-{uuid.uuid4().hex[:6]}", "DEV-1", "any")
        pool.connect_all()
        for p in payloads:
            pool.publish(link, "ironlink/v1/tractor/DEV-1/telemetry", p)
        assert pool.flush(20)


def test_only_acknowledged_messages_are_not_delivered_again(tmp_path: Path) -> None:
    payloads = [f"m{i}".encode() for i in range(600)]
    inbox = Inbox()
    client_id = f"test-rx-{uuid.uuid4().hex[:6]}"
    with private_broker(tmp_path) as broker:
        with receiver(broker, client_id, inbox) as r:
            publish(broker, payloads)
            inbox.wait(lambda got: len(got) == len(payloads))
            first = inbox.take()
            assert [m.payload for m in first] == payloads  # one publisher: in order
            assert {m.generation for m in first} == {r.generation}
            assert r.ack(r.generation, [m.packet_id for m in first[:400]]) == 400
            # An acknowledgement naming another connection is not sent at all.
            assert r.ack(r.generation - 1, [m.packet_id for m in first[400:]]) == 0
            time.sleep(0.3)  # let the broker take the acknowledgements before we leave
        # Same session again: the broker redelivers exactly the 200 never acknowledged.
        with receiver(broker, client_id, inbox) as r:
            inbox.wait(lambda got: len(got) >= 200)
            time.sleep(0.5)
            again = inbox.take()
            assert sorted(m.payload for m in again) == sorted(payloads[400:])
            assert r.ack(r.generation, [m.packet_id for m in again]) == 200


def test_a_broker_restart_is_survived_subscription_included(tmp_path: Path) -> None:
    inbox = Inbox()
    with private_broker(tmp_path) as broker:
        with receiver(broker, f"test-rx-{uuid.uuid4().hex[:6]}", inbox) as r:
            publish(broker, [b"before"])
            inbox.wait(lambda got: len(got) == 1)
            before = r.generation
            broker.stop()
            broker.start()
            # Mosquitto 2.0 restores the session but not its shared subscription: the receiver
            # subscribes again on every connection.
            assert _wait(lambda: r.subscribed.is_set() and r.generation > before)
            publish(broker, [b"after"])
            inbox.wait(lambda got: any(m.payload == b"after" for m in got))
            assert r.connects == 2


def _wait(predicate: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
