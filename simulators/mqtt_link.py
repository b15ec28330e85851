"""A lean MQTT 5 publisher for simulated fleets: many device connections, one thread, QoS 1.

paho-mqtt spends tens of microseconds of Python per QoS 1 message and one send() per packet, which
caps one process at a few thousand messages a second. LinkPool keeps every device's own connection
(its own credentials, will and birth) on one selector, appends pre-encoded PUBLISH packets to
per-connection buffers, writes each buffer with one send() per round and parses PUBACKs in bulk.
It only publishes: no subscriptions, no QoS 0 or 2, no TLS. This module holds the sockets and
connection state; telemetry.mqtt_packets builds and parses the packets.

Nothing happens on the network unless the caller pumps: pump(), flush(), connect_all(), close(),
and publish() when a connection's queue is full. Delivery is at least once: a message stays in
flight until its PUBACK and is resent with DUP=1 after reconnect(), so the receiver must absorb
duplicates (ingest does, by (machine, seq)).

A link that has been connected and goes down without being asked to (end of stream, reset, no
PINGRESP, DISCONNECT from the broker, a refused or failed reconnect) reconnects by itself from
pump(), resuming its session, with a backoff per link (RETRY_INITIAL_S doubling to RETRY_MAX_S,
jittered so a fleet does not reconnect in one burst). drop() is the caller's choice and stays down
until reconnect(); close() ends a link for good.

A PUBACK "no matching subscribers" (0x10) means the broker accepted the message but delivered it
to nobody, as after a Mosquitto restart until the ingest workers have re-subscribed. By default it
counts as acknowledged; with hold_unrouted a non-retained one is held by its link and published
again from pump() after a backoff per link (UNROUTED_RETRY_INITIAL_S doubling to
UNROUTED_RETRY_MAX_S), ahead of the link's queue.
"""

from __future__ import annotations

import enum
import errno
import logging
import math
import random
import selectors
import socket
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from telemetry.mqtt_packets import (
    CONNACK,
    DEFAULT_RECEIVE_MAXIMUM,
    DISCONNECT,
    MAX_PACKET_ID,
    PINGRESP,
    PROP_RECEIVE_MAXIMUM,
    PROP_SERVER_KEEPALIVE,
    PUBACK,
    MalformedPacket,
    Packet,
    Will,
    connect_packet,
    disconnect_packet,
    encode_topic,
    fixed_header,
    parse_connack,
    parse_disconnect,
    parse_publish,
    pingreq_packet,
    puback_run,
    reason_name,
    split_packets,
    with_dup,
)

log = logging.getLogger(__name__)

# One recv() takes up to 64k PUBACKs; a bigger buffer only costs memory.
RECV_BYTES: Final = 256 * 1024
# Per connection (the kernel doubles it): a burst of ~3,000 telemetry messages fits without
# EAGAIN, so one send() per connection and round is the common case.
SNDBUF_BYTES: Final = 1024 * 1024
# Keepalive checks walk every link; once a second is precise enough for keepalives of 10 s and up.
KEEPALIVE_CHECK_S: Final = 1.0
# How long close() waits for the broker to close a connection after our DISCONNECT.
CLOSE_WAIT_S: Final = 2.0
# Automatic reconnects: a restarting broker is back within a second or two; doubling from half a
# second finds it quickly without hammering it, and 5 s bounds the wait once it is back.
RETRY_INITIAL_S: Final = 0.5
RETRY_MAX_S: Final = 5.0
# Each delay is stretched by up to this share, differently per link, to spread a fleet's attempts.
RETRY_JITTER: Final = 0.5
# A broker that hands the session to another connection with the same client id would only take
# it back from us: fighting over it helps nobody, so this reason code is not retried.
_SESSION_TAKEN_OVER: Final = 0x8E
# A reconnect whose CONNACK does not come (a broker that accepts TCP but hangs) is given up and
# retried after this long.
CONNACK_TIMEOUT_S: Final = 10.0
# Resending what reached no subscriber (hold_unrouted): ingest re-subscribes within a second or
# two of a broker restart; doubling from half a second finds it soon without sending every held
# message again each round, and 5 s bounds the extra delay once it is back.
UNROUTED_RETRY_INITIAL_S: Final = 0.5
UNROUTED_RETRY_MAX_S: Final = 5.0
_NO_MATCHING_SUBSCRIBERS: Final = 0x10  # a PUBACK reason code: accepted, delivered to nobody
_RETAIN: Final = 0x01  # in a PUBLISH's first byte


