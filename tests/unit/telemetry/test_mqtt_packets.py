"""MQTT 5 packet encoding and parsing of the simulators' publisher and ingest's receiver, checked
byte by byte against the specification (OASIS MQTT Version 5.0, sections 1.5.5, 3.1-3.4, 3.8,
3.9), and LinkPool's packets
on the wire against a scripted broker on a loopback socket (what a real broker will not do on
demand: a small Receive Maximum, PUBACKs cut anywhere)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from simulators import mqtt_link
from simulators.mqtt_link import Link, LinkPool, LinkRefused, LinkState
from telemetry.mqtt_packets import (
    CONNACK,
    CONNECT,
    PINGRESP,
    PUBACK,
    PUBLISH,
    MalformedPacket,
    Packet,
    PacketParser,
    Will,
    connect_packet,
    decode_varint,
    disconnect_packet,
    encode_varint,
    parse_connack,
    parse_disconnect,
    parse_properties,
    parse_publish,
    parse_suback,
    pingreq_packet,
    puback_packets,
    puback_run,
    publish_packet,
    split_packets,
    subscribe_packet,
    with_dup,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_varint_round_trips_at_the_boundaries(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded) == (value, len(encoded))
    assert decode_varint(b"\xaa" + encoded + b"\xbb", 1) == (value, len(encoded) + 1)


def test_varint_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="variable byte integer"):
        encode_varint(268_435_456)
    with pytest.raises(ValueError, match="variable byte integer"):
        encode_varint(-1)
    with pytest.raises(MalformedPacket):
        decode_varint(b"\xff\xff\xff\xff\x01")


def test_a_cut_varint_asks_for_more_bytes() -> None:
    assert decode_varint(b"\x80\x80") is None
    assert decode_varint(b"") is None


def test_connect_with_will_matches_the_spec() -> None:
    packet = connect_packet(
        "c1",
        "u",
        "p",
        keepalive_s=60,
        clean_start=True,
        session_expiry_s=3600,
        will=Will(topic="w", payload=b"x"),
    )
    assert packet == bytes.fromhex(
        "10 21"  # CONNECT, remaining length 33
        "0004 4d515454"  # protocol name "MQTT"
        "05"  # protocol level 5
        "ee"  # user name, password, will retain, will QoS 1, will flag, clean start
        "003c"  # keepalive 60 s
        "05 11 00000e10"  # properties: session expiry interval 3600 s
        "0002 6331"  # client id "c1"
        "00"  # will properties: none
        "0001 77"  # will topic "w"
        "0001 78"  # will payload "x"
        "0001 75"  # user name "u"
        "0001 70"  # password "p"
    )


def test_connect_resuming_a_session_without_will() -> None:
    packet = connect_packet(
        "c", "u", "p", keepalive_s=30, clean_start=False, session_expiry_s=0, will=None
    )
    assert packet[9] == 0xC0  # user name and password only: no clean start, no will
    assert packet[10:12] == b"\x00\x1e"


def test_connect_asks_for_a_receive_maximum() -> None:
    packet = connect_packet(
        "c",
        "u",
        "p",
        keepalive_s=30,
        clean_start=False,
        session_expiry_s=60,
        will=None,
        receive_maximum=4000,
    )
    props, _ = parse_properties(packet, 12)
    assert props == {0x11: 60, 0x21: 4000}
    with pytest.raises(ValueError, match="receive_maximum"):
        connect_packet(
            "c", "u", "p", keepalive_s=30, clean_start=False, session_expiry_s=0, will=None,
            receive_maximum=0,
        )  # fmt: skip


def test_subscribe_matches_the_spec() -> None:
    assert subscribe_packet(1, "$share/g/a/+", qos=1) == bytes.fromhex(
        "82 12"  # SUBSCRIBE (flags 0b0010), remaining length 18
        "0001"  # packet id 1
        "00"  # properties: none
        "000c 247368617265 2f 67 2f 61 2f 2b"  # "$share/g/a/+"
        "01"  # options: maximum QoS 1
    )


def test_suback_and_connack_are_read() -> None:
    assert parse_suback(bytes.fromhex("0001 00 01")) == (1, b"\x01")
    assert parse_suback(bytes.fromhex("0007 03 1f0000 87")) == (7, b"\x87")  # empty reason string
    assert parse_connack(bytes.fromhex("01 00 03 210fa0")) == (True, 0, {0x21: 4000})
    assert parse_connack(b"\x00\x86") == (False, 0x86, {})


def test_puback_packets_are_one_buffer_the_run_parser_reads_back() -> None:
    ids = [1, 255, 256, 4000, 65_535]
    packets = puback_packets(ids)
    assert packets[:8] == bytes.fromhex("40020001 400200ff")
    assert list(puback_run(packets)[0]) == ids
    assert puback_packets([]) == b""


def test_a_received_publish_is_read_with_or_without_properties() -> None:
    (_, flags, body), *_ = split_packets(publish_packet(b"a/b", 9, b"hi", dup=True, retain=False))[
        0
    ]
    p = parse_publish(flags, body)
    assert (p.topic, p.payload, p.qos, p.packet_id, p.dup) == ("a/b", b"hi", 1, 9, True)
    # QoS 0, no packet id; a message expiry (0x02) and a content type (0x03) to skip.
    props = bytes.fromhex("0c 02 0000003c 03 0004 6a736f6e")
    q0 = parse_publish(0, b"\x00\x01t" + props + b"{}")
    assert (q0.topic, q0.payload, q0.qos, q0.packet_id) == ("t", b"{}", 0, 0)


@pytest.mark.parametrize(
    ("flags", "body"),
    [
        (0x02, b"\x00"),  # cut before the topic ends
        (0x02, b"\x00\x01t\x00\x01"),  # cut before the property length
        (0x02, b"\x00\x01t\x00\x01\x09\x02"),  # properties longer than the packet
        (0x06, b"\x00\x01t\x00\x01\x00"),  # QoS 3
        (0x02, b"\x00\x01\xff\x00\x01\x00x"),  # topic not UTF-8
    ],
)
def test_a_broken_publish_is_malformed_not_a_crash(flags: int, body: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_publish(flags, body)


def test_publish_matches_the_spec() -> None:
    assert publish_packet(b"a/b", 10, b"hi", dup=False, retain=False) == bytes.fromhex(
        "32 0a"  # PUBLISH QoS 1, remaining length 10
        "0003 612f62"  # topic "a/b"
        "000a"  # packet id 10
        "00"  # properties: none
        "6869"  # payload
    )


def test_publish_flags_and_long_remaining_length() -> None:
    packet = publish_packet(b"t", 65_535, b"x" * 200, dup=True, retain=True)
    assert packet[0] == 0x3B  # PUBLISH, DUP, QoS 1, RETAIN
    assert packet[1:3] == encode_varint(3 + 3 + 200)
    assert packet[3:9] == b"\x00\x01t\xff\xff\x00"
    assert packet[9:] == b"x" * 200


def test_with_dup_sets_only_the_dup_flag() -> None:
    resent = with_dup(publish_packet(b"t", 7, b"x", dup=False, retain=True))
    assert resent == publish_packet(b"t", 7, b"x", dup=True, retain=True)
    assert with_dup(resent) is resent


def test_disconnect_and_pingreq() -> None:
    assert disconnect_packet() == b"\xe0\x00"  # reason 0x00 implied: the will is discarded
    assert pingreq_packet() == b"\xc0\x00"


STREAM = [
    (CONNACK, 0, bytes.fromhex("00 00 03 21 0014")),  # receive maximum 20
    (PUBACK, 0, b"\x00\x01"),
    (PUBACK, 0, b"\x00\x02\x87"),  # refused: not authorized
    (PINGRESP, 0, b""),
    (PUBLISH, 0b0011, b"\x00\x01t\x00\x07\x00" + bytes(range(200))),  # two-byte length
    (PUBACK, 0, b"\xff\xff"),
]


def _wire(packets: list[tuple[int, int, bytes]]) -> bytes:
    return b"".join(
        bytes((kind << 4 | flags,)) + encode_varint(len(body)) + body
        for kind, flags, body in packets
    )


def test_several_packets_in_one_chunk() -> None:
    parser = PacketParser()
    assert parser.feed(_wire(STREAM)) == STREAM
    assert parser.rest == b""


@pytest.mark.parametrize("cut", range(len(_wire(STREAM)) + 1))
def test_parser_reassembles_packets_split_anywhere(cut: int) -> None:
    data = _wire(STREAM)
    parser = PacketParser()
    assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == STREAM
    assert parser.rest == b""


def test_parser_fed_one_byte_at_a_time() -> None:
    parser = PacketParser()
    got = []
    for i, byte in enumerate(_wire(STREAM)):
        got.extend(parser.feed(bytes((byte,))))
        assert len(parser.rest) <= i + 1
    assert got == STREAM


def test_split_packets_reports_where_the_rest_starts() -> None:
    data = _wire(STREAM[:2]) + b"\x40\x02\x00"
    packets, used = split_packets(data)
    assert packets == STREAM[:2]
    assert data[used:] == b"\x40\x02\x00"


def test_connack_properties() -> None:
    body = bytes.fromhex("01 00 0b 21 0014 13 001e 1f 0002 6f6b")
    props, end = parse_properties(body, 2)
    assert props == {0x21: 20, 0x13: 30, 0x1F: b"ok"}
    assert end == len(body)


def test_user_properties_are_skipped() -> None:
    body = bytes.fromhex("0c 26 0001 6b 0001 76 24 01 21 0005")
    assert parse_properties(body) == ({0x24: 1, 0x21: 5}, len(body))


def test_unknown_property_is_malformed() -> None:
    with pytest.raises(MalformedPacket, match="0x7F"):
        parse_properties(b"\x02\x7f\x00")


@pytest.mark.parametrize(
    ("buf", "expected"),
    [
        (bytes.fromhex("4002 0001 4002 0102 40"), ([1, 258], 8)),  # the cut rest stays
        (bytes.fromhex("4003 0001 10 4003 0002 00"), ([1, 2], 10)),
        (bytes.fromhex("4003 0001 10 4003 0002 87"), ([], 0)),  # a refusal among them
        (bytes.fromhex("4002 0001 4003 0002 10"), ([], 0)),  # lengths differ
        (bytes.fromhex("2003 000000 4002 0001"), ([], 0)),  # not a PUBACK first
    ],
)
def test_puback_run_takes_only_whole_runs_of_successful_pubacks_alike(
    buf: bytes, expected: tuple[list[int], int]
) -> None:
    packet_ids, end = puback_run(buf)
    assert (list(packet_ids), end) == expected


class ScriptedBroker:
    """The broker's end of one connection, driven step by step by the test."""

    def __init__(self, server: socket.socket, pool: LinkPool) -> None:
        self.pool = pool
        deadline = time.monotonic() + 5
        while True:
            pool.pump(0.01)
            try:
                self.conn, _ = server.accept()
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the pool did not connect"
        self.conn.settimeout(0.02)
        self.parser = PacketParser()

    def receive(self, n: int) -> list[Packet]:
        """Exactly n packets; fails on fewer in time or on more."""
        got: list[Packet] = []
        deadline = time.monotonic() + 5
        while len(got) < n and time.monotonic() < deadline:
            self.pool.pump()
            try:
                got.extend(self.parser.feed(self.conn.recv(65536)))
            except TimeoutError:
                pass
        self.pool.pump()
        try:
            got.extend(self.parser.feed(self.conn.recv(65536)))
        except TimeoutError:
            pass
        assert len(got) == n
        return got

    def send(self, chunk: bytes, *, until: Callable[[], bool]) -> None:
        """Sends chunk, then pumps the pool until it has handled it."""
        self.conn.sendall(chunk)
        self.wait(until)

    def wait(self, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 5
        while not until():
            assert time.monotonic() < deadline, "the pool did not handle what was sent"
            self.pool.pump(0.01)


@pytest.fixture
def server() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.01)
        yield listener


