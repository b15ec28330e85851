"""Prometheus metrics of one ingest worker, served at http://<metrics_host>:<port>/metrics."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Batches fill to thousands of messages under load and flush on a timer when quiet.
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000)
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30, 60)
# How old a reading is when it is committed: seconds for live data, hours after a coverage gap.
AGE_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "ironlink_ingest_received", "MQTT messages received and committed", registry=r
        )
        self.stored = Counter(
            "ironlink_ingest_stored", "Rows stored for the first time", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "ironlink_ingest_duplicates",
            "Readings and DM1 reports already stored (resends, redeliveries), absorbed",
            registry=r,
        )
        self.rejected = Counter(
            "ironlink_ingest_rejected", "Messages or readings rejected, by reason", ["reason"],
            registry=r,
        )  # fmt: skip
        self.batch_messages = Histogram(
            "ironlink_ingest_batch_messages", "Messages per committed batch", buckets=BATCH_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "ironlink_ingest_commit_seconds",
            "From a batch's first message received to its commit (acknowledged right after)",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.reading_age_seconds = Histogram(
            "ironlink_ingest_reading_age_seconds",
            "Per machine and batch, commit time minus its newest reading's measured time (lag)",
            buckets=AGE_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge(
            "ironlink_ingest_backlog_messages",
            "Messages received but not yet committed (in the worker's queue and batch)",
            registry=r,
        )
        self.db_retries = Counter(
            "ironlink_ingest_db_retries", "Batch commits retried after a database error", registry=r
        )

    def rejected_by(self, reasons: Mapping[str, int]) -> None:
        for reason, count in reasons.items():
            self.rejected.labels(reason=reason).inc(count)

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