class LinkRefused(ConnectionError):
    """The broker answered CONNECT with a failure reason code (wrong password, banned, ...)."""


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"  # TCP connect or CONNECT sent, no CONNACK yet
    CONNECTED = "connected"
    DOWN = "down"  # lost, dropped or refused; reconnect() brings it back
    CLOSED = "closed"  # DISCONNECT sent on purpose


# A module-level alias: an enum member looked up on its class costs ~0.2 us on the hot path.
_CONNECTED: Final = LinkState.CONNECTED


@dataclass(eq=False, slots=True)
class Link:
    """One device's connection. Read its counters; change it only through LinkPool."""

    client_id: str
    username: str
    password: str = field(repr=False)
    will: Will | None = None
    birth: tuple[str, bytes] | None = None  # (topic, payload), retained after every CONNACK
    state: LinkState = LinkState.CONNECTING
    sock: socket.socket | None = field(default=None, repr=False)
    out: bytearray = field(default_factory=bytearray, repr=False)
    rest: bytes = field(default=b"", repr=False)  # received bytes short of a whole packet
    # packet id -> encoded PUBLISH, oldest first: the resend order after a reconnect
    inflight: dict[int, bytes] = field(default_factory=dict, repr=False)
    # (encoded topic, payload, retain) waiting for a free in-flight slot
    queue: deque[tuple[bytes, bytes, bool]] = field(default_factory=deque, repr=False)
    sent: int = 0
    acked: int = 0
    refused: int = 0  # PUBACKs with a failure code (>= 0x80): the message is given up
    resent: int = 0
    unrouted: int = 0  # PUBACKs "no matching subscribers" (0x10), retained messages included
    # (encoded topic, payload, retain) answered 0x10, oldest first, until pump() queues them again
    held: list[tuple[bytes, bytes, bool]] = field(default_factory=list, repr=False)
    unrouted_at_s: float = 0.0  # when pump() queues the held messages again; 0 when not scheduled
    unrouted_delay_s: float = 0.0  # the last hold delay; 0 once a message was routed (0x00)
    connects: int = 0
    window: int = 0  # in-flight slots: min(broker's Receive Maximum, pool's max_inflight)
    keepalive_s: float = 60.0
    refusal: int | None = None  # CONNACK reason code of the last refused connect
    error: str | None = None  # why the connection was last lost
    next_packet_id: int = 1
    want_write: bool = False  # registered for EVENT_WRITE: the kernel buffer was full
    tcp_pending: bool = False
    closing: bool = False
    last_send_s: float = 0.0
    ping_sent_s: float = 0.0  # when an unanswered PINGREQ went out; 0 when none
    warned_refused: bool = False
    warned_queue: bool = False
    retry_at_s: float = 0.0  # when pump() reconnects this link by itself; 0 when not scheduled
    retry_delay_s: float = 0.0  # the last backoff delay; 0 after a successful CONNACK
    auto_reconnects: int = 0  # reconnect attempts pump() made by itself
    opened_s: float = 0.0  # when the current connection attempt started