@pytest.fixture
def pool(request: pytest.FixtureRequest, server: socket.socket) -> Iterator[LinkPool]:
    hold_unrouted: bool = getattr(request, "param", False)
    pool = LinkPool(
        "127.0.0.1", server.getsockname()[1], max_inflight=1000, hold_unrouted=hold_unrouted
    )
    yield pool
    # The scripted broker is gone by now: a link still retrying it will never drain, so closing
    # must not wait the default 30 s for it.
    pool.close(timeout_s=0.5)


@pytest.fixture
def accept(server: socket.socket, pool: LinkPool) -> Iterator[Callable[[], ScriptedBroker]]:
    accepted: list[ScriptedBroker] = []

    def accept_one() -> ScriptedBroker:
        accepted.append(ScriptedBroker(server, pool))
        return accepted[-1]

    yield accept_one
    for broker in accepted:
        broker.conn.close()


def puback(packet_id: int, code: int | None = None) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"" if code is None else bytes((code,)))
    return bytes((0x40, len(body))) + body


def test_receive_maximum_and_pubacks_in_every_form(
    pool: LinkPool, accept: Callable[[], ScriptedBroker]
) -> None:
    link = pool.add("c1", "u", "p")
    broker = accept()
    assert [kind for kind, _, _ in broker.receive(1)] == [CONNECT]
    connack = bytes.fromhex("20 06 00 00 03 21 0014")  # Receive Maximum 20
    broker.send(connack, until=lambda: link.state is LinkState.CONNECTED)
    assert link.window == 20

    for i in range(50):
        pool.publish(link, "t", bytes((i,)))
    first = broker.receive(20)
    assert [body for _, _, body in first] == [
        publish_packet(b"t", i + 1, bytes((i,)), dup=False, retain=False)[2:] for i in range(20)
    ]
    assert (len(link.inflight), len(link.queue)) == (20, 30)

    # 1..10 with reason 0x00 omitted, 11..19 "no matching subscribers", 20 "not authorized",
    # cut in the middle of a packet
    acks = b"".join(puback(i) for i in range(1, 11)) + b"".join(
        puback(i, 0x10) for i in range(11, 20)
    )
    broker.send(acks[:7], until=lambda: link.acked == 1)
    broker.send(acks[7:] + puback(20, 0x87), until=lambda: link.refused == 1)
    assert link.acked == 19
    second = broker.receive(20)
    assert [int.from_bytes(body[3:5], "big") for _, _, body in second] == list(range(21, 41))

    # all alike: the bulk path
    broker.send(b"".join(puback(i) for i in range(21, 41)), until=lambda: link.acked == 39)
    broker.receive(10)
    broker.send(b"".join(puback(i, 0x10) for i in range(41, 51)), until=lambda: link.acked == 49)
    assert (pool.sent, pool.acked, pool.refused, pool.pending) == (50, 49, 1, 0)
    assert pool.unrouted == 19  # acknowledged all the same: the pool does not hold them


