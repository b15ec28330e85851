"""Runs the rule engine for a set of machines and writes findings as tickets, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import psycopg

from maintenance.fleet import repo as fleet
from maintenance.rules.engine import evaluate
from maintenance.rules.model import Rule
from maintenance.tickets.flows import Applied, apply_findings


def run_rules(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    rules: Sequence[Rule],
    machine_ids: list[int],
    now: datetime,
) -> Applied:
    with conn.transaction():
        views = fleet.machine_views(conn, machine_ids)
        return apply_findings(conn, evaluate(rules, views, now), now=now)


class CommittedBatch(Protocol):
    """What ingest reports after a commit (telemetry.store.BatchResult): the machines in it."""

    @property
    def machine_ids(self) -> set[int]: ...


def rules_after_ingest(
    rules: Sequence[Rule],
) -> Callable[[psycopg.Connection[tuple[object, ...]], CommittedBatch], None]:
    """The hook ingest calls after each committed batch: rules run at once for its machines."""

    def hook(conn: psycopg.Connection[tuple[object, ...]], batch: CommittedBatch) -> None:
        run_rules(conn, rules=rules, machine_ids=sorted(batch.machine_ids), now=datetime.now(UTC))

    return hook
