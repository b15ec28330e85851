"""`ironlink alerts subscribe|list|deliver` against a real database and real receivers."""

from __future__ import annotations

import pytest

from ironlink.cli import build_parser
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.model import Priority
from maintenance.tickets.flows import apply_findings
from tests.integration.alerts.conftest import SECRET, Conn, World
from tests.integration.alerts.receivers import SmtpReceiver, WebhookReceiver


def run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["alerts", *argv])
    result: int = args.func(settings, args)
    return result


def test_subscribe_list_and_deliver(
    conn: Conn,
    settings: Settings,
    world: World,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings.replace(smtp_port=smtp.port, alert_timeout_s=5.0)
    code = conn.execute("SELECT code FROM owners WHERE id = %s", (world.owner_id,)).fetchone()
    assert code is not None
    owner = str(code[0])
    assert run(settings, "subscribe", "--owner", owner, "--webhook", webhook.url()) == 2
    assert "secret" in capsys.readouterr().err
    assert (
        run(settings, "subscribe", "--owner", owner, "--webhook", webhook.url(), "--secret", SECRET)
        == 0
    )
    assert (
        run(
            settings,
            "subscribe",
            "--dealer",
            str(world.dealer_id),
            "--email",
            "service@example.test",
            "--kinds",
            "opened,sla_breached",
            "--quiet",
            "22:00-06:00",
            "--timezone",
            "Europe/Berlin",
        )
        == 0
    )
    capsys.readouterr()
    assert run(settings, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2
    assert "[opened,escalated,resolved,service_due,digest]" in listed[0]
    assert "service@example.test [opened,sla_breached] quiet 22:00-06:00 Europe/Berlin" in listed[1]

    finding = Finding(
        machine_id=world.machine_id,
        rule_key="spn110-fmi0",
        rule_kind="fault_code",
        title="Coolant too hot",
        priority=Priority.CRITICAL,
        evidence={"spn": 110, "fmi": 0, "oc": 1, "reported_at": "2026-11-23T09:00:00+00:00"},
    )
    with conn.transaction():
        # At the wall clock, as ingest stamps it: `deliver` runs at the wall clock; critical, so
        # the dealer's quiet hours do not hold it whatever the time of day.
        apply_findings(conn, [finding], now=conn.execute("SELECT now()").fetchone()[0])  # type: ignore[index, arg-type]
    assert run(settings, "deliver") == 0
    assert capsys.readouterr().out.startswith("alerts: 2 delivered, 0 to retry, 0 dead")
    assert len(webhook.accepted) == 1
    assert [m["To"] for m in smtp.messages] == ["service@example.test"]