def test_packet_ids_wrap_and_skip_ids_in_flight(
    pool: LinkPool, accept: Callable[[], ScriptedBroker]
) -> None:
    link = pool.add("c1", "u", "p")
    broker = accept()
    broker.receive(1)
    broker.send(bytes.fromhex("20 03 00 00 00"), until=lambda: link.state is LinkState.CONNECTED)
    pool.publish(link, "t", b"a")  # id 1, left unacknowledged
    link.next_packet_id = 65_534
    for payload in (b"b", b"c", b"d"):
        pool.publish(link, "t", payload)
    ids = [int.from_bytes(body[3:5], "big") for _, _, body in broker.receive(4)]
    assert ids == [1, 65_534, 65_535, 2]


def test_a_refused_connack_names_the_user_and_reason(
    pool: LinkPool, accept: Callable[[], ScriptedBroker]
) -> None:
    pool.add("c1", "T-0001", "guess")
    broker = accept()
    broker.receive(1)
    broker.conn.sendall(bytes.fromhex("20 03 00 86 00"))
    with pytest.raises(
        LinkRefused,
        match=r"^T-0001: broker refused the connection: Bad User Name or Password \(0x86\)$",
    ):
        pool.connect_all(timeout_s=2)


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (bytes.fromhex("e0 01 8e"), "Session taken over (0x8E)"),  # DISCONNECT from the broker
        (bytes.fromhex("40 ff ff ff ff 01"), "malformed packet"),  # a five-byte length
        (b"", "connection closed by the broker"),
    ],
)
def test_a_broker_ending_the_connection_marks_the_link_down(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], sent: bytes, error: str
) -> None:
    link = pool.add("c1", "u", "p")
    broker = accept()
    broker.receive(1)
    broker.send(bytes.fromhex("20 03 00 00 00"), until=lambda: link.state is LinkState.CONNECTED)
    pool.publish(link, "t", b"kept")
    broker.receive(1)
    if sent:
        broker.send(sent, until=lambda: link.state is LinkState.DOWN)
    else:
        broker.conn.shutdown(socket.SHUT_WR)
        broker.wait(lambda: link.state is LinkState.DOWN)
    assert link.error is not None
    assert error in link.error
    assert list(link.inflight) == [1]  # kept for reconnect()


