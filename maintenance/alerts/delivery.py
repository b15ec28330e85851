"""Delivers due outbox rows: claim a small batch (outbox.claim_due: FOR UPDATE SKIP LOCKED, then a
lease), send each outside any transaction, record the outcome (policy.after_attempt).

Guarantee: at least once to the receiver, with the row's idempotency key on every attempt, so a
receiver that drops repeats sees each alert once. Another deliverer never sends a row while its
lease runs (it skips locked rows and rows leased into the future); a deliverer that dies mid-send
leaves the row due again when the lease ends, and it is sent again rather than lost. The one
double send left is a worker that sent, then died (or outlived its lease) before recording it:
the key is there for exactly that.

The caller owns the connection (autocommit); this module opens its own short transactions, as
an edge (a job run) does.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import psycopg

from maintenance.alerts import outbox, policy
from maintenance.alerts.channels import EmailSender, Sender, WebhookSender
from maintenance.alerts.model import Channel, Failed

log = logging.getLogger(__name__)

# Rows per claim: small, so one slow receiver delays few others and the lease (policy.LEASE)
# covers the batch's sends at the channels' timeouts (10 x 10 s < 5 min).
BATCH: Final = 10
# Rows per run at most, so one run of the job ends even while new alerts keep arriving.
MAX_PER_RUN: Final = 500


@dataclass(frozen=True, slots=True)
class Run:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0

    @property
    def claimed(self) -> int:
        return self.delivered + self.retried + self.dead + self.deferred

    def __add__(self, other: Run) -> Run:
        return Run(
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.dead + other.dead,
            self.deferred + other.deferred,
        )


def senders(
    *,
    smtp_host: str,
    smtp_port: int,
    smtp_sender: str,
    timeout_s: float = 10.0,
    smtp_starttls: bool = False,
    smtp_user: str = "",
    smtp_password: str = "",
) -> dict[Channel, Sender]:
    return {
        Channel.WEBHOOK: WebhookSender(timeout_s=timeout_s),
        Channel.EMAIL: EmailSender(
            host=smtp_host,
            port=smtp_port,
            sender=smtp_sender,
            timeout_s=timeout_s,
            starttls=smtp_starttls,
            user=smtp_user,
            password=smtp_password,
        ),
    }


def deliver_batch(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    now: datetime,
    senders: Mapping[Channel, Sender],
    rng: random.Random,
    limit: int = BATCH,
    max_attempts: int = policy.MAX_ATTEMPTS,
) -> Run:
    """One claim of at most `limit` due rows, each sent and recorded."""
    claimed = outbox.claim_due(conn, now=now, lease_until=now + policy.LEASE, limit=limit)
    run = Run()
    for row in claimed:
        match policy.before_send(row, now=now, max_attempts=max_attempts):
            case policy.Defer(until):
                outbox.defer(conn, row, until=until)
                run += Run(deferred=1)
                continue
            case policy.GiveUp(error):
                outbox.mark_dead(conn, row, error=error)
                log.warning("alert %s dead: %s", row.idempotency_key, error)
                run += Run(dead=1)
                continue
            case policy.Send():
                pass
        try:
            outcome = senders[row.channel](row, now=now)
        except Exception as exc:  # a payload we cannot render: a retry renders it the same way
            log.exception("alert %s could not be sent", row.idempotency_key)
            outcome = Failed(f"{type(exc).__name__}: {exc}", permanent=True)
        match policy.after_attempt(
            outcome, attempts=row.attempts, now=now, rng=rng, max_attempts=max_attempts
        ):
            case policy.Delivered():
                outbox.mark_delivered(conn, row, now=now)
                run += Run(delivered=1)
            case policy.Retry(at, error):
                outbox.mark_retry(conn, row, at=at, error=error)
                log.info(
                    "alert %s attempt %d failed, retry at %s: %s",
                    row.idempotency_key,
                    row.attempts,
                    at.isoformat(),
                    error[:256],
                )
                run += Run(retried=1)
            case policy.Dead(error):
                outbox.mark_dead(conn, row, error=error)
                log.warning("alert %s dead: %s", row.idempotency_key, error[:256])
                run += Run(dead=1)
    return run


def deliver_due(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    now: datetime,
    senders: Mapping[Channel, Sender],
    rng: random.Random | None = None,
    batch: int = BATCH,
    max_rows: int = MAX_PER_RUN,
    max_attempts: int = policy.MAX_ATTEMPTS,
) -> Run:
    """Batches until nothing is due at `now` (every row handled is leased, retried later,
    deferred or final, so none comes back within the run) or `max_rows` were handled."""
    rng = rng or random.Random()
    total = Run()
    while total.claimed < max_rows:
        run = deliver_batch(
            conn,
            now=now,
            senders=senders,
            rng=rng,
            limit=min(batch, max_rows - total.claimed),
            max_attempts=max_attempts,
        )
        total += run
        if run.claimed < batch:
            break
    return total
