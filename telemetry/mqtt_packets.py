"""MQTT 5 packets as bytes, for the simulators' publisher (simulators.mqtt_link) and ingest's
subscriber (telemetry.mqtt_receiver): builders for CONNECT, QoS 1 PUBLISH, SUBSCRIBE, runs of
PUBACKs, PINGREQ and DISCONNECT, and parsers for what a broker sends (packet framing, property
lists, CONNACK, SUBACK, PUBLISH, runs of PUBACKs). Pure: no sockets, no clock, no logging.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

MAX_VARINT: Final = 268_435_455
MAX_PACKET_ID: Final = 65_535
DEFAULT_RECEIVE_MAXIMUM: Final = 65_535  # MQTT 5 3.2.2.3.3: the value when CONNACK omits it

REASON_NAMES: Final[dict[int, str]] = {
    0x00: "Success",
    0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x90: "Topic Name invalid",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9F: "Connection rate exceeded",
}

# MQTT 5 property identifiers by value type (2.2.2.2), enough to walk any property list.
_BYTE_PROPS: Final = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_U16_PROPS: Final = frozenset({0x13, 0x21, 0x22, 0x23})
_U32_PROPS: Final = frozenset({0x02, 0x11, 0x18, 0x27})
_VARINT_PROPS: Final = frozenset({0x0B})
_BLOB_PROPS: Final = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})
_USER_PROPERTY: Final = 0x26
PROP_SESSION_EXPIRY: Final = 0x11
PROP_SERVER_KEEPALIVE: Final = 0x13
PROP_RECEIVE_MAXIMUM: Final = 0x21
PROP_REASON_STRING: Final = 0x1F

_PUBLISH_QOS1: Final = 0x32
_DUP: Final = 0x08
_PINGREQ_PACKET: Final = b"\xc0\x00"
_PUBACK_OK: Final = 0x40  # first byte of every PUBACK
_BIG_ENDIAN: Final = sys.byteorder == "big"

Packet = tuple[int, int, bytes]  # (packet type, flags, body after the remaining length)


class MalformedPacket(ValueError):
    pass


def reason_name(code: int) -> str:
    return REASON_NAMES.get(code, "Unknown reason")


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def decode_varint(data: bytes | bytearray, offset: int = 0) -> tuple[int, int] | None:
    """(value, offset after it), or None when data ends before the integer does."""
    value = 0
    for i in range(4):
        if offset + i >= len(data):
            return None
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, offset + i + 1
    raise MalformedPacket("variable byte integer longer than four bytes")


def _u16_prefixed(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"{len(data)} bytes do not fit an MQTT string")
    return len(data).to_bytes(2, "big") + data


def fixed_header(first: int, remaining: int) -> bytes:
    """The first byte, then the remaining length as a variable byte integer."""
    if remaining < 0x80:
        return bytes((first, remaining))
    if remaining < 0x4000:
        return bytes((first, (remaining & 0x7F) | 0x80, remaining >> 7))
    return bytes((first,)) + encode_varint(remaining)


@dataclass(frozen=True)
class Will:
    """The message the broker publishes (QoS 1) when the connection is lost without DISCONNECT."""

    topic: str
    payload: bytes
    retain: bool = True


def connect_packet(
    client_id: str,
    username: str,
    password: str,
    *,
    keepalive_s: int,
    clean_start: bool,
    session_expiry_s: int,
    will: Will | None,
    receive_maximum: int | None = None,
) -> bytes:
    """receive_maximum: how many unacknowledged QoS 1 messages the broker may send us (MQTT 5
    3.1.2.11.3); None leaves the broker's default (Mosquitto's is 20)."""
    flags = 0xC0 | (0x02 if clean_start else 0)  # user name and password always present
    if will is not None:
        flags |= 0x04 | (1 << 3) | (0x20 if will.retain else 0)  # will flag, will QoS 1, retain
    props = PROP_SESSION_EXPIRY.to_bytes(1, "big") + session_expiry_s.to_bytes(4, "big")
    if receive_maximum is not None:
        if not 0 < receive_maximum <= MAX_PACKET_ID:
            raise ValueError(f"receive_maximum must be within 1..{MAX_PACKET_ID}")
        props += PROP_RECEIVE_MAXIMUM.to_bytes(1, "big") + receive_maximum.to_bytes(2, "big")
    body = b"".join(
        (
            _u16_prefixed(b"MQTT"),
            bytes((5, flags)),
            keepalive_s.to_bytes(2, "big"),
            encode_varint(len(props)),
            props,
            _u16_prefixed(client_id.encode()),
            b"\x00" + _u16_prefixed(will.topic.encode()) + _u16_prefixed(will.payload)
            if will is not None
            else b"",
            _u16_prefixed(username.encode()),
            _u16_prefixed(password.encode()),
        )
    )
    return fixed_header(CONNECT << 4, len(body)) + body


def encode_topic(topic: str) -> bytes:
    """The topic as it appears in a PUBLISH: two length bytes, then UTF-8."""
    return _u16_prefixed(topic.encode())


def _publish(first: int, encoded_topic: bytes, packet_id: int, payload: bytes) -> bytes:
    head = fixed_header(first, len(encoded_topic) + 3 + len(payload))
    # packet id, then a property length of 0
    return b"".join((head, encoded_topic, (packet_id << 8).to_bytes(3, "big"), payload))


def publish_packet(
    topic_bytes: bytes, packet_id: int, payload: bytes, *, dup: bool, retain: bool
) -> bytes:
    """A QoS 1 PUBLISH without properties; topic_bytes is the UTF-8 topic name."""
    first = _PUBLISH_QOS1 | (_DUP if dup else 0) | (1 if retain else 0)
    return _publish(first, _u16_prefixed(topic_bytes), packet_id, payload)


def subscribe_packet(packet_id: int, topic_filter: str, *, qos: int) -> bytes:
    """SUBSCRIBE to one filter (shared subscriptions included) at up to `qos`, no properties."""
    if not 0 <= qos <= 2:
        raise ValueError(f"qos {qos} is not 0, 1 or 2")
    body = (
        packet_id.to_bytes(2, "big")
        + b"\x00"
        + _u16_prefixed(topic_filter.encode())
        + bytes((qos,))
    )
    return fixed_header(0x82, len(body)) + body  # SUBSCRIBE's flags are 0b0010 (3.8.1)


def puback_packets(packet_ids: Sequence[int]) -> bytes:
    """One successful PUBACK (40 02 id id) per packet id, as one buffer for one send(); built
    with slice assignments rather than a Python step per packet."""
    count = len(packet_ids)
    ids = array("H", packet_ids)
    if not _BIG_ENDIAN:
        ids.byteswap()
    raw = ids.tobytes()
    out = bytearray(4 * count)
    out[0::4] = bytes((_PUBACK_OK,)) * count
    out[1::4] = b"\x02" * count
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return bytes(out)


def disconnect_packet() -> bytes:
    """DISCONNECT with reason 0x00 (normal disconnection): the broker discards the will."""
    return b"\xe0\x00"


def pingreq_packet() -> bytes:
    return _PINGREQ_PACKET


def with_dup(packet: bytes) -> bytes:
    """The PUBLISH with DUP=1, as sent again after a reconnect; the same object if already set."""
    return packet if packet[0] & _DUP else bytes((packet[0] | _DUP,)) + packet[1:]


def split_packets(buf: bytes, start: int = 0) -> tuple[list[Packet], int]:
    """The complete packets in buf from start on, and the offset where the incomplete rest
    begins."""
    packets: list[Packet] = []
    pos, end_of_data = start, len(buf)
    while pos + 2 <= end_of_data:
        first, length = buf[pos], buf[pos + 1]
        if length < 0x80:
            body = pos + 2
        else:
            decoded = decode_varint(buf, pos + 1)
            if decoded is None:
                break
            length, body = decoded
        end = body + length
        if end > end_of_data:
            break
        packets.append((first >> 4, first & 0x0F, buf[body:end]))
        pos = end
    return packets, pos


def puback_run(buf: bytes) -> tuple[Sequence[int], int]:
    """The packet ids of the PUBACKs buf starts with, read without a Python step per packet, and
    the offset after them. The common case: every whole packet in buf is a successful PUBACK of
    one form, 40 02 id id (reason 0x00 omitted) or 40 03 id id rc (e.g. 0x10, no matching
    subscribers). Anything else gives ((), 0) and is left to split_packets."""
    stride = buf[1] + 2 if len(buf) > 1 and buf[0] == _PUBACK_OK else 0
    if stride not in (4, 5):
        return (), 0
    count = len(buf) // stride
    if count == 0:  # only part of the first PUBACK has arrived
        return (), 0
    whole = count * stride
    if (
        buf[0:whole:stride].count(_PUBACK_OK) != count
        or buf[1:whole:stride].count(stride - 2) != count
        or (stride == 5 and max(buf[4:whole:5]) >= 0x80)
    ):
        return (), 0
    pairs = bytearray(2 * count)
    pairs[0::2] = buf[2:whole:stride]
    pairs[1::2] = buf[3:whole:stride]
    packet_ids = array("H", pairs)
    if not _BIG_ENDIAN:
        packet_ids.byteswap()
    return packet_ids, whole


@dataclass(frozen=True, slots=True)
class Publish:
    """A received PUBLISH: packet_id is 0 at QoS 0 (nothing to acknowledge)."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    dup: bool