@pytest.mark.parametrize("partial", [b"\x40\x03\x00", b"\x40\x03\x00\x01", b"\x40\x02\x00"])
def test_puback_run_leaves_a_partly_received_puback_to_the_parser(partial: bytes) -> None:
    assert puback_run(partial) == ((), 0)


# Tests with a pool built with hold_unrouted=True.
hold_unrouted = pytest.mark.parametrize("pool", [True], indirect=True, ids=["hold_unrouted"])


def connected(broker: ScriptedBroker, link: Link, connack: str = "20 03 00 00 00") -> None:
    broker.receive(1)
    broker.send(bytes.fromhex(connack), until=lambda: link.state is LinkState.CONNECTED)


def payloads(packets: list[Packet]) -> list[bytes]:
    return [parse_publish(flags, body).payload for _, flags, body in packets]


@hold_unrouted
def test_an_unrouted_message_is_published_again_after_a_growing_delay_until_routed(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 0.1)
    link = pool.add("c1", "u", "p")
    broker = accept()
    connected(broker, link)
    pool.publish(link, "t", b"m")
    broker.receive(1)

    sent_s = time.monotonic()
    broker.send(puback(1, 0x10), until=lambda: link.unrouted == 1)
    assert (len(link.inflight), len(link.held), pool.pending, link.acked) == (0, 1, 1, 0)
    (again,) = broker.receive(1)
    assert time.monotonic() - sent_s >= 0.1
    assert again[2] == publish_packet(b"t", 2, b"m", dup=False, retain=False)[2:]  # a new id

    sent_s = time.monotonic()
    broker.send(puback(2, 0x10), until=lambda: link.unrouted == 2)
    assert link.unrouted_delay_s == pytest.approx(0.2)  # doubled while nobody subscribes
    (third,) = broker.receive(1)
    assert time.monotonic() - sent_s >= 0.2
    assert parse_publish(third[1], third[2]).packet_id == 3

    broker.send(puback(3), until=lambda: link.acked == 1)
    assert (pool.sent, pool.acked, pool.unrouted, pool.refused, pool.pending) == (3, 1, 2, 0, 0)
    assert link.unrouted_delay_s == 0  # the next message reaching nobody starts over
    assert pool.flush(timeout_s=1)


