"""A small webhook receiver that does what render.py asks of one: verify the signature (and its
age), drop a repeat of an alert it already has by its Idempotency-Key, acknowledge with 2xx.

Used by `ironlink demo` (alerts arriving at a local receiver) and usable by tests. It keeps the
keys it has seen in memory only, so it dedupes within its own lifetime, which is what a demo or a
test needs; a production receiver would keep them as long as the sender may retry (hours).
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from maintenance.alerts import render
from maintenance.alerts.model import AlertKind

log = logging.getLogger(__name__)

# A webhook body is a ticket snapshot of a few kilobytes; anything far larger is not ours.
MAX_BODY_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    idempotency_key: str
    event: str  # ticket.opened, ticket.resolved, ..., machine.service_due, owner.digest
    serial: str  # a digest: the owner's name
    title: str
    priority: str  # a service-due alert: the hours left; a digest: how many machines it names
    path: str = ""  # the request's path: which subscription's target it came to


@dataclass(frozen=True, slots=True)
class Counts:
    received: int
    duplicates: int
    bad_signature: int


class Verifier:
    """The receiver's logic without the socket: one request's headers and body in, an HTTP status
    out. Thread-safe: the HTTP server calls it from a thread per request."""

    def __init__(self, secret: str, *, on_alert: Callable[[Received], None] | None = None) -> None:
        self._secret = secret
        self._on_alert = on_alert
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._duplicates = 0
        self._bad_signature = 0

    def counts(self) -> Counts:
        with self._lock:
            return Counts(len(self._seen), self._duplicates, self._bad_signature)

    def accept(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime, path: str = ""
    ) -> int:
        """200 for a new alert and for a repeat (acknowledged, so the sender stops retrying, but
        counted and not passed on); 401 for a missing, wrong or stale signature (the sender
        gives such a row up: the same signed bytes would be refused again); 400 for a verified
        body that is not an alert. Header names are matched case-insensitively."""
        headers = {k.lower(): v for k, v in headers.items()}
        ok = render.verify(
            self._secret,
            header=headers.get(render.SIGNATURE_HEADER.lower(), ""),
            timestamp=headers.get(render.TIMESTAMP_HEADER.lower(), ""),
            body=body,
            now=now,
        )
        if not ok:
            with self._lock:
                self._bad_signature += 1
            return 401
        try:
            envelope = json.loads(body)
            event = str(envelope["type"])
            serial, title, priority = _summary(event, envelope["data"])
            alert = Received(
                idempotency_key=headers.get(render.IDEMPOTENCY_HEADER.lower())
                or str(envelope["id"]),
                event=event,
                serial=serial,
                title=title,
                priority=priority,
                path=path,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return 400
        with self._lock:
            repeat = alert.idempotency_key in self._seen
            if repeat:
                self._duplicates += 1
            else:
                self._seen.add(alert.idempotency_key)
        if not repeat and self._on_alert is not None:
            self._on_alert(alert)
        return 200


def _summary(event: str, data: dict[str, Any]) -> tuple[str, str, str]:
    """(serial, title, priority) of an alert's data, by its type (render.event_type)."""
    if event == render.event_type(AlertKind.SERVICE_DUE):
        service = data["service"]
        return (
            str(data["machine"]["serial"]),
            f"{service['title']} around {service['expected']}",
            f"{service['hours_left']} h left",
        )
    if event == render.event_type(AlertKind.DIGEST):
        n = len(data["machines"])
        return (
            str(data["owner"]["name"]),
            f"summary of {data['day']}",
            f"{n} machine" + ("s" if n != 1 else ""),
        )
    return (
        str(data["machine"]["serial"]),
        str(data["ticket"]["title"]),
        str(data["ticket"]["priority"]),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413)
            return
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        status = self.server.verifier.accept(headers, body, now=datetime.now(UTC), path=self.path)
        self._reply(status)

    def _reply(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("receiver: " + format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    verifier: Verifier


class Receiver:
    """The Verifier behind an HTTP server on a thread. Port 0 takes a free one; `url` is the
    address to subscribe. Stop with close() or use as a context manager."""

    def __init__(
        self, verifier: Verifier, *, host: str = "127.0.0.1", port: int = 0, path: str = "/"
    ) -> None:
        self.verifier = verifier
        self._server = _Server((host, port), _Handler)
        self._server.verifier = verifier
        self._path = path
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alert-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._path}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
