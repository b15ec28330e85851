"""One controller's MQTT link: paho 2.x, MQTT v5, QoS 1, its own credentials, birth and last
will."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from telemetry.wire import Channel, Dm1, Kind, Reading, Status, encode, topic

log = logging.getLogger(__name__)

# A QoS 1 publisher with too many messages in flight loses messages in paho; bound the queue and
# wait for acknowledgements instead.
MAX_INFLIGHT: Final = 200
MAX_QUEUED: Final = 2_000


class ControllerLink:
    def __init__(self, *, kind: Kind, serial: str, password: str, host: str, port: int) -> None:
        self.kind, self.serial = kind, serial
        self.connected = threading.Event()
        self.published = 0
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"ctl-{serial}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(serial, password)
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.max_queued_messages_set(MAX_QUEUED)
        self.client.reconnect_delay_set(1, 30)
        self.client.will_set(
            self._topic(Channel.STATUS), encode(Status(online=False)), qos=1, retain=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _topic(self, channel: Channel) -> str:
        return topic(self.kind, self.serial, channel)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("%s: connect refused: %s", self.serial, reason)
            return
        birth = encode(Status(online=True, ts=datetime.now(UTC)))
        client.publish(self._topic(Channel.STATUS), birth, qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()

    def send(self, payload: Reading | list[Reading] | Dm1) -> None:
        channel = Channel.FAULTS if isinstance(payload, Dm1) else Channel.TELEMETRY
        data = encode(payload)
        while True:
            info = self.client.publish(self._topic(channel), data, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                break
            time.sleep(0.01)  # queue full: wait for the broker's acknowledgements
        self.published += 1

    def pending(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return len(self.client._out_messages)  # paho keeps unacknowledged QoS>0 messages here

    def close(self, *, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        # A clean stop says goodbye on purpose; the last will is for losing the link.
        self.client.publish(
            self._topic(Channel.STATUS),
            encode(Status(online=False, ts=datetime.now(UTC))),
            qos=1,
            retain=True,
        )
        time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()
