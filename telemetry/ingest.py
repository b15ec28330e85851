"""MQTT ingest worker: MQTT v5, QoS 1, persistent session, shared subscription, acknowledgement
after commit.

A message is acknowledged only after the transaction holding its rows has committed. A crash before
the commit means the broker redelivers it; a redelivery after the commit is absorbed by the unique
keys. While the database is down nothing is acknowledged, so the broker stops sending once
ReceiveMaximum messages are outstanding: back-pressure, not loss. telemetry.mqtt_receiver holds
the connection (and says why it is not paho-mqtt).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import psycopg

from ironlink.settings import Settings
from telemetry import store
from telemetry.batcher import Batcher
from telemetry.hours import check_hours
from telemetry.machines import MachineDirectory
from telemetry.metrics import IngestMetrics
from telemetry.mqtt_receiver import Message, Receiver, ReceiverConfig
from telemetry.validate import Address, Reason, Reject, parse_topic, validate
from telemetry.wire import SUBSCRIPTION, Dm1, Reading, encode

log = logging.getLogger(__name__)

# After a failed commit, wait before retrying the same batch; doubling up to the cap keeps a down
# database from being hammered while the broker holds the unacknowledged messages.
RETRY_INITIAL_S: Final = 0.5
RETRY_MAX_S: Final = 15.0
STATS_EVERY_S: Final = 10.0

OnCommitted = Callable[[psycopg.Connection[tuple[object, ...]], store.BatchResult], None]


@dataclass(slots=True)
class Stats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        *,
        worker_index: int = 0,
        on_committed: OnCommitted | None = None,
        stop: threading.Event | None = None,
        serve_metrics: bool = False,
    ) -> None:
        self.settings = settings
        self.worker_index = worker_index
        self.serve_metrics = serve_metrics
        self.metrics = IngestMetrics()
        self.client_id = f"ironlink-{settings.ingest_group}-{worker_index}"
        self.on_committed = on_committed
        self.stop = stop or threading.Event()
        self.stats = Stats()
        # One list per recv() of the receiver: the hand-off costs one put per read, not per message.
        self._inbox: queue.Queue[list[Message]] = queue.Queue()
        self._batcher: Batcher[Message] = Batcher(
            max_items=settings.ingest_batch_max,
            max_wait_s=settings.ingest_flush_s,
            clock=time.monotonic,
        )
        self._receiver = Receiver(
            ReceiverConfig(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                client_id=self.client_id,
                username=settings.mqtt_user,
                password=settings.mqtt_password,
                topic_filter=f"$share/{settings.ingest_group}/{SUBSCRIPTION}",
                # Mosquitto sends only 20 unacknowledged QoS 1 messages unless told more; a batch
                # holds messages unacknowledged until commit, so allow two batches in flight.
                receive_maximum=min(65_535, 2 * settings.ingest_batch_max),
                session_expiry_s=settings.ingest_session_expiry_s,
            ),
            self._inbox.put,
        )

    @property
    def subscribed(self) -> threading.Event:
        return self._receiver.subscribed

    # --- batching and storage (worker thread) ----------------------------------------------

    def run(self) -> None:
        if self.serve_metrics and self.settings.metrics_port:
            port = self.settings.metrics_port + self.worker_index
            try:
                self.metrics.serve(self.settings.metrics_host, port)
                log.info("metrics at http://%s:%d/metrics", self.settings.metrics_host, port)
            except OSError as exc:  # a busy port must not stop ingest
                log.error("metrics not served on port %d: %s", port, exc)
        conn = self._db_connect()
        directory = MachineDirectory(psycopg.connect(self.settings.database_url, autocommit=True))
        self._receiver.start()
        last_stats = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    messages = self._inbox.get(
                        timeout=self._batcher.wait_s() if len(self._batcher) else 0.1
                    )
                    self._batcher.extend(messages)
                    while len(self._batcher) < self.settings.ingest_batch_max:
                        self._batcher.extend(self._inbox.get_nowait())
                except queue.Empty:
                    pass
                if self._batcher.due():
                    conn = self._flush(conn, directory)
                if time.monotonic() - last_stats >= STATS_EVERY_S:
                    last_stats = time.monotonic()
                    log.info("ingest %s: %s", self.client_id, self.stats)
            # Drain what already arrived so a clean stop acknowledges everything it stored.
            while True:
                try:
                    self._batcher.extend(self._inbox.get_nowait())
                except queue.Empty:
                    break
            if len(self._batcher):
                conn = self._flush(conn, directory, retry=False)
        finally:
            self._receiver.close()
            conn.close()
            directory.close()

    def _db_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        delay = RETRY_INITIAL_S
        while True:
            conn = None
            try:
                conn = psycopg.connect(self.settings.database_url, autocommit=True)
                store.prepare(conn)
                return conn
            except psycopg.OperationalError as exc:
                if conn is not None:
                    conn.close()
                if self.stop.is_set():
                    raise
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)

    def _flush(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        directory: MachineDirectory,
        *,
        retry: bool = True,
    ) -> psycopg.Connection[tuple[object, ...]]:
        items = self._batcher.take()
        generation = self._receiver.generation
        # Messages from an earlier connection will be redelivered by the broker; acking them on the
        # new connection would acknowledge the wrong packet ids.
        items = [i for i in items if i.generation == generation]
        if not items:
            return conn
        delay = RETRY_INITIAL_S
        while True:
            try:
                result = self._store(conn, directory, items)
                break
            except psycopg.OperationalError as exc:
                if not retry or self.stop.is_set():
                    log.error("batch of %d not stored (%s); broker will redeliver", len(items), exc)
                    return conn
                log.warning("batch not stored (%s); retrying in %.1fs", exc, delay)
                self.metrics.db_retries.inc()
                time.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)
                conn.close()
                conn = self._db_connect()
                try:
                    directory.reconnect(self.settings.database_url)
                except psycopg.OperationalError as again:
                    log.warning("machine directory not reconnected (%s); retrying", again)
        self._receiver.ack(generation, [i.packet_id for i in items])
        self._observe(items, result)
        self.stats.received += len(items)
        self.stats.stored += result.readings_stored
        self.stats.duplicates += result.duplicates
        self.stats.rejected += result.rejected
        self.stats.batches += 1
        if self.on_committed is not None and result.machine_ids:
            try:
                self.on_committed(conn, result)
            except Exception:
                # The batch is committed and acknowledged; the periodic sweeps catch up on findings.
                log.exception("after-commit hook failed for %d machines", len(result.machine_ids))
        return conn

    def _observe(self, items: list[Message], result: store.BatchResult) -> None:
        m = self.metrics
        m.commit_seconds.observe(time.monotonic() - min(i.received_s for i in items))
        m.batch_messages.observe(len(items))
        m.received.inc(len(items))
        m.stored.labels(kind="reading").inc(result.readings_stored)
        m.stored.labels(kind="dm1_report").inc(result.reports_stored)
        m.duplicates.inc(result.duplicates)
        m.rejected_by(result.rejected_reasons)
        m.backlog.set(self._inbox.qsize() + len(self._batcher))
        now = datetime.now(UTC).timestamp()
        for age in result.reading_ages(now):
            m.reading_age_seconds.observe(age)

    def _store(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        directory: MachineDirectory,
        items: list[Message],
    ) -> store.BatchResult:
        now = datetime.now(UTC)
        readings: list[tuple[int, Reading]] = []
        reports: list[tuple[int, Dm1]] = []
        statuses: list[store.StatusUpdate] = []
        rejected: list[store.RejectedMessage] = []
        topics: dict[int, str] = {}  # machine id -> its telemetry topic
        reject_counts: Counter[str] = Counter()
        addresses = [parse_topic(i.topic) for i in items]
        directory.resolve({a.serial for a in addresses if isinstance(a, Address)})
        for item, address in zip(items, addresses, strict=True):
            if isinstance(address, Reject):
                reject_counts[address.reason] += 1
                rejected.append(
                    store.RejectedMessage(item.topic, item.payload, address.reason, address.detail)
                )
                continue
            machine = directory.get(address.serial)
            outcome = validate(address, machine, item.payload, now)
            if outcome.rejects:
                reject_counts.update(r.reason for r in outcome.rejects)
                rejected.extend(one_row_per_reason(item, outcome.rejects))
            if machine is None:
                continue
            if outcome.readings:
                readings.extend((machine.id, r) for r in outcome.readings)
                topics[machine.id] = item.topic  # a machine's telemetry has one topic
            if outcome.reports:
                reports.extend((machine.id, r) for r in outcome.reports)
            if outcome.status is not None:
                statuses.append(
                    store.StatusUpdate(machine.id, outcome.status.online, outcome.status.ts or now)
                )
        with conn.transaction():
            if readings:
                latest = store.latest_hours(conn, sorted({m for m, _ in readings}))
                readings, backwards = check_hours(readings, latest)
                reject_counts[Reason.HOURS_BACKWARDS] += len(backwards)
                for machine_id, reading, detail in backwards:
                    log.warning("rejected hours_backwards on %s: %s", topics[machine_id], detail)
                    rejected.append(
                        store.RejectedMessage(
                            topics[machine_id], encode(reading), Reason.HOURS_BACKWARDS, detail
                        )
                    )
            result = store.write_batch(
                conn, readings=readings, reports=reports, statuses=statuses, rejected=rejected
            )
            result.rejected_reasons = reject_counts
            return result


# A batch of thousands of bad readings is one message: keep its bytes once per reason, with the
# first details, rather than once per reading.
DETAILS_KEPT: Final = 5


def one_row_per_reason(item: Message, rejects: list[Reject]) -> list[store.RejectedMessage]:
    by_reason: dict[str, list[str]] = {}
    for reject in rejects:
        by_reason.setdefault(reject.reason, []).append(reject.detail)
    rows = []
    for reason, details in by_reason.items():
        detail = "; ".join(details[:DETAILS_KEPT])
        if len(details) > 1:
            more = len(details) - DETAILS_KEPT
            detail = f"{len(details)} rejects: {detail}" + (
                f"; and {more} more" if more > 0 else ""
            )
        log.warning("rejected %s on %s: %s", reason, item.topic[:200], detail[:200])
        rows.append(store.RejectedMessage(item.topic, item.payload, reason, detail))
    return rows
