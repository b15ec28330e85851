"""schemathesis over the app's own OpenAPI document, on the real database, for each role's key.

Every operation is called with generated parameters and bodies, its path parameters either as
generated (mostly records that do not exist) or pinned to seeded records in the key's scope (so
success bodies are checked too). Each answer must be no server error, a documented status with
its documented media type, and a body and headers that match the document. A failure names the
operation and the smallest request hypothesis found for it.

Bounded and repeatable: a few examples per operation, derandomized, no example database. Writes
change the seeded records as they go (a ticket may be closed, a machine retired); every later answer
must still conform, so that is part of the test rather than a hazard to it.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.auth import Role, create_key
from api.iso15143.documents import DataItem
from api.ratelimit import Limit
from ironlink.settings import Settings
from maintenance.rules.findings import Finding
from maintenance.rules.load import shipped_text
from maintenance.rules.model import PartLine, Priority
from maintenance.rules.store import load_rule_set
from maintenance.tickets.flows import apply_findings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]

# Examples per operation: the routes of the key's own audience, and the ISO 15143-3 ones that every
# key may call, each within its scope, get MAX_EXAMPLES; the rest get GLANCE_EXAMPLES, enough to
# see a refusal (401/403 problem) or, for an admin on the dispatch routes, the dispatcher's own
# handlers again. Three roles then run in about half a minute on two cores.
MAX_EXAMPLES: Final = 10
GLANCE_EXAMPLES: Final = 2
HOME: Final = {
    Role.OWNER: ("/v1/owner/", "/iso15143/"),
    Role.DISPATCHER: ("/v1/dispatch/", "/iso15143/"),
    Role.ADMIN: ("/v1/admin/", "/iso15143/"),
}
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Far above what the examples spend: the rate limit is tested in tests/unit/api/test_ratelimit.py
# and test_keys_api.py; here a 429 would only hide the answer under test.
UNLIMITED: Final = Limit(rate_per_s=1e6, burst=1_000_000)


# Path parameter name -> values naming records in a role's scope.
Pins = dict[str, st.SearchStrategy[object]]


@dataclass(frozen=True)
class World:
    keys: dict[Role, str]
    pins: dict[Role, Pins]


def _zulu(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_readings(conn: Conn, machine_id: int, *, count: int, now: datetime) -> None:
    conn.execute(
        """
        INSERT INTO readings (machine_id, ts, seq, engine_hours, idle_hours, rpm, load_pct,
                              coolant_c, fuel_pct, def_pct, lat, lon)
        SELECT %(m)s, %(t0)s + n * interval '10 minutes', n, 240 + n / 6.0, 20 + n / 60.0,
               1500, 60, 88, 90 - n / 20.0, 50, 52.0 + n / 1000.0, 9.5
        FROM generate_series(0, %(count)s - 1) n
        """,
        {"m": machine_id, "t0": now - timedelta(minutes=10 * count), "count": count},
    )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours, fuel_pct, coolant_c, lat,"
        " lon, online, active_faults)"
        " SELECT machine_id, ts, seq, engine_hours, fuel_pct, coolant_c, lat, lon, true,"
        ' \'[{"spn": 110, "fmi": 0, "oc": 1, "lamp": "red"}]\''
        " FROM readings WHERE machine_id = %(m)s ORDER BY ts DESC LIMIT 1",
        {"m": machine_id},
    )


def seed(conn: Conn) -> World:
    """An owner with two machines (readings, a fault, a ticket), a second owner, a dealer with a
    technician and stock, the shipped rule set, and a key of each role."""
    now = datetime.now(UTC).replace(microsecond=0)
    dealer = make_dealer(conn)
    dealer_code = conn.execute("SELECT code FROM dealers WHERE id = %s", (dealer,)).fetchone()
    owner = make_owner(conn, dealer_id=dealer)
    make_owner(conn, dealer_id=dealer)
    machine_id, serial = make_machine(conn, owner_id=owner, dealer_id=dealer)
    make_machine(conn, owner_id=owner, dealer_id=dealer)
    _add_readings(conn, machine_id, count=300, now=now)
    conn.execute(
        "INSERT INTO fault_episodes (machine_id, spn, fmi, onset_ts, cleared_ts, last_seen_ts,"
        " max_oc, lamp, reports) VALUES (%s, 110, 0, %s, NULL, %s, 1, 'red', 2)",
        (machine_id, now - timedelta(hours=3), now - timedelta(minutes=10)),
    )
    technician = conn.execute(
        "INSERT INTO technicians (dealer_id, name, skills) VALUES (%s, 'Ana', %s) RETURNING id",
        (dealer, ["hydraulics"]),
    ).fetchone()
    conn.execute(
        "INSERT INTO parts (part_no, description, unit_price) VALUES"
        " ('FLT-OIL-STD', 'oil filter', 12.5) ON CONFLICT DO NOTHING"
    )
    conn.execute(
        "INSERT INTO dealer_stock (dealer_id, part_no, on_hand, reserved)"
        " VALUES (%s, 'FLT-OIL-STD', 5, 0)",
        (dealer,),
    )
    version = load_rule_set(
        conn, document=yaml.safe_load(shipped_text()), source="test", actor="test"
    )
    finding = Finding(
        machine_id,
        "svc-250h",
        "service_interval",
        "250-hour service",
        Priority.NORMAL,
        {"due_at_h": 250.0},
        (PartLine(part_no="FLT-OIL-STD"),),
    )
    with conn.transaction():
        ticket = apply_findings(conn, [finding], now=now).opened[0]
    assert dealer_code is not None
    assert technician is not None
    iso = {
        "id": st.just(serial),
        "dataItem": st.sampled_from([str(item) for item in DataItem]),
        "startDateUTC": st.just(_zulu(now - timedelta(days=3))),
        "endDateUTC": st.just(_zulu(now)),
        "pageNumber": st.just("1"),
    }
    keys = {
        Role.OWNER: create_key(conn, role=Role.OWNER, owner_id=owner, limit=UNLIMITED),
        Role.DISPATCHER: create_key(conn, role=Role.DISPATCHER, limit=UNLIMITED),
        Role.ADMIN: create_key(conn, role=Role.ADMIN, limit=UNLIMITED),
    }
    pins: dict[Role, Pins] = {
        Role.OWNER: {"serial": st.just(serial), "ticket_id": st.just(ticket), **iso},
        Role.DISPATCHER: {
            "ticket_id": st.just(ticket),
            "owner_id": st.just(owner),
            "dealer_code": st.just(dealer_code[0]),
            **iso,
        },
        Role.ADMIN: {
            "serial": st.just(serial),
            "owner_id": st.just(owner),
            "dealer_id": st.just(dealer),
            "technician_id": st.just(technician[0]),
            "version": st.just(version),
            **iso,
        },
    }
    return World(keys, pins)


@pytest.fixture
def broker_settings(settings: Settings, tmp_path: Path) -> Settings:
    # Provisioning writes a password file and an ACL of its own here; no pid file, so no broker
    # (not even the services' one) is signalled.
    return settings.replace(
        mqtt_passwd_file=str(tmp_path / "mosquitto" / "passwd"), mqtt_pid_file=""
    )


@pytest.fixture
def schema(broker_settings: Settings) -> Iterator[Any]:
    app = create_app(broker_settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # schemathesis keeps an app's lifespan (and so its pool) open for the process otherwise.
    shutdown_lifespans()


def _conform(operation: Any, key: str, pins: Pins, *, examples: int) -> list[int]:
    """Calls `operation` with `examples` generated cases; raises on the first failing check (after
    shrinking it) and returns the statuses seen otherwise."""
    names = [p.name for p in operation.path_parameters]
    pinned = {name: pins[name] for name in names if name in pins}
    strategy = operation.as_strategy()
    if pinned:
        strategy = st.one_of(
            strategy,
            st.fixed_dictionaries(pinned).flatmap(
                lambda values: operation.as_strategy(path_parameters=values)
            ),
        )
    seen: list[int] = []

    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        seen.append(response.status_code)

    run()
    return seen


def _explain(exc: BaseException) -> str:
    """The failure and what it groups: hypothesis wraps a flaky one, schemathesis several checks."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join([str(exc), *(_explain(e) for e in exc.exceptions)])
    if isinstance(exc, AssertionError) or type(exc).__module__.startswith("schemathesis"):
        return str(exc)
    return "".join(traceback.format_exception(exc, limit=-8))  # the frames nearest the error


@pytest.mark.parametrize("role", [Role.OWNER, Role.DISPATCHER, Role.ADMIN], ids=str)
def test_every_operation_answers_as_documented(role: Role, conn: Conn, schema: Any) -> None:
    world = seed(conn)
    failures: list[str] = []
    never_succeeded: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        home = operation.path.startswith(HOME[role])
        try:
            seen = _conform(
                operation,
                world.keys[role],
                world.pins[role],
                examples=MAX_EXAMPLES if home else GLANCE_EXAMPLES,
            )
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises FailureGroup
            failures.append(f"{operation.label}:\n{_explain(exc)}")
            continue
        if home and operation.method.upper() == "GET" and not any(200 <= s < 300 for s in seen):
            never_succeeded.append(operation.label)
    assert not failures, "\n\n".join(failures)
    # Refusals and 404s alone would conform vacuously: each read of the key's own audience must
    # have answered a success body (pinned to a seeded record) that the checks looked at.
    assert never_succeeded == [], "pin a seeded record for their path parameters in seed()"
