"""The job table: every periodic job and its schedule, readable on one screen."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from psycopg_pool import ConnectionPool

from maintenance import job_runs
from maintenance.alerts import digest, outbox, service_due
from maintenance.alerts.channels import Sender
from maintenance.alerts.delivery import deliver_due
from maintenance.alerts.model import Channel
from maintenance.anomaly.sweep import FleetSweeper
from maintenance.crm.customer import grade_all
from maintenance.evaluate import RuleSource, current_rules, run_rules, without_silence
from maintenance.fleet import repo as fleet
from maintenance.forecast.parts_repo import forecast_every_dealer
from maintenance.rules.model import Silence
from maintenance.tickets.sla_escalation import escalate as sla_escalation_run
from telemetry import chunk_reorder, hourly_rollup, reader
from telemetry.retention import drop_expired

log = logging.getLogger(__name__)

# A machine silent for longer than this is parked for the season or gone; its silence ticket was
# opened long ago, and sweeping every machine that ever reported would grow without bound.
SILENCE_LOOKBACK: Final = timedelta(days=30)
# job_runs is bookkeeping for failovers and a recent history for operators, not an audit log.
JOB_RUNS_KEPT: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_s: float
    func: Callable[[], None]


def service_sweep(pool: ConnectionPool, rules: RuleSource) -> None:
    """Hours-based service intervals, faults still active, thresholds and hour-meter jumps over
    every reporting machine: what the ingest hook does per batch, for machines that stopped
    sending (their interval comes due as hours are corrected) and batches whose hook failed."""
    with pool.connection() as conn:
        current, version = current_rules(rules, conn)
        ids = fleet.active_machine_ids(conn)
        if ids:
            applied = run_rules(
                conn,
                rules=without_silence(current),
                machine_ids=ids,
                now=datetime.now(UTC),
                rule_set_version=version,
            )
            log.info(
                "service sweep: %d machines, %d tickets opened, %d resolved",
                len(ids),
                len(applied.opened),
                len(applied.resolved),
            )


def silence_sweep(pool: ConnectionPool, rules: RuleSource) -> None:
    """Silence rules over the machines that reported in the last SILENCE_LOOKBACK, judged by each
    one's newest reading."""
    with pool.connection() as conn:
        current, version = current_rules(rules, conn)
        silence = [r for r in current if isinstance(r, Silence)]
        now = datetime.now(UTC)
        ids = reader.machines_reporting_since(conn, now - SILENCE_LOOKBACK) if silence else []
        if ids:
            applied = run_rules(
                conn, rules=silence, machine_ids=ids, now=now, rule_set_version=version
            )
            log.info(
                "silence sweep: %d machines, %d tickets opened, %d resolved",
                len(ids),
                len(applied.opened),
                len(applied.resolved),
            )


def anomaly_sweep(pool: ConnectionPool, sweeper: FleetSweeper) -> None:
    """The fleet anomaly detector over the minutes since the last sweep (maintenance.anomaly);
    its alarms open LOW tickets, raised to NORMAL when sustained."""
    with pool.connection() as conn:
        result = sweeper.run(conn, now=datetime.now(UTC))
        log.info(
            "anomaly sweep: %d machines x %d minutes in %.2f s, %d events, %d tickets opened, "
            "%d resolved",
            result.machines,
            result.minutes,
            result.seconds,
            len(result.events),
            len(result.opened),
            len(result.resolved),
        )


def customer_grading(pool: ConnectionPool) -> None:
    """Grades every owner A/B/C/D (maintenance.crm.grading); ticket priorities follow the grade."""
    with pool.connection() as conn:
        grades = grade_all(conn, now=datetime.now(UTC))
        log.info("customer grading: %d owners graded", len(grades))


def chunk_reorder_job(pool: ConnectionPool) -> None:
    """Finished chunks of readings and faults rewritten in (machine, time) order, a few per run
    (telemetry.chunk_reorder); what TimescaleDB's reorder policy does outside the Apache build."""
    with pool.connection() as conn:
        done = chunk_reorder.reorder_due(conn, now=datetime.now(UTC))
        if done:
            log.info(
                "chunk reorder: %d chunks in %.1f s",
                len(done),
                sum(r.took_s for r in done),
            )


def hourly_rollup_job(pool: ConnectionPool) -> None:
    """Settled dirty hours of readings recomputed into readings_hourly (telemetry.hourly_rollup),
    which serves the owner's history at buckets of whole hours."""
    with pool.connection() as conn:
        done = hourly_rollup.refresh(conn, now=datetime.now(UTC))
        if done.hours or done.started:
            log.info(
                "hourly rollup: %d machine-hours in %d batches%s",
                done.hours,
                done.batches,
                " (first run: every stored hour)" if done.started else "",
            )


def alert_delivery(pool: ConnectionPool, senders: Mapping[Channel, Sender]) -> None:
    """Due alerts from the outbox, sent by webhook or e-mail (maintenance.alerts.delivery); a
    second scheduler or `ironlink alerts deliver` running at the same time takes other rows."""
    with pool.connection() as conn:
        run = deliver_due(conn, now=datetime.now(UTC), senders=senders)
        if run.claimed:
            log.info(
                "alert delivery: %d delivered, %d to retry, %d dead, %d deferred (quiet hours)",
                run.delivered,
                run.retried,
                run.dead,
                run.deferred,
            )


