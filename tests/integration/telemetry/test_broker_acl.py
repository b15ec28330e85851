"""The broker's own rules, checked against the running Mosquitto: no anonymous clients, and a
machine may publish only under its own serial."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ironlink.settings import Settings
from tests.mqtt_helpers import connack_reason, machine_client, publish

pytestmark = pytest.mark.usefixtures("broker")


def test_anonymous_clients_are_refused(base_settings: Settings) -> None:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    assert (
        connack_reason(client, base_settings.mqtt_host, base_settings.mqtt_port) == "Not authorized"
    )


def test_a_wrong_password_is_refused(base_settings: Settings) -> None:
    client = machine_client(base_settings, "T-ACL-PW", password="guess")
    assert connack_reason(client, base_settings.mqtt_host, base_settings.mqtt_port) in {
        "Bad user name or password",
        "Not authorized",
    }


def test_a_machine_publishes_only_under_its_own_serial(base_settings: Settings) -> None:
    own, other = (f"T-ACL-{uuid.uuid4().hex[:6].upper()}" for _ in range(2))
    received: list[str] = []
    watcher = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    watcher.username_pw_set(base_settings.mqtt_user, base_settings.mqtt_password)
    subscribed = threading.Event()
    watcher.on_message = lambda c, u, m: received.append(m.topic)
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.on_connect = lambda c, *a: c.subscribe("ironlink/v1/tractor/+/telemetry", qos=1)
    watcher.connect(base_settings.mqtt_host, base_settings.mqtt_port)
    watcher.loop_start()
    try:
        assert subscribed.wait(10)
        publish(
            base_settings,
            own,
            [
                (
                    f"ironlink/v1/tractor/{other}/telemetry",
                    b"{}",
                ),  # forging another machine: dropped
                (f"ironlink/v1/tractor/{own}/telemetry", b"{}"),
            ],
        )
        deadline = time.monotonic() + 5
        while (
            f"ironlink/v1/tractor/{own}/telemetry" not in received and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    assert f"ironlink/v1/tractor/{own}/telemetry" in received
    assert f"ironlink/v1/tractor/{other}/telemetry" not in received
