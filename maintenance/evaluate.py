"""Runs the rule engine for a set of machines and writes findings as tickets, in one transaction.

Window-based rules (thresholds, silence, hour-meter jumps) get a `Window` of recent readings read
from telemetry.reader in the same transaction, only when the rules being run need one and with only
the signals they use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import psycopg

from maintenance.fleet import repo as fleet
from maintenance.rules.engine import assess
from maintenance.rules.model import HoursJump, Rule, RuleSet, Silence, Threshold
from maintenance.rules.store import ActiveRules
from maintenance.rules.window import Window
from maintenance.rules.windowed import MIN_GAP_LIMIT_S, threshold_candidates
from maintenance.tickets.flows import apply_findings, resolve_cleared
from maintenance.tickets.repo import machines_with_live_tickets
from telemetry import reader

# How far back before each machine's newest reading a window reaches, at least. A threshold needs
# its whole hold (hold_s) plus one reporting gap before it (the engine bridges gaps up to
# MIN_GAP_LIMIT_S), so a rule with a longer hold widens the window (see window_span).
WINDOW_SPAN: Final = timedelta(minutes=15)

# What the processes are given: the active set from the database (re-read when a newer version is
# loaded), or a fixed set (tests, tools).
RuleSource = ActiveRules | RuleSet | Sequence[Rule]


def current_rules(
    source: RuleSource, conn: psycopg.Connection[tuple[object, ...]]
) -> tuple[list[Rule], int | None]:
    """The rules to run now and their rule-set version (None for a bare list of rules)."""
    if isinstance(source, ActiveRules):
        source = source.get(conn)
    if isinstance(source, RuleSet):
        return list(source.rules), source.version
    return list(source), None


def window_span(rules: Sequence[Rule]) -> timedelta | None:
    """How far back a window must reach for these rules; None when none of them reads one, zero
    when only silence does (it needs each machine's newest reading alone)."""
    windowed = [r for r in rules if isinstance(r, Threshold | Silence | HoursJump)]
    if not windowed:
        return None
    holds = [r.hold_s for r in windowed if isinstance(r, Threshold)]
    if not holds and all(isinstance(r, Silence) for r in windowed):
        return timedelta(0)
    return max(WINDOW_SPAN, timedelta(seconds=max(holds, default=0.0) + MIN_GAP_LIMIT_S))


def window_signals(rules: Sequence[Rule]) -> list[str]:
    """The reading columns the window-based rules among `rules` look at, sorted."""
    names: set[str] = set()
    for rule in rules:
        match rule:
            case Threshold():
                names.add(rule.signal)
                if rule.only_when_running:
                    names.add("rpm")
            case Silence():
                names.update(("rpm", "lat", "lon"))
            case HoursJump():
                names.add("engine_hours")
    return sorted(names)


def read_window(
    conn: psycopg.Connection[tuple[object, ...]], *, rules: Sequence[Rule], machine_ids: list[int]
) -> Window | None:
    """One query for the readings (and one for the offline set when a silence rule runs)."""
    span = window_span(rules)
    if span is None or not machine_ids:
        return None
    signals = window_signals(rules)
    if all(
        isinstance(r, Threshold) for r in rules if isinstance(r, Threshold | Silence | HoursJump)
    ):
        # Thresholds only (the ingest hook): each machine's newest reading first, and the whole
        # span only for machines that could fire or have a threshold ticket to clear; a batch of
        # machines working normally costs one row each instead of minutes of readings.
        latest = reader.recent_readings(
            conn, machine_ids=machine_ids, span=timedelta(0), signals=signals
        )
        could = threshold_candidates(rules, Window.from_rows(latest, signals=signals))
        could |= machines_with_live_tickets(conn, machine_ids=machine_ids, kinds=["threshold"])
        machine_ids = sorted(could)
        if not machine_ids:
            return Window.from_rows([], signals=signals)
    rows = reader.recent_readings(conn, machine_ids=machine_ids, span=span, signals=signals)
    offline: set[int] = set()
    if any(isinstance(r, Silence) for r in rules):
        offline = reader.offline_machine_ids(conn, machine_ids)
    return Window.from_rows(rows, signals=signals, offline=offline)


@dataclass(frozen=True, slots=True)
class RuleRun:
    """Ticket ids: opened, appended to (new evidence) and auto-resolved by clear verdicts."""

    opened: list[int]
    appended: list[int]
    resolved: list[int]


def run_rules(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    rules: Sequence[Rule],
    machine_ids: list[int],
    now: datetime,
    rule_set_version: int | None = None,
) -> RuleRun:
    """Evaluates `rules` for the machines, writes the findings (tickets opened record
    `rule_set_version`) and resolves the tickets their clear verdicts settle, in one transaction."""
    with conn.transaction():
        views = fleet.machine_views(conn, machine_ids)
        window = read_window(conn, rules=rules, machine_ids=machine_ids)
        evaluation = assess(rules, views, now, window=window)
        applied = apply_findings(
            conn, evaluation.findings, now=now, rule_set_version=rule_set_version
        )
        resolved = resolve_cleared(conn, clears=evaluation.clears, now=now)
    return RuleRun(opened=applied.opened, appended=applied.appended, resolved=resolved)


def without_silence(rules: Sequence[Rule]) -> list[Rule]:
    """The service sweep's rules: silence has a sweep of its own, over a longer look-back."""
    return [r for r in rules if not isinstance(r, Silence)]


def for_ingest(rules: Sequence[Rule]) -> list[Rule]:
    """The rules the ingest hook runs. Silence is judged by the sweep: a machine in a batch has
    just reported (a late upload of buffered readings measured long ago must not open a silence
    ticket for a machine that is talking to us now). Hour-meter jumps too: they are not urgent and
    need minutes of every machine's readings, which would double the reads of each batch."""
    return [r for r in rules if not isinstance(r, Silence | HoursJump)]


class CommittedBatch(Protocol):
    """What ingest reports after a commit (telemetry.store.BatchResult): the machines in it."""

    @property
    def machine_ids(self) -> set[int]: ...


def rules_after_ingest(
    rules: RuleSource,
) -> Callable[[psycopg.Connection[tuple[object, ...]], CommittedBatch], None]:
    """The hook ingest calls after each committed batch: every rule but silence and hour-meter
    jumps runs at once for the batch's machines (see for_ingest and read_window)."""

    def hook(conn: psycopg.Connection[tuple[object, ...]], batch: CommittedBatch) -> None:
        current, version = current_rules(rules, conn)
        run_rules(
            conn,
            rules=for_ingest(current),
            machine_ids=sorted(batch.machine_ids),
            now=datetime.now(UTC),
            rule_set_version=version,
        )

    return hook