@hold_unrouted
def test_held_messages_go_out_again_ahead_of_the_queue_oldest_first(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 0.05)
    link = pool.add("c1", "u", "p")
    broker = accept()
    connected(broker, link, connack="20 06 00 00 03 21 0002")  # Receive Maximum 2
    for payload in (b"a", b"b", b"c", b"d", b"e", b"f"):
        pool.publish(link, "t", payload)
    assert payloads(broker.receive(2)) == [b"a", b"b"]
    # one buffer of long-form PUBACKs: the bulk parser's case
    broker.send(puback(1, 0x10) + puback(2, 0x10), until=lambda: len(link.held) == 2)
    assert payloads(broker.receive(2)) == [b"c", b"d"]
    broker.wait(lambda: not link.held)  # queued again while c and d fill the window
    assert pool.pending == 6
    broker.send(puback(3) + puback(4), until=lambda: link.acked == 2)
    assert payloads(broker.receive(2)) == [b"a", b"b"]
    broker.send(puback(5) + puback(6), until=lambda: link.acked == 4)
    assert payloads(broker.receive(2)) == [b"e", b"f"]
    broker.send(puback(7) + puback(8), until=lambda: pool.pending == 0)
    assert (pool.sent, pool.acked, pool.unrouted) == (8, 6, 2)


