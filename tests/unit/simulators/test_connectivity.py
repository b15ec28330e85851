"""Coverage gaps, store-and-forward and resends, as the broker will see them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import msgspec

from simulators.connectivity import LinkDown, LinkUp, Outgoing, Transmitter
from simulators.machine import FleetModel, MachineSpec
from simulators.scenarios import Connectivity, Plan
from telemetry.wire import Channel, Kind, Reading

START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
STEP_S = 120.0


def simulate(
    conn: Connectivity, *, seed: int = 2, hours: float = 72
) -> tuple[FleetModel, Transmitter, list[Outgoing | LinkDown | LinkUp]]:
    specs = [MachineSpec(f"TR-{i:04d}", Kind.TRACTOR) for i in range(1, 9)]
    model = FleetModel(specs, Plan(version=1, connectivity=conn), seed=seed, start=START)
    tx = Transmitter(model.n, conn, seed=seed)
    actions: list[Outgoing | LinkDown | LinkUp] = []
    for _ in range(int(hours * 3600 / STEP_S)):
        step = model.step(STEP_S)
        actions.extend(tx.step(model.t_s, STEP_S, step))
    actions.extend(tx.close(model.t_s))
    return model, tx, actions


GAPPY = Connectivity(gaps_per_day=3.0, gap_h=[0.5, 3.0], batch_max=20, resend_last=4)


def test_every_reading_is_published_at_least_once_even_across_gaps() -> None:
    model, tx, actions = simulate(GAPPY)
    assert tx.gaps, "no coverage gap in three days at three a day"
    seen: dict[int, set[int]] = defaultdict(set)
    for a in actions:
        if isinstance(a, Outgoing):
            seen[a.machine].update(a.seqs)
    for m in range(model.n):
        assert seen[m] == set(range(1, int(model.seq[m]) + 1))


def test_a_gap_is_a_lost_link_then_live_data_then_the_backlog_in_batches() -> None:
    _, _, actions = simulate(GAPPY)
    down = next(i for i, a in enumerate(actions) if isinstance(a, LinkDown))
    m = actions[down].machine
    up = next(
        i for i, a in enumerate(actions) if i > down and isinstance(a, LinkUp) and a.machine == m
    )
    # Nothing is sent for the machine while it is out of coverage.
    assert not [a for a in actions[down:up] if isinstance(a, Outgoing) and a.machine == m]
    after = [a for a in actions[up:] if isinstance(a, Outgoing) and a.machine == m]
    batches = [a for a in after if len(a.seqs) > 1]
    assert batches
    assert all(len(b.seqs) <= GAPPY.batch_max for b in batches)
    decoded = msgspec.json.decode(batches[0].payload, type=list[Reading])
    assert [r.seq for r in decoded] == list(batches[0].seqs)
    # Live data goes first when coverage returns, so the backlog arrives out of order.
    first = after[0]
    if len(first.seqs) == 1:
        assert first.seqs[0] > max(batches[0].seqs)


def test_backlogs_arrive_after_newer_live_data() -> None:
    _, _, actions = simulate(GAPPY)
    newest: dict[int, int] = {}
    late = 0
    for a in actions:
        if isinstance(a, Outgoing) and a.channel is Channel.TELEMETRY and not a.resend:
            if min(a.seqs) < newest.get(a.machine, 0):
                late += 1
            newest[a.machine] = max(newest.get(a.machine, 0), *a.seqs)
    assert late > 0


def test_resends_after_a_gap_repeat_messages_from_before_it_byte_for_byte() -> None:
    _, _, actions = simulate(GAPPY)
    sent = {(a.machine, a.payload) for a in actions if isinstance(a, Outgoing) and not a.resend}
    resends = [a for a in actions if isinstance(a, Outgoing) and a.resend]
    assert resends
    assert all((a.machine, a.payload) in sent for a in resends)


def test_without_gaps_nothing_is_held_or_resent() -> None:
    _, tx, actions = simulate(Connectivity(gaps_per_day=0.0, resend_last=4))
    assert not tx.gaps
    assert all(isinstance(a, Outgoing) and not a.resend and len(a.seqs) == 1 for a in actions)


def test_the_same_seed_gives_the_same_messages_in_the_same_order() -> None:
    def stream(seed: int) -> list[tuple[int, bytes]]:
        _, _, actions = simulate(GAPPY, seed=seed, hours=30)
        return [(a.machine, a.payload) for a in actions if isinstance(a, Outgoing)]

    assert stream(4) == stream(4)
    assert stream(4) != stream(5)
