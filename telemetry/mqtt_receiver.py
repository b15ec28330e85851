"""Ingest's MQTT 5 subscriber: one connection, a persistent session, QoS 1, acknowledgements that
the caller sends when it chooses (after its commit), in bulk.

Why not paho-mqtt: its MQTT 5 receive path spends ~150 us of Python per message on this machine
(a Properties object per PUBLISH, a few recv() calls per packet, one send() per PUBACK), which caps
one process at ~6,400 QoS 1 messages/s before any storage work; see tests/bench/bench_ingest.py,
which keeps bare paho subscribers as its reference. This receiver reads up to RECV_BYTES per
recv(), parses the packets in bulk (telemetry.mqtt_packets) and sends a batch's PUBACKs in one
send().

A thread of its own connects, subscribes, reads, answers keepalives and reconnects with backoff;
it hands each recv()'s messages to `on_messages` as one list. It stops reading while
receive_maximum messages are handed off and not yet acknowledged, so TCP pushes back on the broker:
Mosquitto 2.0.11 stops honouring the Receive Maximum once acknowledgements flow (its
db__message_delete_outgoing miscounts the in-flight quota; eclipse-mosquitto/mosquitto#2301), and
would otherwise flood a slower consumer without bound. Every connection has a generation
number: acks name the generation their messages arrived on and are sent only on that connection,
since packet ids mean nothing on another one (the broker redelivers unacknowledged messages after a
reconnect, and the unique keys absorb the repeat).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from telemetry.mqtt_packets import (
    CONNACK,
    DISCONNECT,
    PINGRESP,
    PROP_SERVER_KEEPALIVE,
    PUBLISH,
    SUBACK,
    MalformedPacket,
    connect_packet,
    disconnect_packet,
    parse_connack,
    parse_disconnect,
    parse_publish,
    parse_suback,
    pingreq_packet,
    puback_packets,
    reason_name,
    split_packets,
    subscribe_packet,
)

log = logging.getLogger(__name__)

RECV_BYTES: Final = 256 * 1024
RCVBUF_BYTES: Final = 4 * 1024 * 1024
CONNECT_TIMEOUT_S: Final = 10.0
# The reader wakes at least this often to check keepalive and stop, even on a silent connection.
TICK_S: Final = 1.0
# A restarting broker is back within a second or two: start retrying soon, back off to a cap.
RETRY_INITIAL_S: Final = 0.5
RETRY_MAX_S: Final = 15.0
SUBSCRIBE_PACKET_ID: Final = 1


class BrokerRefused(ConnectionError):
    """CONNACK or SUBACK with a failure reason code."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    packet_id: int  # 0 at QoS 0: nothing to acknowledge
    generation: int  # the connection it arrived on
    received_s: float  # time.monotonic() when its recv() returned


OnMessages = Callable[[list[Message]], None]


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    host: str
    port: int
    client_id: str
    username: str
    password: str
    topic_filter: str
    receive_maximum: int
    session_expiry_s: int
    keepalive_s: int = 30


