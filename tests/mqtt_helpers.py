"""Real MQTT clients for tests: a machine publishing with its own credentials, and an ingest worker
running in a thread against the real broker and database."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ironlink.broker_auth import device_password, sync_users
from ironlink.settings import Settings
from simulators import fleet
from simulators.fleet import FleetConfig, RunStats
from telemetry.ingest import IngestWorker, OnCommitted


def connack_reason(client: mqtt.Client, host: str, port: int) -> str:
    """Connects `client` and returns the CONNACK's reason, e.g. "Success" or "Not authorized"."""
    result: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        result.append(str(reason))
        done.set()

    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()
    return result[0] if result else "no answer"


def machine_client(settings: Settings, serial: str, *, password: str | None = None) -> mqtt.Client:
    sync_users(settings, [serial])
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"test-{serial}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(
        serial,
        password if password is not None else device_password(settings.device_secret, serial),
    )
    return client


def publish(settings: Settings, serial: str, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publishes (topic, payload) pairs at QoS 1 as machine `serial` and waits for every PUBACK."""
    client = machine_client(settings, serial)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def running_ingest(
    settings: Settings, *, on_committed: OnCommitted | None = None, serve_metrics: bool = False
) -> Iterator[IngestWorker]:
    worker = IngestWorker(settings, on_committed=on_committed, serve_metrics=serve_metrics)
    thread = threading.Thread(target=worker.run, name="ingest", daemon=True)
    thread.start()
    try:
        assert worker.subscribed.wait(timeout=15), "ingest did not subscribe"
        yield worker
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "ingest did not stop"


def run_fleet(settings: Settings, config: FleetConfig, *, timeout_s: float = 120.0) -> RunStats:
    """Runs a simulated fleet with a fixed start to its end (or timeout_s), every machine with its
    own broker credentials; returns once every message is acknowledged."""
    assert config.start is not None, "a fleet with a fixed start ends by itself"
    return fleet.run(
        config,
        passwords={
            m.serial: device_password(settings.device_secret, m.serial) for m in config.machines
        },
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        stop=threading.Event(),
        duration_s=timeout_s,
    )
