"""The whole chain on the real services: simulated controllers -> Mosquitto -> ingest -> rules ->
ticket with parts -> owner API, scoped to the owner."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, create_key
from ironlink.broker_auth import device_password, sync_users
from ironlink.settings import Settings
from maintenance.evaluate import rules_after_ingest
from maintenance.rules.load import default_rules
from simulators import fleet
from telemetry.wire import Kind
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import running_ingest

pytestmark = pytest.mark.usefixtures("broker")


def test_simulated_fleet_to_ticket_in_the_owner_api(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    dealer = make_dealer(conn)
    owners = [make_owner(conn, dealer_id=dealer) for _ in range(2)]
    machines = [
        make_machine(conn, owner_id=owners[0], dealer_id=dealer, kind=Kind.TRACTOR),
        make_machine(conn, owner_id=owners[0], dealer_id=dealer, kind=Kind.TRACTOR),
        make_machine(conn, owner_id=owners[1], dealer_id=dealer, kind=Kind.EXCAVATOR),
    ]
    kinds = (Kind.TRACTOR, Kind.TRACTOR, Kind.EXCAVATOR)
    serials = tuple((serial, kind) for (_, serial), kind in zip(machines, kinds, strict=True))
    sync_users(settings, [s for s, _ in serials])
    keys = [create_key(conn, role=Role.OWNER, owner_id=o) for o in owners]
    # Twelve simulated hours, replayed in about three seconds.
    config = fleet.FleetConfig(serials=serials, speedup=15_000, seed=5, history_h=12, faulty=1)
    stop = threading.Event()
    sent: list[int] = []
    with running_ingest(settings, on_committed=rules_after_ingest(default_rules().rules)):
        sim = threading.Thread(
            target=lambda: sent.append(
                fleet.run(
                    config,
                    passwords={s: device_password(settings.device_secret, s) for s, _ in serials},
                    host=settings.mqtt_host,
                    port=settings.mqtt_port,
                    stop=stop,
                    duration_s=6,
                )
            )
        )
        sim.start()
        sim.join(timeout=60)
        expected = 3 * 12 * 60  # one reading per simulated minute per machine
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
    assert sent
    assert sent[0] >= expected

    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/owner/tickets", headers={"Authorization": f"Bearer {keys[0]}"})
        assert response.status_code == 200
        tickets = response.json()["items"]
        service = [t for t in tickets if t["kind"] == "service_interval"]
        assert service, f"no service ticket in {tickets}"
        assert {t["serial"] for t in service} == {serials[0][0]}
        assert service[0]["parts"], "the service ticket has no parts request"
        other = client.get(
            f"/v1/owner/tickets/{service[0]['id']}", headers={"Authorization": f"Bearer {keys[1]}"}
        )
        assert other.status_code == 404
