"""bench_ingest.py's subscriber processes: bare subscribers that only count and acknowledge (the
ceiling: with ingest's own receiver, telemetry.mqtt_receiver, and with paho-mqtt for reference)
and a naive ingest (paho) that stores each message with its own INSERT and COMMIT before it
acknowledges it. All use the same kind of subscription as `ironlink ingest`: MQTT 5, QoS 1,
$share/<group>/ironlink/v1/+/+/+, a persistent session and the same Receive Maximum."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemetry.mqtt_receiver import Message, Receiver, ReceiverConfig
from telemetry.wire import SUBSCRIPTION, Reading

POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class SubscriberConfig:
    # "receiver" and "paho" count (and acknowledge at once); "naive" stores every message with
    # its own commit (paho)
    role: str
    host: str
    port: int
    user: str
    password: str
    group: str
    client_prefix: str
    receive_maximum: int
    session_expiry_s: int
    topic_prefix: str  # only messages on topics starting with this are counted or stored
    database_url: str = ""
    machine_ids: dict[str, int] | None = None


NAIVE_INSERT = (
    "INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm, load_pct, coolant_c, oil_kpa,"
    " fuel_pct, fuel_lph, def_pct, battery_v, hyd_oil_c, hyd_bar, lat, lon, speed_kmh, pto_rpm,"
    " boom_cycles, idle_hours) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def subscriber_main(
    cfg: SubscriberConfig,
    index: int,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    counts: SynchronizedArray[int],
    results: multiprocessing.Queue[tuple[int, int, float, float]],
) -> None:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{cfg.client_prefix}-{index}",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=cfg.role == "naive",
    )
    client.username_pw_set(cfg.user, cfg.password)
    client.max_inflight_messages_set(65_535)
    received, first, last = 0, 0.0, 0.0
    conn: psycopg.Connection[Any] | None = None
    decode = msgspec.json.Decoder(Reading).decode
    ids = cfg.machine_ids or {}
    if cfg.role == "naive":
        conn = psycopg.connect(cfg.database_url)

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        c.subscribe(f"$share/{cfg.group}/{SUBSCRIPTION}", qos=1)

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, reasons: Any, props: Any) -> None:
        if not any(r.is_failure for r in reasons):
            ready.set()

    # The bench broker may carry other runs' traffic; only this run's machines count.
    ours = cfg.topic_prefix

    def count(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal received, first, last
        if not msg.topic.startswith(ours):
            return
        last = time.monotonic()
        if not received:
            first = last
        received += 1

    def store(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal received, first, last
        assert conn is not None
        machine_id = ids.get(msg.topic.split("/")[3])
        if machine_id is None:
            c.ack(msg.mid, msg.qos)
            return
        r = decode(msg.payload)
        conn.execute(
            NAIVE_INSERT,
            (
                machine_id, r.ts, r.seq, r.engine_hours, r.rpm, r.load_pct,
                r.coolant_c, r.oil_kpa, r.fuel_pct, r.fuel_lph, r.def_pct, r.battery_v,
                r.hyd_oil_c, r.hyd_bar, r.lat, r.lon, r.speed_kmh, r.pto_rpm, r.boom_cycles,
                r.idle_hours,
            ),
        )  # fmt: skip
        conn.commit()
        c.ack(msg.mid, msg.qos)
        last = time.monotonic()
        if not received:
            first = last
        received += 1

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = count if cfg.role == "paho" else store
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = cfg.session_expiry_s
    props.ReceiveMaximum = cfg.receive_maximum
    client.connect(cfg.host, cfg.port, keepalive=30, clean_start=False, properties=props)
    client.loop_start()
    try:
        while not stop.wait(POLL_S):
            counts[index] = received
        counts[index] = received
    finally:
        client.disconnect()
        client.loop_stop()
        if conn is not None:
            conn.close()
    results.put((index, received, first, last))


def receiver_main(
    cfg: SubscriberConfig,
    index: int,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    counts: SynchronizedArray[int],
    results: multiprocessing.Queue[tuple[int, int, float, float]],
) -> None:
    """Ingest's receiver with nothing behind it: each read's messages are counted and
    acknowledged at once, from the reader thread."""
    received, first, last = 0, 0.0, 0.0
    ours = cfg.topic_prefix
    receiver: Receiver

    def count(messages: list[Message]) -> None:
        nonlocal received, first, last
        receiver.ack(messages[0].generation, [m.packet_id for m in messages])
        n = sum(1 for m in messages if m.topic.startswith(ours))
        if n:
            last = time.monotonic()
            if not received:
                first = messages[0].received_s
            received += n

    receiver = Receiver(
        ReceiverConfig(
            host=cfg.host,
            port=cfg.port,
            client_id=f"{cfg.client_prefix}-{index}",
            username=cfg.user,
            password=cfg.password,
            topic_filter=f"$share/{cfg.group}/{SUBSCRIPTION}",
            receive_maximum=cfg.receive_maximum,
            session_expiry_s=cfg.session_expiry_s,
        ),
        count,
    )
    receiver.start()
    try:
        if receiver.subscribed.wait(30):
            ready.set()
        while not stop.wait(POLL_S):
            counts[index] = received
        counts[index] = received
    finally:
        receiver.close()
    results.put((index, received, first, last))


class Subscribers:
    def __init__(self, cfg: SubscriberConfig, workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.cfg, self.workers = cfg, workers
        self.ready = [ctx.Event() for _ in range(workers)]
        self.stop = ctx.Event()
        self.counts = ctx.Array("q", workers)
        self.results: multiprocessing.Queue[tuple[int, int, float, float]] = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=receiver_main if cfg.role == "receiver" else subscriber_main,
                args=(cfg, i, self.ready[i], self.stop, self.counts, self.results),
                name=f"{cfg.role}-{i}",
            )
            for i in range(workers)
        ]

    @property
    def client_ids(self) -> list[str]:
        return [f"{self.cfg.client_prefix}-{i}" for i in range(self.workers)]

    def start(self, timeout_s: float = 30.0) -> None:
        for p in self.procs:
            p.start()
        deadline = time.monotonic() + timeout_s
        for event in self.ready:
            if not event.wait(max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"{self.cfg.role} subscribers did not subscribe in {timeout_s} s")

    def received(self) -> int:
        return int(sum(self.counts[:]))

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def kill(self) -> None:
        """After a failed run: the processes end before their sessions are cleared, or paho
        would reconnect them and recreate the sessions."""
        self.stop.set()
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)

    def finish(self) -> list[tuple[int, int, float, float]]:
        self.stop.set()
        out = [self.results.get(timeout=30) for _ in self.procs]
        for p in self.procs:
            p.join(30)
        return out