class LinkPool:
    """Device connections to one broker, all driven by the caller's thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        keepalive_s: int = 60,
        max_inflight: int = 1000,
        max_queued: int = 10_000,
        session_expiry_s: int = 3600,
        hold_unrouted: bool = False,
    ) -> None:
        """hold_unrouted: a non-retained message answered "no matching subscribers" (0x10) is
        held and published again later, until a subscriber takes it; otherwise it counts as
        acknowledged (the broker has dropped it)."""
        if not 0 < max_inflight <= MAX_PACKET_ID:
            raise ValueError(f"max_inflight must be within 1..{MAX_PACKET_ID}")
        self.host, self.port = host, port
        self.keepalive_s = keepalive_s
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.session_expiry_s = session_expiry_s
        self.hold_unrouted = hold_unrouted
        self.links: list[Link] = []
        self._selector = selectors.DefaultSelector()
        self._dirty: set[Link] = set()  # links with bytes in their out buffer
        self._topics: dict[str, bytes] = {}
        self._address: tuple[int, tuple[str, int]] | None = None
        self._next_keepalive_check_s = 0.0
        self._retrying: set[Link] = set()  # links waiting for an automatic reconnect
        self._next_retry_s = 0.0
        self._holding: set[Link] = set()  # links with held messages waiting for their delay
        self._next_unrouted_s = 0.0
        self._jitter = random.Random()

    def __enter__(self) -> LinkPool:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            for link in self.links:
                self._close_socket(link)
            self._selector.close()

    @property
    def sent(self) -> int:
        return sum(link.sent for link in self.links)

    @property
    def acked(self) -> int:
        return sum(link.acked for link in self.links)

    @property
    def refused(self) -> int:
        return sum(link.refused for link in self.links)

    @property
    def resent(self) -> int:
        return sum(link.resent for link in self.links)

    @property
    def unrouted(self) -> int:
        return sum(link.unrouted for link in self.links)

    @property
    def pending(self) -> int:
        return sum(len(link.inflight) + len(link.queue) + len(link.held) for link in self.links)

    def add(
        self,
        client_id: str,
        username: str,
        password: str,
        *,
        will: Will | None = None,
        birth: tuple[str, bytes] | None = None,
    ) -> Link:
        link = Link(client_id, username, password, will=will, birth=birth)
        link.keepalive_s = float(self.keepalive_s)
        self.links.append(link)
        self._open(link, clean_start=True)
        return link

    def connect_all(self, timeout_s: float = 15.0) -> None:
        """Pumps until no link is connecting. Raises LinkRefused for a refused CONNECT,
        ConnectionError for a broker that cannot be reached, TimeoutError after timeout_s."""
        waiting = [link for link in self.links if link.state is LinkState.CONNECTING]
        deadline = time.monotonic() + timeout_s
        while any(link.state is LinkState.CONNECTING for link in waiting):
            if time.monotonic() >= deadline:
                left = sum(link.state is LinkState.CONNECTING for link in waiting)
                raise TimeoutError(
                    f"{left} of {len(waiting)} links still connecting to "
                    f"{self.host}:{self.port} after {timeout_s} s"
                )
            self.pump(0.05)
        for link in waiting:
            if link.state is LinkState.DOWN and link.refusal is not None:
                raise LinkRefused(
                    f"{link.username}: broker refused the connection: "
                    f"{reason_name(link.refusal)} (0x{link.refusal:02X})"
                )
            if link.state is LinkState.DOWN:
                raise ConnectionError(
                    f"{link.username}: cannot connect to {self.host}:{self.port}: {link.error}"
                )

    def publish(self, link: Link, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """QoS 1. Goes in flight at the next pump when a slot is free, else waits in the link's
        queue; a full queue pumps until there is room, unless the link is down."""
        encoded = self._topics.get(topic)
        if encoded is None:
            encoded = self._topics[topic] = encode_topic(topic)
        if link.state is _CONNECTED and len(link.inflight) < link.window and not link.queue:
            self._emit(link, encoded, payload, retain)
            return
        if link.state is LinkState.CLOSED:
            raise ValueError(f"{link.client_id}: the link is closed")
        if len(link.queue) >= self.max_queued:
            self._make_room(link)
        link.queue.append((encoded, payload, retain))

    def pump(self, timeout_s: float = 0.0) -> None:
        """One round: waits up to timeout_s (not at all while some buffer can be written), reads
        and handles what arrived, writes out buffers, keeps connections alive and reconnects
        links that went down by themselves once their backoff has passed; queues held messages
        again once their delay has passed."""
        dirty = self._dirty
        if any(not link.want_write for link in dirty):
            timeout_s = 0.0
        elif self._retrying or self._holding:
            due_s = min(
                self._next_retry_s if self._retrying else math.inf,
                self._next_unrouted_s if self._holding else math.inf,
            )
            timeout_s = min(timeout_s, max(0.0, due_s - time.monotonic()))
        writable: list[Link] = []
        for key, mask in self._selector.select(timeout_s):
            link: Link = key.data
            if mask & selectors.EVENT_READ:
                self._read(link)
            if mask & selectors.EVENT_WRITE and link.sock is not None:
                writable.append(link)
        now = time.monotonic()
        for link in writable:
            if link.tcp_pending and not self._tcp_connected(link):
                continue
            self._write(link, now)
        for link in [link for link in dirty if not link.want_write]:
            self._write(link, now)
        if now >= self._next_keepalive_check_s:
            self._next_keepalive_check_s = now + KEEPALIVE_CHECK_S
            self._keep_alive(now)
        if self._retrying and now >= self._next_retry_s:
            self._retry_due(now)
        if self._holding and now >= self._next_unrouted_s:
            self._release_due(now)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Pumps until every link's messages are acknowledged (True) or timeout_s passes (False).
        Links that are down (dropped or refused) are not waited for, unless they are about to
        reconnect by themselves; their messages make the answer False."""
        return self._flush(self.links, timeout_s)

    def drop(self, link: Link) -> None:
        """Loses the connection without DISCONNECT, as a machine out of coverage does: the broker
        publishes the will. Unacknowledged messages stay in flight for reconnect(); the link does
        not reconnect by itself."""
        self._retrying.discard(link)
        if link.sock is not None:
            try:
                link.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._close_socket(link)
        link.state = LinkState.DOWN
        link.error = "dropped"
        log.info("%s: connection dropped", link.client_id)

    def reconnect(self, link: Link) -> None:
        """Opens a new connection resuming the broker's session. After CONNACK, every message
        still in flight is resent with DUP=1 in its original order, then the birth, then the
        queue."""
        if link.state is LinkState.CLOSED:
            raise ValueError(f"{link.client_id}: closed links do not reconnect")
        if link.sock is not None:
            self.drop(link)
        self._retrying.discard(link)
        self._open(link, clean_start=False)

    def close(self, link: Link | None = None, *, timeout_s: float = 30.0) -> None:
        """Flushes, then disconnects gracefully (reason 0x00: no will) one link or all; closing
        all links also releases the pool."""
        links = self.links if link is None else [link]
        self._flush(links, timeout_s)
        closing = []
        for one in links:
            if one.inflight or one.queue or one.held:
                log.warning(
                    "%s: closing with %d messages unacknowledged",
                    one.client_id,
                    len(one.inflight) + len(one.queue) + len(one.held),
                )
            if one.state is LinkState.CONNECTED and one.sock is not None:
                one.out += disconnect_packet()
                one.closing = True
                self._dirty.add(one)
                closing.append(one)
            else:
                self._close_socket(one)
            self._retrying.discard(one)
            self._holding.discard(one)
            one.state = LinkState.CLOSED
        # The broker closes the connection once it has read DISCONNECT; closing first could reset
        # the connection before it does.
        deadline = time.monotonic() + CLOSE_WAIT_S
        while any(one.sock is not None for one in closing) and time.monotonic() < deadline:
            self.pump(0.05)
        for one in closing:
            self._close_socket(one)
        if link is None:
            self._selector.close()

    # --- internals ---------------------------------------------------------------------------

    def _emit(self, link: Link, encoded_topic: bytes, payload: bytes, retain: bool) -> None:
        """Puts one PUBLISH in flight: the hot path, so the header is built inline."""
        inflight = link.inflight
        packet_id = link.next_packet_id
        while packet_id in inflight:
            packet_id = packet_id + 1 if packet_id < MAX_PACKET_ID else 1
        link.next_packet_id = packet_id + 1 if packet_id < MAX_PACKET_ID else 1
        first = 0x33 if retain else 0x32
        remaining = len(encoded_topic) + 3 + len(payload)
        if remaining < 0x80:
            head = (first << 8 | remaining).to_bytes(2, "big")
        elif remaining < 0x4000:
            head = (first << 16 | (remaining & 0x7F | 0x80) << 8 | remaining >> 7).to_bytes(
                3, "big"
            )
        else:
            head = fixed_header(first, remaining)
        # packet id, then a property length of 0
        packet = b"".join((head, encoded_topic, (packet_id << 8).to_bytes(3, "big"), payload))
        inflight[packet_id] = packet
        link.out += packet
        link.sent += 1
        self._dirty.add(link)

    def _fill(self, link: Link) -> None:
        queue, inflight, window = link.queue, link.inflight, link.window
        while queue and len(inflight) < window:
            encoded, payload, retain = queue.popleft()
            self._emit(link, encoded, payload, retain)

    def _make_room(self, link: Link) -> None:
        while len(link.queue) >= self.max_queued:
            if link.state in (LinkState.DOWN, LinkState.CLOSED):
                if not link.warned_queue:
                    link.warned_queue = True
                    log.warning(
                        "%s: link down with %d messages queued; queueing on",
                        link.client_id,
                        len(link.queue),
                    )
                return
            self.pump(0.01)

    def _flush(self, links: list[Link], timeout_s: float) -> bool:
        # A link down for good cannot drain until reconnect(); waiting for it would only burn the
        # timeout. One that reconnects by itself will drain.
        live = (LinkState.CONNECTING, LinkState.CONNECTED)
        retrying = self._retrying
        deadline = time.monotonic() + timeout_s
        while any(
            (link.inflight or link.queue or link.held) and (link.state in live or link in retrying)
            for link in links
        ):
            if time.monotonic() >= deadline:
                return False
            self.pump(0.05)
        return not any(link.inflight or link.queue or link.held for link in links)

    def _resolve(self) -> tuple[int, tuple[str, int]]:
        if self._address is None:
            family, _, _, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM
            )[0]
            self._address = (family, (str(address[0]), int(address[1])))
        return self._address

    def _open(self, link: Link, *, clean_start: bool) -> None:
        link.state, link.refusal, link.error = LinkState.CONNECTING, None, None
        link.opened_s = time.monotonic()
        link.out.clear()
        link.rest = b""
        link.closing = False
        try:
            family, address = self._resolve()
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            self._lost(link, str(exc))
            return
        sock.setblocking(False)
        # Coalescing is the point: many small PUBLISHes per segment.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        link.sock = sock
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._lost(link, errno.errorcode.get(code, str(code)))
            return
        link.tcp_pending = link.want_write = True
        self._selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)
        link.out += connect_packet(
            link.client_id,
            link.username,
            link.password,
            keepalive_s=self.keepalive_s,
            clean_start=clean_start,
            session_expiry_s=self.session_expiry_s,
            will=link.will,
        )
        self._dirty.add(link)

    def _tcp_connected(self, link: Link) -> bool:
        assert link.sock is not None
        code = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._lost(link, errno.errorcode.get(code, str(code)))
            return False
        link.tcp_pending = False
        return True

    def _write(self, link: Link, now: float) -> None:
        sock = link.sock
        if sock is None:
            self._dirty.discard(link)
            return
        try:
            sent = sock.send(link.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lost(link, str(exc))
            return
        if sent:
            del link.out[:sent]
            link.last_send_s = now
        if link.out:
            if not link.want_write:
                link.want_write = True
                self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)
        else:
            self._dirty.discard(link)
            if link.want_write:
                link.want_write = False
                self._selector.modify(sock, selectors.EVENT_READ, link)

    def _read(self, link: Link) -> None:
        sock = link.sock
        if sock is None:
            return
        try:
            data = sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(link, str(exc))
            return
        if not data:
            if link.closing:
                self._close_socket(link)
            else:
                self._lost(link, "connection closed by the broker")
            return
        link.ping_sent_s = 0.0
        buf = link.rest + data if link.rest else data
        try:
            packets, used = self._bulk_pubacks(link, buf)
            link.rest = buf[used:]
            for kind, _flags, body in packets:
                if kind == PUBACK:
                    self._on_puback(link, body)
                elif kind == CONNACK:
                    self._on_connack(link, body)
                elif kind == DISCONNECT:
                    self._on_disconnect(link, body)
                    return
                elif kind != PINGRESP:
                    log.debug("%s: ignored packet type %d", link.client_id, kind)
                if link.sock is None:
                    return
        except (MalformedPacket, IndexError) as exc:
            self._lost(link, f"malformed packet from the broker: {exc!r}")
            return
        if link.queue and len(link.inflight) < link.window:
            self._fill(link)

    def _bulk_pubacks(self, link: Link, buf: bytes) -> tuple[list[Packet], int]:
        """Acknowledges a run of successful PUBACKs at once; the rest goes through
        split_packets."""
        packet_ids, whole = puback_run(buf)
        if whole:
            # Only the long form carries a reason code; Mosquitto uses it for 0x10 alone.
            if buf[1] == 3 and (unrouted := buf[4:whole:5].count(_NO_MATCHING_SUBSCRIBERS)):
                if self.hold_unrouted:
                    return split_packets(buf)  # one by one: the unrouted messages are held
                link.unrouted += unrouted
            self._acked(link, packet_ids)
        return split_packets(buf, whole)

    def _acked(self, link: Link, packet_ids: Iterable[int]) -> None:
        pop = link.inflight.pop
        acked = 0
        for packet_id in packet_ids:
            if pop(packet_id, None) is not None:
                acked += 1
        link.acked += acked
        if link.unrouted_delay_s and acked:
            self._routed(link)

    def _on_puback(self, link: Link, body: bytes) -> None:
        packet_id = int.from_bytes(body[:2], "big")
        code = body[2] if len(body) > 2 else 0
        if code == _NO_MATCHING_SUBSCRIBERS:
            link.unrouted += 1
            if self.hold_unrouted:
                self._hold(link, packet_id)
                return
        if code < 0x80:
            self._acked(link, (packet_id,))
            return
        if link.inflight.pop(packet_id, None) is None:
            return
        link.refused += 1
        if not link.warned_refused:
            link.warned_refused = True
            log.warning(
                "%s: broker refused a message: %s (0x%02X); further refusals are only counted",
                link.client_id,
                reason_name(code),
                code,
            )

    def _hold(self, link: Link, packet_id: int) -> None:
        packet = link.inflight.pop(packet_id, None)
        if packet is None:
            return
        if packet[0] & _RETAIN:
            # Stored for the next subscriber, which is all a retained message (the birth) is for.
            link.acked += 1
            return
        [(_, flags, body)], _ = split_packets(packet)  # the one PUBLISH we built
        held = parse_publish(flags, body)
        link.held.append((encode_topic(held.topic), held.payload, False))  # not retained: above
        if not link.unrouted_at_s:
            delay = link.unrouted_delay_s
            delay = min(UNROUTED_RETRY_MAX_S, 2 * delay) if delay else UNROUTED_RETRY_INITIAL_S
            link.unrouted_delay_s = delay
            link.unrouted_at_s = time.monotonic() + delay
            if not self._holding or link.unrouted_at_s < self._next_unrouted_s:
                self._next_unrouted_s = link.unrouted_at_s
            self._holding.add(link)
            log.debug(
                "%s: a message reached no subscriber; resending in %.1f s", link.client_id, delay
            )

    def _routed(self, link: Link) -> None:
        """A message of the link reached a subscriber again: the backoff starts over, and what is
        held goes out within the initial delay instead of waiting out a long one."""
        link.unrouted_delay_s = 0.0
        if link.unrouted_at_s:
            soon = time.monotonic() + UNROUTED_RETRY_INITIAL_S
            if soon < link.unrouted_at_s:
                link.unrouted_at_s = soon
                self._next_unrouted_s = min(self._next_unrouted_s, soon)

    def _release_due(self, now: float) -> None:
        due = [link for link in self._holding if link.unrouted_at_s <= now]
        for link in due:
            self._holding.discard(link)
            link.unrouted_at_s = 0.0
            # In front of the queue: they were published before anything still queued.
            link.queue.extendleft(reversed(link.held))
            link.held.clear()
            if link.state is _CONNECTED:
                self._fill(link)
        if self._holding:
            self._next_unrouted_s = min(link.unrouted_at_s for link in self._holding)

    def _on_connack(self, link: Link, body: bytes) -> None:
        session_present, code, props = parse_connack(body)
        if code >= 0x80:
            log.error(
                "%s: broker refused the connection: %s (0x%02X)",
                link.username,
                reason_name(code),
                code,
            )
            self._close_socket(link)
            link.state, link.refusal = LinkState.DOWN, code
            link.error = reason_name(code)
            self._schedule_retry(link)
            return
        receive_maximum = props.get(PROP_RECEIVE_MAXIMUM, DEFAULT_RECEIVE_MAXIMUM)
        assert isinstance(receive_maximum, int)
        link.window = min(receive_maximum, self.max_inflight)
        server_keepalive = props.get(PROP_SERVER_KEEPALIVE)
        if isinstance(server_keepalive, int):
            link.keepalive_s = float(server_keepalive)
        link.state = LinkState.CONNECTED
        link.connects += 1
        if link.retry_delay_s:
            log.info("%s: reconnected after %d attempts", link.client_id, link.auto_reconnects)
            link.retry_delay_s = 0.0
        if link.inflight:
            if not session_present:
                log.info("%s: the broker lost the session; resending anyway", link.client_id)
            self._resend(link)
        if link.birth is not None:
            topic, payload = link.birth
            encoded = self._topics.get(topic) or encode_topic(topic)
            if len(link.inflight) < link.window:
                self._emit(link, encoded, payload, True)
            else:
                link.queue.appendleft((encoded, payload, True))
        self._fill(link)

    def _resend(self, link: Link) -> None:
        inflight = link.inflight
        for packet_id, packet in inflight.items():
            packet = inflight[packet_id] = with_dup(packet)  # same key: the order stays
            link.out += packet
        link.resent += len(inflight)
        self._dirty.add(link)

    def _on_disconnect(self, link: Link, body: bytes) -> None:
        code, why = parse_disconnect(body)
        self._lost(
            link,
            f"disconnected by the broker: {why}",
            retry=code != _SESSION_TAKEN_OVER,
        )

    def _keep_alive(self, now: float) -> None:
        for link in self.links:
            if link.state is LinkState.CONNECTING:
                # Only reconnects: a first connect is timed by connect_all's caller.
                if link.connects and now - link.opened_s > CONNACK_TIMEOUT_S:
                    self._lost(link, f"no CONNACK within {CONNACK_TIMEOUT_S:.0f} s")
                continue
            if link.state is not LinkState.CONNECTED or not link.keepalive_s:
                continue
            if link.ping_sent_s and now - link.ping_sent_s > link.keepalive_s:
                self._lost(link, "no answer to PINGREQ within the keepalive")
            elif not link.ping_sent_s and now - link.last_send_s >= link.keepalive_s / 2:
                link.out += pingreq_packet()
                link.ping_sent_s = now
                self._dirty.add(link)

    def _lost(self, link: Link, reason: str, *, retry: bool = True) -> None:
        if link.state is LinkState.CONNECTED or not link.retry_delay_s:
            log.warning("%s: connection lost: %s", link.client_id, reason)
        else:
            log.debug("%s: reconnect failed: %s", link.client_id, reason)
        self._close_socket(link)
        link.state, link.error = LinkState.DOWN, reason
        if retry:
            self._schedule_retry(link)

    def _schedule_retry(self, link: Link) -> None:
        """Reconnects the link later from pump(), if it has ever been connected: a link that
        never got through is the caller's to report (connect_all raises for it)."""
        if not link.connects or link.state is LinkState.CLOSED:
            return
        delay = min(RETRY_MAX_S, 2 * link.retry_delay_s) if link.retry_delay_s else RETRY_INITIAL_S
        link.retry_delay_s = delay
        link.retry_at_s = time.monotonic() + delay * (1 + RETRY_JITTER * self._jitter.random())
        if not self._retrying or link.retry_at_s < self._next_retry_s:
            self._next_retry_s = link.retry_at_s
        self._retrying.add(link)

    def _retry_due(self, now: float) -> None:
        due = [link for link in self._retrying if link.retry_at_s <= now]
        for link in due:
            self._retrying.discard(link)
            link.retry_at_s = 0.0
            link.auto_reconnects += 1
            log.debug("%s: reconnecting (%s)", link.client_id, link.error)
            self._open(link, clean_start=False)
        if self._retrying:
            self._next_retry_s = min(link.retry_at_s for link in self._retrying)

    def _close_socket(self, link: Link) -> None:
        sock = link.sock
        if sock is not None:
            link.sock = None
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass  # never registered, or the selector is closed
            sock.close()
        link.out.clear()
        link.rest = b""
        link.want_write = link.tcp_pending = False
        link.ping_sent_s = 0.0
        self._dirty.discard(link)
