"""The whole chain on the real services: simulated controllers -> Mosquitto -> ingest -> rules ->
ticket with parts -> owner API, scoped to the owner."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.broker_auth import sync_users
from ironlink.settings import Settings
from maintenance.evaluate import rules_after_ingest
from maintenance.rules.load import default_rules
from simulators import fleet
from simulators.machine import MachineSpec
from simulators.scenarios import Injection, MachineOverride, Plan
from telemetry.wire import Kind
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import run_fleet, running_ingest

pytestmark = pytest.mark.usefixtures("broker")


def test_simulated_fleet_to_ticket_in_the_owner_api(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    dealer = make_dealer(conn)
    owners = [make_owner(conn, dealer_id=dealer) for _ in range(2)]
    machines = [
        make_machine(conn, owner_id=owners[0], dealer_id=dealer, kind=Kind.TRACTOR),
        make_machine(conn, owner_id=owners[0], dealer_id=dealer, kind=Kind.TRACTOR),
        make_machine(conn, owner_id=owners[1], dealer_id=dealer, kind=Kind.EXCAVATOR),
    ]
    kinds = (Kind.TRACTOR, Kind.TRACTOR, Kind.EXCAVATOR)
    specs = tuple(
        MachineSpec(serial, kind) for (_, serial), kind in zip(machines, kinds, strict=True)
    )
    serials = [s.serial for s in specs]
    sync_users(settings, serials)
    keys = [create_key(conn, role=Role.OWNER, owner_id=o) for o in owners]
    # The first tractor is 20 h short of its 1000-hour service; the second one overheats.
    plan = Plan(
        version=1,
        machines=[MachineOverride(serials[0], 980.0)],
        injections=[Injection("cooling-degradation", 1, [1, 1], speed=12, serials=[serials[1]])],
    )
    # Twelve simulated hours of a working day, replayed in about three seconds.
    start = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=5, minute=0, second=0, microsecond=0
    )
    while start.weekday() >= 5:
        start -= timedelta(days=1)
    config = fleet.FleetConfig(
        machines=specs,
        plan=plan,
        speedup=15_000,
        seed=5,
        history_h=12,
        start=start,
        truth_dir=tmp_path,
    )
    with running_ingest(settings, on_committed=rules_after_ingest(default_rules().rules)):
        run = run_fleet(settings, config, timeout_s=60)
        assert run.simulated_until == start + timedelta(hours=12), "the simulator did not finish"
        expected = run.readings
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
            if row and row[0] >= expected:
                break
            time.sleep(0.1)
    stored = conn.execute(
        "SELECT count(*), count(DISTINCT (machine_id, seq)) FROM readings"
    ).fetchone()
    assert stored == (expected, expected)

    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/owner/tickets", headers={"Authorization": f"Bearer {keys[0]}"})
        assert response.status_code == 200
        tickets = response.json()["items"]
        service = [t for t in tickets if t["kind"] == "service_interval"]
        assert service, f"no service ticket in {tickets}"
        assert {t["serial"] for t in service} == {serials[0]}
        assert service[0]["parts"], "the service ticket has no parts request"
        other = client.get(
            f"/v1/owner/tickets/{service[0]['id']}", headers={"Authorization": f"Bearer {keys[1]}"}
        )
        assert other.status_code == 404