class Receiver:
    def __init__(self, config: ReceiverConfig, on_messages: OnMessages) -> None:
        self.config = config
        self.on_messages = on_messages
        self.subscribed = threading.Event()  # set while subscribed on the current connection
        self.generation = 0
        self.connects = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._last_send_s = 0.0
        self._reached_subscribed = False  # this connection got as far as a granted SUBACK
        # QoS 1 messages handed off on this connection and not acknowledged yet; the reader
        # waits on _room while there are receive_maximum of them.
        self._unacked = 0
        self._room = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{config.client_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def ack(self, generation: int, packet_ids: Sequence[int]) -> int:
        """Sends PUBACKs for these packet ids if their connection is still the current one;
        returns how many were sent (0 when the connection changed or broke: the broker then
        redelivers them)."""
        ids = [i for i in packet_ids if i]
        if not ids:
            return 0
        packet = puback_packets(ids)
        with self._send_lock:
            if generation != self.generation or self._sock is None:
                return 0
            try:
                self._sock.sendall(packet)
            except OSError as exc:
                # Perhaps half a packet went out: only a new connection is safe. The reader sees
                # this one end and reconnects; the broker redelivers what was not acknowledged.
                log.warning("acknowledgements not sent (%s); reconnecting", exc)
                self._shutdown()
                return 0
            self._last_send_s = time.monotonic()
        with self._room:
            self._unacked -= len(ids)
            self._room.notify()
        return len(ids)

    def close(self, timeout_s: float = 5.0) -> None:
        """Ends the connection with DISCONNECT (the session stays for its expiry) and the thread."""
        self._stop.set()
        with self._send_lock:
            if self._sock is not None:
                try:
                    self._sock.sendall(disconnect_packet())
                except OSError:
                    pass
                self._shutdown()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _shutdown(self) -> None:
        """Wakes the reader with end of stream; called with the send lock held."""
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        delay = RETRY_INITIAL_S
        while not self._stop.is_set():
            self._reached_subscribed = False
            why = ""
            try:
                self._connection()
            except BrokerRefused as exc:
                log.error("%s: %s", self.config.client_id, exc)
                delay = RETRY_MAX_S  # wrong credentials or ACL: retrying soon will not help
            except (OSError, MalformedPacket) as exc:
                why = str(exc) or type(exc).__name__
            finally:
                self._drop()
            if self._reached_subscribed:
                delay = RETRY_INITIAL_S
            if self._stop.is_set():
                break
            if why:
                log.warning("MQTT connection lost (%s); reconnecting in %.1fs", why, delay)
            if self._stop.wait(delay):
                break
            delay = min(RETRY_MAX_S, delay * 2)

    def _drop(self) -> None:
        with self._send_lock:
            self.generation += 1  # no ack of this connection's messages goes anywhere now
            self.subscribed.clear()
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _connection(self) -> None:
        cfg = self.config
        sock = socket.create_connection((cfg.host, cfg.port), timeout=CONNECT_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        with self._send_lock:
            self.generation += 1
            self._sock = sock
        generation = self.generation
        with self._room:
            self._unacked = 0  # the broker redelivers the last connection's unacknowledged
        self._send(
            connect_packet(
                cfg.client_id,
                cfg.username,
                cfg.password,
                keepalive_s=cfg.keepalive_s,
                clean_start=False,
                session_expiry_s=cfg.session_expiry_s,
                will=None,
                receive_maximum=cfg.receive_maximum,
            )
        )
        keepalive_s = float(cfg.keepalive_s)
        ping_sent_s = 0.0
        rest = b""
        connected = False
        sock.settimeout(TICK_S)
        while not self._stop.is_set():
            if connected and self._unacked >= cfg.receive_maximum:
                with self._room:
                    self._room.wait(TICK_S)
                # Not reading: a PINGRESP may wait unread behind PUBLISHes, so only keep our
                # side alive (the broker reads our PINGREQs) and check for PINGRESP afterwards.
                ping_sent_s = 0.0
                if time.monotonic() - self._last_send_s >= keepalive_s / 2:
                    self._send(pingreq_packet())
                continue
            try:
                data = sock.recv(RECV_BYTES)
            except TimeoutError:
                data = None
            now = time.monotonic()
            if data == b"":
                raise ConnectionError("the broker closed the connection")
            if data:
                buf = rest + data if rest else data
                packets, used = split_packets(buf)
                rest = buf[used:]
                messages: list[Message] = []
                for kind, flags, body in packets:
                    if kind == PUBLISH:
                        p = parse_publish(flags, body)
                        messages.append(Message(p.topic, p.payload, p.packet_id, generation, now))
                    elif kind == CONNACK:
                        session_present, code, props = parse_connack(body)
                        if code >= 0x80:
                            raise BrokerRefused(
                                f"broker refused the connection: {reason_name(code)} (0x{code:02X})"
                            )
                        server_keepalive = props.get(PROP_SERVER_KEEPALIVE)
                        if isinstance(server_keepalive, int) and server_keepalive:
                            keepalive_s = float(server_keepalive)
                        connected = True
                        self.connects += 1
                        log.info(
                            "connected as %s, subscribing to %s (session present: %s)",
                            cfg.client_id,
                            cfg.topic_filter,
                            session_present,
                        )
                        # Always subscribe: a restarted Mosquitto 2.0 keeps persistent sessions
                        # but not their shared subscriptions.
                        self._send(subscribe_packet(SUBSCRIBE_PACKET_ID, cfg.topic_filter, qos=1))
                    elif kind == SUBACK:
                        _, codes = parse_suback(body)
                        if not codes or codes[0] >= 0x80:
                            code = codes[0] if codes else 0x80
                            raise BrokerRefused(
                                f"subscription to {cfg.topic_filter} refused: "
                                f"{reason_name(code)} (0x{code:02X})"
                            )
                        self._reached_subscribed = True
                        self.subscribed.set()
                    elif kind == PINGRESP:
                        ping_sent_s = 0.0
                    elif kind == DISCONNECT:
                        raise ConnectionError(
                            f"the broker disconnected us: {parse_disconnect(body)[1]}"
                        )
                if messages:
                    with self._room:
                        self._unacked += sum(1 for m in messages if m.packet_id)
                    self.on_messages(messages)
            if not connected:
                if now - self._last_send_s > CONNECT_TIMEOUT_S:
                    raise TimeoutError("no CONNACK")
                continue
            if ping_sent_s and now - ping_sent_s > keepalive_s:
                raise TimeoutError("no PINGRESP within the keepalive")
            if not ping_sent_s and now - self._last_send_s >= keepalive_s / 2:
                self._send(pingreq_packet())
                ping_sent_s = now

    def _send(self, packet: bytes) -> None:
        with self._send_lock:
            if self._sock is None:
                raise ConnectionError("not connected")
            self._sock.sendall(packet)
            self._last_send_s = time.monotonic()
