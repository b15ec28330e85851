"""Publishing benchmark: the simulators' LinkPool (one connection and broker user per machine,
QoS 1, every message acknowledged) against paho-mqtt in the same run, with the same ~300-byte
telemetry payloads prepared in advance. One JSON line.

    .venv/bin/python tests/bench/bench_publish.py [--links N] [--messages M]

paho runs one network thread per client, so it gets a few links and a slice of the messages;
the figures compare messages per second, not totals.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from ironlink.broker_auth import device_password, sync_users
from ironlink.settings import Settings, load
from simulators.mqtt_link import LinkPool
from telemetry.wire import Channel, Kind, Reading, encode, topic

PAHO_LINKS = 4
PAHO_MESSAGES = 50_000
PAHO_MAX_INFLIGHT = 1_000  # the same window as LinkPool's default
PAHO_MAX_QUEUED = 10_000


def make_payloads(n: int, links: int) -> list[bytes]:
    """payloads[i] belongs to link i % links, whose seq and clock advance one sample a minute."""
    start = datetime.now(UTC) - timedelta(days=30)
    payloads = []
    for i in range(n):
        link, step = i % links, i // links
        load_pct = 40 + (i * 7919 % 550) / 10
        payloads.append(
            encode(
                Reading(
                    seq=step + 1,
                    ts=start + timedelta(minutes=step, seconds=link % 60),
                    engine_hours=round(1000 + link * 3.7 + step / 60, 3),
                    rpm=round(850 + 12.5 * load_pct, 0),
                    load_pct=round(load_pct, 1),
                    coolant_c=round(84 + load_pct / 20, 1),
                    oil_kpa=round(300 + 2.1 * load_pct, 0),
                    fuel_pct=round(95 - (step % 600) / 10, 1),
                    fuel_lph=round(2.5 + 0.3 * load_pct, 1),
                    def_pct=round(88 - (step % 600) / 30, 1),
                    battery_v=14.1,
                    hyd_oil_c=round(70 + load_pct / 25, 1),
                    hyd_bar=round(60 + 2.2 * load_pct, 0),
                    lat=round(52 + link / 1000 + step * 1e-6, 6),
                    lon=round(-1 - link / 1000 - step * 1e-6, 6),
                    speed_kmh=round(4 + (i % 80) / 10, 1),
                    pto_rpm=540.0,
                )
            )
        )
    return payloads


def bench_link_pool(
    settings: Settings, serials: list[str], payloads: list[bytes], *, pump_every: int
) -> tuple[float, int, int]:
    """Seconds from the first publish to the last PUBACK, acked, refused."""
    with LinkPool(settings.mqtt_host, settings.mqtt_port) as pool:
        links = [
            pool.add(f"bench-{s}", s, device_password(settings.device_secret, s)) for s in serials
        ]
        pool.connect_all()
        topics = [topic(Kind.TRACTOR, s, Channel.TELEMETRY) for s in serials]
        n, publish, pump = len(links), pool.publish, pool.pump
        t0 = time.perf_counter()
        for i, payload in enumerate(payloads):
            publish(links[i % n], topics[i % n], payload)
            if i % pump_every == pump_every - 1:
                pump()
        if not pool.flush(timeout_s=300):
            raise SystemExit(f"LinkPool: {pool.pending} messages unacknowledged after 300 s")
        elapsed = time.perf_counter() - t0
        return elapsed, pool.acked, pool.refused


def bench_paho(settings: Settings, serials: list[str], payloads: list[bytes]) -> float:
    """Seconds from the first publish to the last PUBACK with one paho client per serial."""
    acked = 0
    lock = threading.Lock()
    all_acked = threading.Event()

    def on_publish(c: mqtt.Client, u: Any, mid: int, reason: Any, props: Any) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == len(payloads):
                all_acked.set()

    clients = []
    for s in serials:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bench-paho-{s}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(s, device_password(settings.device_secret, s))
        client.max_inflight_messages_set(PAHO_MAX_INFLIGHT)
        client.max_queued_messages_set(PAHO_MAX_QUEUED)
        client.on_publish = on_publish
        client.connect(settings.mqtt_host, settings.mqtt_port)
        client.loop_start()
        clients.append(client)
    try:
        deadline = time.monotonic() + 15
        while not all(c.is_connected() for c in clients):
            if time.monotonic() > deadline:
                raise SystemExit("paho: not connected after 15 s")
            time.sleep(0.01)
        topics = [topic(Kind.TRACTOR, s, Channel.TELEMETRY) for s in serials]
        n = len(clients)
        t0 = time.perf_counter()
        for i, payload in enumerate(payloads):
            client = clients[i % n]
            while client.publish(topics[i % n], payload, qos=1).rc == (
                MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
            ):
                time.sleep(0.0005)  # queue full: let the network thread drain it
        if not all_acked.wait(timeout=300):
            raise SystemExit(f"paho: {len(payloads) - acked} messages unacknowledged after 300 s")
        return time.perf_counter() - t0
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300_000)
    # Each pump writes every link's buffered messages with one send(); pumping after about 100
    # messages per link keeps syscalls per message low while acknowledgements keep flowing.
    parser.add_argument("--pump-every", type=int, default=20_000)
    parser.add_argument("--paho-messages", type=int, default=PAHO_MESSAGES)
    args = parser.parse_args()
    settings = load(os.environ)
    serials = [f"B-PUB-{i:05d}" for i in range(args.links)]
    if sync_users(settings, serials):
        time.sleep(0.5)  # the broker re-reads its password file after SIGHUP, asynchronously
    payloads = make_payloads(args.messages, args.links)
    ours_s, acked, refused = bench_link_pool(
        settings, serials, payloads, pump_every=args.pump_every
    )
    paho_payloads = payloads[: args.paho_messages]
    paho_s = bench_paho(settings, serials[:PAHO_LINKS], paho_payloads)
    ours_rate = args.messages / ours_s
    paho_rate = len(paho_payloads) / paho_s
    print(
        json.dumps(
            {
                "bench": "publish",
                "links": args.links,
                "messages": args.messages,
                "publish_msgs_per_s": round(ours_rate),
                "paho_msgs_per_s": round(paho_rate),
                "ratio_to_paho": round(ours_rate / paho_rate, 2),
                "acked": acked,
                "refused": refused,
            }
        )
    )


if __name__ == "__main__":
    main()
