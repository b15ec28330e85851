"""Retention of the outbox: finished rows older than the cut go, pending ones and newer ones
stay."""

from __future__ import annotations

from datetime import timedelta

from maintenance.alerts import outbox
from maintenance.alerts.model import Audience, Channel
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.integration.alerts.conftest import Clock, Conn, World, add_subscription


def test_finished_rows_before_the_cut_are_pruned_in_batches(
    conn: Conn, world: World, clock: Clock
) -> None:
    for n in range(4):
        add_subscription(
            conn,
            audience=Audience.OWNER,
            recipient_id=world.owner_id,
            channel=Channel.EMAIL,
            target=f"o{n}@example.test",
        )
    finding = Finding(world.machine_id, "manual-x", "manual", "Leak", Priority.NORMAL, {})
    with conn.transaction():
        apply_findings(conn, [finding], now=clock.now - timedelta(days=100))
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM alert_outbox ORDER BY id")]  # type: ignore[call-overload]
    assert len(ids) == 4
    old_delivered, old_dead, old_pending, new_delivered = ids
    conn.execute(
        "UPDATE alert_outbox SET status = 'delivered', delivered_at = created_at"
        " WHERE id = ANY(%s)",
        ([old_delivered, new_delivered],),
    )
    conn.execute("UPDATE alert_outbox SET status = 'dead' WHERE id = %s", (old_dead,))
    conn.execute(
        "UPDATE alert_outbox SET created_at = %s WHERE id = %s", (clock.now, new_delivered)
    )

    assert outbox.prune_finished(conn, before=clock.now - timedelta(days=90), batch=1) == 2
    left = [int(r[0]) for r in conn.execute("SELECT id FROM alert_outbox ORDER BY id")]  # type: ignore[call-overload]
    assert left == [old_pending, new_delivered]
    assert outbox.prune_finished(conn, before=clock.now - timedelta(days=90)) == 0
