"""Runs the rule engine for a set of machines and writes findings as tickets, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
