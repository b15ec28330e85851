"""Documents as XML (the same content as the JSON body), and which of the two a client asked for.
No I/O.

Mapping: the root element carries the ISO 15143-3 namespace; `version`, `snapshotTime` and
`datetime` are attributes; a list is the same element repeated; an object is a nested element; a
boolean is `true`/`false`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from api.iso15143.documents import NAMESPACE, Document, JsonValue

XML_ATTRIBUTES: Final = frozenset({"version", "snapshotTime", "datetime"})
XML_TYPES: Final = frozenset({"application/xml", "text/xml"})
JSON_TYPES: Final = frozenset({"application/json"})
WILDCARDS: Final = frozenset({"application/*", "*/*"})


def _text(value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, body: dict[str, JsonValue]) -> None:
    for key, value in body.items():
        if value is None:
            continue
        if key in XML_ATTRIBUTES and not isinstance(value, dict | list):
            element.set(key, _text(value))
        elif isinstance(value, list):
            for entry in value:
                _child(element, key, entry)
        else:
            _child(element, key, value)


def _child(parent: ET.Element, name: str, value: JsonValue) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        _fill(child, value)
    elif value is not None:
        child.text = _text(value)


def to_xml(doc: Document) -> bytes:
    root = ET.Element(doc.root, {"xmlns": NAMESPACE})
    _fill(root, doc.body)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_xml(accept: str | None) -> bool:
    """True when the Accept header prefers application/xml (or text/xml) to JSON. JSON is the
    default: for no header, for `*/*`, and when both are named with the same quality. A named
    type beats a wildcard of the same quality (RFC 9110: the more specific range applies)."""
    if not accept:
        return False
    xml_q = json_q = wildcard_q = 0.0
    for media_range in accept.split(","):
        media_type, *params = media_range.split(";")
        media_type = media_type.strip().lower()
        q = _quality(params)
        if media_type in XML_TYPES:
            xml_q = max(xml_q, q)
        elif media_type in JSON_TYPES:
            json_q = max(json_q, q)
        elif media_type in WILDCARDS:
            wildcard_q = max(wildcard_q, q)
    return xml_q > json_q and xml_q >= wildcard_q