def parse_publish(flags: int, body: bytes) -> Publish:
    """The body of a PUBLISH (after the remaining length): topic, packet id from QoS 1 on, the
    property list (skipped), then the payload."""
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    if len(body) < 3:
        raise MalformedPacket("PUBLISH cut short")
    end = 2 + int.from_bytes(body[0:2], "big")
    topic = body[2:end]
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(body[end : end + 2], "big")
        end += 2
    if end >= len(body):
        raise MalformedPacket("PUBLISH cut short")
    if body[end] == 0:  # the common case: no properties
        start = end + 1
    else:
        decoded = decode_varint(body, end)
        if decoded is None:
            raise MalformedPacket("PUBLISH properties cut short")
        length, after = decoded
        start = after + length
        if start > len(body):
            raise MalformedPacket("PUBLISH properties longer than the packet")
    try:
        name = topic.decode()
    except UnicodeDecodeError as exc:
        raise MalformedPacket("PUBLISH topic is not UTF-8") from exc
    return Publish(name, body[start:], qos, packet_id, bool(flags & _DUP))


def parse_connack(body: bytes) -> tuple[bool, int, dict[int, int | bytes]]:
    """(session present, reason code, properties) of a CONNACK body."""
    if len(body) < 2:
        raise MalformedPacket("CONNACK cut short")
    props, _ = parse_properties(body, 2) if len(body) > 2 else ({}, 2)
    return bool(body[0] & 0x01), body[1], props


