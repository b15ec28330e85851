"""A simulated fleet with coverage gaps, resends, clock skew and faults, through the real broker
and ingest: every published reading is stored exactly once and every injected DTC is in `faults`.
"""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ironlink.broker_auth import sync_users
from ironlink.settings import Settings
from simulators import fleet
from simulators.machine import MachineSpec
from simulators.scenarios import Connectivity, Injection, Plan
from telemetry.wire import Kind
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import run_fleet, running_ingest

pytestmark = pytest.mark.usefixtures("broker")

HOURS = 36.0


def working_start() -> datetime:
    """A past midnight from which the next 36 hours are Monday-to-Friday working time."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    while day.weekday() > 3:
        day -= timedelta(days=1)
    return day


def test_every_published_reading_and_injected_dtc_is_stored_once(
    settings: Settings, conn: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    kinds = [Kind.TRACTOR] * 3 + [Kind.EXCAVATOR] * 3
    ids: dict[str, int] = {}
    specs = []
    for kind in kinds:
        machine_id, serial = make_machine(conn, owner_id=owner, dealer_id=dealer, kind=kind)
        ids[serial] = machine_id
        specs.append(MachineSpec(serial, kind))
    sync_users(settings, list(ids))
    plan = Plan(
        version=1,
        injections=[
            Injection("cooling-degradation", 1, [1, 2], speed=12, serials=[specs[0].serial]),
            Injection("crank-sensor-noise", 1, [0, 1], serials=[specs[1].serial]),
            Injection("water-in-fuel", 1, [0, 1], speed=8, serials=[specs[3].serial]),
        ],
        connectivity=Connectivity(
            gaps_per_day=8.0,
            gap_h=[0.3, 2.0],
            batch_max=25,
            resend_last=5,
            skewed_share=0.5,
            skew_s=[-60, 60],
        ),
    )
    truth = tmp_path / "truth"
    config = fleet.FleetConfig(
        machines=tuple(specs),
        plan=plan,
        speedup=30_000,  # 36 simulated hours in about four seconds
        seed=9,
        sample_s=60,
        history_h=HOURS,
        start=working_start(),
        truth_dir=truth,
    )
    with running_ingest(settings):
        run = run_fleet(settings, config)
        assert run.simulated_until == config.start + timedelta(hours=HOURS)  # type: ignore[operator]
        assert run.unacknowledged == 0
        assert run.refused == 0
        assert run.acked >= run.messages_published
        assert run.gaps > 0, run
        assert run.resends > 0, run

        with (truth / "published.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        published = {(ids[r["serial"]], int(r["seq"])) for r in rows if r["channel"] == "telemetry"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            count = conn.execute("SELECT count(*) FROM readings").fetchone()
            if count is not None and count[0] >= len(published):
                break
            time.sleep(0.2)
        time.sleep(0.5)  # anything beyond the expected count would be a duplicate: let it land
        ours = conn.execute(
            "SELECT count(*) FROM rejected WHERE split_part(topic, '/', 4) = ANY(%s)", (list(ids),)
        ).fetchone()
        assert ours == (0,)

    stored = conn.execute("SELECT machine_id, seq FROM readings").fetchall()
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert set(stored) == published, "stored readings differ from the published ones"
    assert conn.execute("SELECT count(*) FROM readings WHERE idle_hours IS NULL").fetchone() == (0,)
    # Every DM1 report, the ones that clear every code included, is stored once too.
    dm1_published = {(ids[r["serial"]], int(r["seq"])) for r in rows if r["channel"] == "faults"}
    dm1_stored = conn.execute("SELECT machine_id, seq FROM dm1_reports").fetchall()
    assert len(dm1_stored) == len(set(dm1_stored))
    assert set(dm1_stored) == dm1_published
    # And the stored fault episodes are exactly the injected ones, at the controller's own time.
    with (truth / "machines.csv").open(newline="") as f:
        skew = {r["serial"]: timedelta(seconds=float(r["clock_skew_s"])) for r in csv.DictReader(f)}
    with (truth / "faults.csv").open(newline="") as f:
        injected = sorted(
            (
                ids[r["serial"]],
                int(r["spn"]),
                int(r["fmi"]),
                datetime.fromisoformat(r["raised"]) + skew[r["serial"]],
            )
            for r in csv.DictReader(f)
            if r["spn"]
        )
    stored_episodes = sorted(
        conn.execute("SELECT machine_id, spn, fmi, onset_ts FROM fault_episodes").fetchall()
    )
    assert len(stored_episodes) == len(injected)
    for got, want in zip(stored_episodes, injected, strict=True):
        assert got[:3] == want[:3]
        assert abs(got[3] - want[3]) < timedelta(milliseconds=1)  # type: ignore[operator]
    resent = sum(1 for r in rows if r["resend"] == "1")
    assert resent > 0

    with (truth / "faults.csv").open(newline="") as f:
        episodes = [r for r in csv.DictReader(f) if r["spn"]]
    assert {r["fault"] for r in episodes} == {
        "cooling-degradation",
        "crank-sensor-noise",
        "water-in-fuel",
    }
    stored_codes = set(
        conn.execute("SELECT DISTINCT machine_id, spn, fmi, oc FROM faults").fetchall()
    )
    for serial, spn, fmi in {(r["serial"], int(r["spn"]), int(r["fmi"])) for r in episodes}:
        raised = sum(
            1 for r in episodes if (r["serial"], int(r["spn"]), int(r["fmi"])) == (serial, spn, fmi)
        )
        # Each episode raised the code with the next occurrence count: all of them arrived.
        for oc in range(1, raised + 1):
            assert (ids[serial], spn, fmi, oc) in stored_codes, (serial, spn, fmi, oc)