def service_due_alerts(pool: ConnectionPool, lead_days: int) -> None:
    """An alert to owner and dealer when a service is forecast due within `lead_days`, once per
    (machine, rule, due point) and recipient (maintenance.alerts.service_due)."""
    with pool.connection() as conn, conn.transaction():
        done = service_due.sweep(conn, now=datetime.now(UTC), lead_days=lead_days)
    if done.alerted:
        log.info(
            "service-due alerts: %d machines forecast, %d services due, %d alerts enqueued",
            done.machines,
            len(done.alerted),
            done.rows,
        )


def owner_digest(pool: ConnectionPool, lead_days: int) -> None:
    """Each subscribed owner's daily summary once their local morning has come, once per local
    day, only when there is something to say (maintenance.alerts.digest)."""
    with pool.connection() as conn, conn.transaction():
        done = digest.run(conn, now=datetime.now(UTC), lead_days=lead_days)
    if done.owners:
        log.info(
            "owner digest: %d owners due, %d digests sent (%d alerts)",
            done.owners,
            len(done.sent),
            done.rows,
        )


def sla_escalation(pool: ConnectionPool, near_fraction: float) -> None:
    """Live tickets near or past their SLA deadline get sla_near / sla_breached once, a breach
    raising the priority a step (maintenance.tickets.sla); their alerts go out with them."""
    with pool.connection() as conn, conn.transaction():
        done = sla_escalation_run(conn, now=datetime.now(UTC), near_fraction=near_fraction)
    if done.near or done.breached:
        log.info(
            "SLA escalation: %d near, %d breached (%d raised)",
            len(done.near),
            len(done.breached),
            len(done.raised),
        )


def retention(
    pool: ConnectionPool, keep: timedelta | None, alerts_keep: timedelta | None = None
) -> None:
    """Telemetry chunks older than `keep` dropped (telemetry.retention; None keeps them), delivered
    and dead alerts older than `alerts_keep` (None keeps them), and job runs of slots older than
    JOB_RUNS_KEPT."""
    now = datetime.now(UTC)
    dropped = []
    alerts = 0
    with pool.connection() as conn:
        if keep is not None:
            dropped = drop_expired(conn, now=now, keep=keep)
        if alerts_keep is not None:
            alerts = outbox.prune_finished(conn, before=now - alerts_keep)
    pruned = job_runs.prune(pool, before=now - JOB_RUNS_KEPT)
    log.info(
        "retention: %s; %d finished alerts and %d job runs pruned",
        ", ".join(f"{d.table} {len(d.chunks)} chunks" for d in dropped) or "nothing dropped",
        alerts,
        pruned,
    )


def parts_forecast(pool: ConnectionPool) -> None:
    """Every dealer's parts demand for the next 90 days, stored as the snapshot the dispatcher's
    parts-forecast reads with the live shelf (maintenance.forecast.parts_repo)."""
    with pool.connection() as conn:
        dealers, visits = forecast_every_dealer(conn, now=datetime.now(UTC))
    log.info("parts forecast: %d dealers, %d service visits", dealers, visits)


def job_table(
    pool: ConnectionPool,
    rules: RuleSource,
    *,
    # None leaves alert delivery out (a table run without a mail relay configured).
    alert_senders: Mapping[Channel, Sender] | None = None,
    alerts_every_s: float = 10.0,
    sweep_every_s: float = 60.0,
    silence_every_s: float = 300.0,
    anomaly_every_s: float = 60.0,
    grading_every_s: float = 86_400.0,
    reorder_every_s: float = 3_600.0,
    rollup_every_s: float = 60.0,
    sla_every_s: float = 60.0,
    sla_near_fraction: float = 0.25,
    retention_every_s: float = 86_400.0,
    retention_days: int = 730,  # 0: telemetry kept forever (job runs are still pruned)
    alert_retention_days: int = 90,  # 0: delivered and dead alerts kept forever
    service_due_every_s: float = 3_600.0,
    service_due_lead_days: int = 7,
    digest_every_s: float = 3_600.0,  # each owner's is sent by the first run after 07:00 local
    parts_forecast_every_s: float = 86_400.0,
) -> list[Job]:
    sweeper = FleetSweeper()  # the detector's learned state lives as long as the scheduler
    alerts = (
        [Job("alert-delivery", alerts_every_s, lambda: alert_delivery(pool, alert_senders))]
        if alert_senders is not None
        else []
    )
    keep = timedelta(days=retention_days) if retention_days else None
    alerts_keep = timedelta(days=alert_retention_days) if alert_retention_days else None
    return [
        Job("service-sweep", sweep_every_s, lambda: service_sweep(pool, rules)),
        Job("silence-sweep", silence_every_s, lambda: silence_sweep(pool, rules)),
        Job("anomaly-sweep", anomaly_every_s, lambda: anomaly_sweep(pool, sweeper)),
        Job("customer-grading", grading_every_s, lambda: customer_grading(pool)),
        Job("chunk-reorder", reorder_every_s, lambda: chunk_reorder_job(pool)),
        Job("hourly-rollup", rollup_every_s, lambda: hourly_rollup_job(pool)),
        Job("sla-escalation", sla_every_s, lambda: sla_escalation(pool, sla_near_fraction)),
        Job(
            "service-due-alerts",
            service_due_every_s,
            lambda: service_due_alerts(pool, service_due_lead_days),
        ),
        Job("owner-digest", digest_every_s, lambda: owner_digest(pool, service_due_lead_days)),
        Job("parts-forecast", parts_forecast_every_s, lambda: parts_forecast(pool)),
        Job("retention", retention_every_s, lambda: retention(pool, keep, alerts_keep)),
        *alerts,
    ]
