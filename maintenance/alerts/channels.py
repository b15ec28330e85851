"""The two channels: one attempt each, reported as an Outcome, never raised.

Webhook: POST the signed JSON (render.webhook_*), no redirects followed. 2xx is delivered.
408 and 429 (the receiver is busy), 5xx, timeouts and connection errors are retried. Any other
4xx and 3xx is dead at once: the receiver has refused this request (bad signature, unknown path,
gone) and the same signed bytes will be refused again; retrying for hours would only delay a
person noticing the dead row. E-mail: smtplib to the configured relay; a 5xx refusal of the
recipient or of the message is dead; 4xx, connection trouble and refusals of our own login or
sender (relay settings, fixed by an operator) are retried.
"""

from __future__ import annotations

import http.client
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from maintenance.alerts import render
from maintenance.alerts.model import Claimed, Failed, Outcome, Sent

RETRYABLE_4XX: Final = frozenset({408, 429})
# Enough of a receiver's error body to say why, bounded against a huge error page.
MAX_ERROR_BODY_BYTES: Final = 300


class Sender(Protocol):
    def __call__(self, row: Claimed, *, now: datetime) -> Outcome: ...


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff decides


@dataclass(frozen=True, slots=True)
class WebhookSender:
    # Connect and each read; a receiver slower than this is retried later.
    timeout_s: float = 10.0

    def __call__(self, row: Claimed, *, now: datetime) -> Outcome:
        url = urlsplit(row.target)
        if url.scheme not in ("http", "https") or not url.hostname:
            return Failed(f"not an http(s) URL: {row.target!r}", permanent=True)
        body = render.webhook_body(row)
        headers = render.webhook_headers(row, body=body, now=now)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(
                url.hostname, url.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=self.timeout_s)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            status = response.status
            text = response.read(MAX_ERROR_BODY_BYTES).decode("utf-8", "replace")
            retry_after = _retry_after_s(response.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as exc:
            return Failed(f"webhook: {type(exc).__name__}: {exc}")
        finally:
            conn.close()
        if 200 <= status < 300:
            return Sent(f"HTTP {status}")
        error = f"webhook: HTTP {status}: {text.strip()}"
        if status >= 500 or status in RETRYABLE_4XX:
            return Failed(error, retry_after_s=retry_after)
        return Failed(error, permanent=True)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


@dataclass(frozen=True, slots=True)
class EmailSender:
    host: str
    port: int
    sender: str
    timeout_s: float = 10.0
    starttls: bool = False
    user: str = ""
    password: str = ""

    def __call__(self, row: Claimed, *, now: datetime) -> Outcome:
        message = render.email(row, sender=self.sender, now=now)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return Failed(f"smtp: recipient refused: {exc.recipients}", permanent=min(codes) >= 500)
        except smtplib.SMTPDataError as exc:
            return Failed(
                f"smtp: {exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500
            )
        except smtplib.SMTPResponseException as exc:
            # Refused login, sender or greeting: our relay settings, not this alert; the backlog
            # goes out once an operator fixes them.
            return Failed(f"smtp: {exc.smtp_code} {_text(exc.smtp_error)}")
        except (OSError, smtplib.SMTPException) as exc:
            return Failed(f"smtp: {type(exc).__name__}: {exc}")
        if refused:  # one recipient per message: accepted or refused as a whole
            return Failed(f"smtp: refused {refused}", permanent=True)
        return Sent("accepted")