@hold_unrouted
def test_a_routed_message_brings_the_held_ones_forward(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 30.0)
    link = pool.add("c1", "u", "p")
    broker = accept()
    connected(broker, link)
    pool.publish(link, "t", b"held")
    pool.publish(link, "t", b"routed")
    broker.receive(2)
    broker.send(puback(1, 0x10), until=lambda: link.unrouted == 1)
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 0.05)
    broker.send(puback(2), until=lambda: link.acked == 1)
    assert payloads(broker.receive(1)) == [b"held"]  # not after the 30 s
    broker.send(puback(3), until=lambda: pool.pending == 0)


@hold_unrouted
def test_a_retained_birth_answered_unrouted_is_not_published_again(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 0.05)
    link = pool.add("c1", "u", "p", birth=("s", b"online"))
    broker = accept()
    connected(broker, link)
    (birth,) = broker.receive(1)
    assert birth[1] & 0x01  # retained
    broker.send(puback(1, 0x10), until=lambda: link.unrouted == 1)
    assert (link.acked, link.held, pool.pending) == (1, [], 0)
    broker.wait(lambda: time.monotonic() - link.last_send_s > 0.2)
    broker.receive(0)


def test_without_hold_unrouted_an_unrouted_message_is_not_published_again(
    pool: LinkPool, accept: Callable[[], ScriptedBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_link, "UNROUTED_RETRY_INITIAL_S", 0.05)
    link = pool.add("c1", "u", "p")
    broker = accept()
    connected(broker, link)
    pool.publish(link, "t", b"m")
    broker.receive(1)
    broker.send(puback(1, 0x10), until=lambda: link.unrouted == 1)
    assert (link.acked, link.held, pool.pending) == (1, [], 0)
    broker.wait(lambda: time.monotonic() - link.last_send_s > 0.2)
    broker.receive(0)


def test_disconnect_reason_with_and_without_a_reason_string() -> None:
    assert parse_disconnect(b"") == (0, "Success (0x00)")
    assert parse_disconnect(b"\x8e") == (0x8E, "Session taken over (0x8E)")
    body = bytes.fromhex("8b 07 1f 0004 62796521")  # Server shutting down, reason string "bye!"
    assert parse_disconnect(body) == (0x8B, "Server shutting down (0x8B): bye!")
