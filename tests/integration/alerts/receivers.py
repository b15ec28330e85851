"""Real receivers on loopback: an HTTP webhook endpoint (http.server in a thread) and an SMTP
server (aiosmtpd), each recording what arrives and able to fail the first attempts."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers `fail_status` to the first `fail_first` attempts of each idempotency key, then
    200; like a careful receiver, keeps the first accepted request per key and answers 200 to a
    repeat without keeping it."""

    fail_first: int = 0
    fail_status: int = 500
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, Request] = field(default_factory=dict)
    repeats: int = 0
    _attempts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = Request(self.path, dict(self.headers.items()), body)
                key = request.headers.get("Idempotency-Key", "")
                with receiver._lock:
                    receiver.requests.append(request)
                    receiver._attempts[key] += 1
                    if receiver._attempts[key] <= receiver.fail_first:
                        status = receiver.fail_status
                    else:
                        status = 200
                        if key in receiver.accepted:
                            receiver.repeats += 1
                        else:
                            receiver.accepted[key] = request
                reply = b"ok" if status == 200 else b"receiver says no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str = "/hook") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpReceiver:
    """aiosmtpd on a free loopback port. Answers 451 to the first `fail_first` DATA commands of
    each Message-ID; refuses recipients in `refuse` with 550."""

    fail_first: int = 0
    refuse: frozenset[str] = frozenset()
    messages: list[EmailMessage] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _controller: Controller | None = None

    async def handle_RCPT(
        self, server: object, session: object, envelope: Any, address: str, options: object
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        message_id = str(msg["Message-ID"])
        self.attempts[message_id] += 1
        if self.attempts[message_id] <= self.fail_first:
            return "451 4.3.0 Try again later"
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpReceiver:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