def parse_disconnect(body: bytes) -> tuple[int, str]:
    """(reason code, "Name (0xNN)" plus ": <reason string>" when the broker sent one) of a
    DISCONNECT body; an empty body is reason 0x00 (3.14.2.1)."""
    code = body[0] if body else 0
    text = f"{reason_name(code)} (0x{code:02X})"
    why = parse_properties(body, 1)[0].get(PROP_REASON_STRING) if len(body) > 1 else None
    return code, text + (f": {why.decode(errors='replace')}" if isinstance(why, bytes) else "")


def parse_suback(body: bytes) -> tuple[int, bytes]:
    """(packet id, one reason code per filter) of a SUBACK body; codes below 0x80 are the QoS
    granted, 0x80 and above refusals."""
    if len(body) < 3:
        raise MalformedPacket("SUBACK cut short")
    _, end = parse_properties(body, 2)
    return int.from_bytes(body[0:2], "big"), body[end:]


class PacketParser:
    """Feeds received bytes, returns the complete packets and keeps the incomplete rest."""

    __slots__ = ("rest",)

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> list[Packet]:
        buf = self.rest + data if self.rest else data
        packets, used = split_packets(buf)
        self.rest = buf[used:]
        return packets


def parse_properties(data: bytes, offset: int = 0) -> tuple[dict[int, int | bytes], int]:
    """A property list at offset (length first): {id: value}, and the offset after the list.
    Numbers become ints; strings and binary data stay bytes; user properties are skipped."""
    decoded = decode_varint(data, offset)
    if decoded is None:
        raise MalformedPacket("property length cut short")
    length, pos = decoded
    end = pos + length
    props: dict[int, int | bytes] = {}
    while pos < end:
        ident = data[pos]
        pos += 1
        if ident in _BYTE_PROPS:
            props[ident], pos = data[pos], pos + 1
        elif ident in _U16_PROPS:
            props[ident], pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif ident in _U32_PROPS:
            props[ident], pos = int.from_bytes(data[pos : pos + 4], "big"), pos + 4
        elif ident in _VARINT_PROPS:
            value = decode_varint(data, pos)
            if value is None:
                raise MalformedPacket("property cut short")
            props[ident], pos = value
        elif ident in _BLOB_PROPS:
            size = int.from_bytes(data[pos : pos + 2], "big")
            props[ident], pos = data[pos + 2 : pos + 2 + size], pos + 2 + size
        elif ident == _USER_PROPERTY:
            for _ in range(2):
                pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
        else:
            raise MalformedPacket(f"unknown property 0x{ident:02X}")
    if pos != end:
        raise MalformedPacket("property list length mismatch")
    return props, end
