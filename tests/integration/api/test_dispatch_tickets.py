"""One ticket through /v1/dispatch: detail (evidence, events, SLA, telemetry), assign, transitions,
notes and parts requests, each through maintenance.tickets.lifecycle and scoped to the key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ironlink.settings import Settings
from maintenance.parts import repo as parts
from tests.integration.api.test_dispatch_support import (
    NOW,
    Api,
    Conn,
    World,
    build_world,
    make_ticket,
    one,
    seconds_left,
    serve,
)

# The newest reading, on a five-minute boundary so the buckets below are easy to name.
T = (NOW - timedelta(minutes=30)).replace(minute=0, second=0)
EVIDENCE = [{"signal": "coolant_c", "observed": 108.0, "threshold": 105.0}]


@pytest.fixture
def world(conn: Conn) -> World:
    return build_world(conn)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from serve(settings)


def ticket_a(conn: Conn, w: World, **kwargs: object) -> int:
    fields: dict[str, object] = {"due": NOW + timedelta(hours=3), "evidence": EVIDENCE}
    return make_ticket(conn, machine_id=w.machines["a1"], **(fields | kwargs))  # type: ignore[arg-type]


def ticket_b(conn: Conn, w: World) -> int:
    return make_ticket(conn, machine_id=w.machines["b1"], due=NOW + timedelta(hours=3))


def readings(conn: Conn, machine_id: int, *, minutes: int = 7 * 60) -> None:
    """One reading a minute up to T; coolant_c is 100 minus the minutes before T, so a bucket's
    statistics are known by hand. The machine's state is its newest reading."""
    conn.execute(
        """
        INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm, coolant_c)
        SELECT %(m)s, %(t)s - make_interval(mins => k), 100000 - k, 1200 - k / 60.0, 1500,
               100 - k
        FROM generate_series(0, %(n)s) AS k
        """,
        {"m": machine_id, "t": T, "n": minutes},
    )
    conn.execute(
        "INSERT INTO machine_state (machine_id, ts, seq, engine_hours, lat, lon, online)"
        " VALUES (%s, %s, 100000, 1200, 52.1, -7.2, true)",
        (machine_id, T),
    )


def url(ticket_id: int, tail: str = "") -> str:
    return f"/v1/dispatch/tickets/{ticket_id}{tail}"


# --- Detail ---------------------------------------------------------------------------------------


def test_detail_has_evidence_sla_machine_and_telemetry_of_the_evidences_signal(
    api: Api, conn: Conn, world: World
) -> None:
    readings(conn, world.machines["a1"])
    due = NOW + timedelta(hours=3)
    ticket = ticket_a(conn, world, due=due)
    left, body = seconds_left(due, lambda: api.get(url(ticket), world.keys["a"]))
    assert body["evidence"] == EVIDENCE
    assert body["sla"]["breached"] is False
    assert body["sla"]["remaining_s"] in left
    assert body["machine"]["serial"] == world.serials["a1"]
    assert (body["machine"]["lat"], body["machine"]["lon"], body["machine"]["online"]) == (
        52.1,
        -7.2,
        True,
    )
    telemetry = body["telemetry"]
    assert datetime.fromisoformat(telemetry["end"]) == T
    assert datetime.fromisoformat(telemetry["start"]) == T - timedelta(hours=6)
    assert telemetry["bucket_s"] == 300
    (series,) = telemetry["series"]
    assert (series["signal"], series["unit"]) == ("coolant_c", "degC")
    buckets = {datetime.fromisoformat(b["t"]): b for b in series["buckets"]}
    # (T-6h, T]: a partial first bucket (4 readings), 71 full ones, and T alone in the last.
    assert len(buckets) == 73
    assert buckets[T - timedelta(minutes=10)] | {"t": None} == {
        "t": None,
        "mean": 92.0,  # readings 10..6 minutes before T: 90..94
        "min": 90.0,
        "max": 94.0,
    }
    assert buckets[T]["mean"] == 100.0
    assert min(buckets) == T - timedelta(hours=6)
    assert buckets[min(buckets)]["min"] == 100 - 359


def test_a_fault_tickets_telemetry_follows_its_spn_and_a_service_ticket_gets_vital_signs(
    api: Api, conn: Conn, world: World
) -> None:
    readings(conn, world.machines["a1"], minutes=30)
    fault = ticket_a(conn, world, evidence=[{"spn": 100, "fmi": 1}, {"spn": 110, "fmi": 0}])
    service = ticket_a(conn, world, evidence=[{"due_at_h": 250.0}], kind="service_interval")
    _, body = api.get(url(fault), world.keys["a"])
    assert [s["signal"] for s in body["telemetry"]["series"]] == ["oil_kpa", "coolant_c"]
    assert body["telemetry"]["series"][0]["buckets"] == []  # no oil pressure was reported
    _, body = api.get(url(service), world.keys["a"])
    series = {s["signal"]: s for s in body["telemetry"]["series"]}
    assert list(series) == ["rpm", "load_pct", "coolant_c", "oil_kpa", "fuel_pct", "battery_v"]
    assert {b["mean"] for b in series["rpm"]["buckets"]} == {1500.0}


def test_a_finished_tickets_telemetry_and_sla_stop_at_its_finish(
    api: Api, conn: Conn, world: World
) -> None:
    readings(conn, world.machines["a1"])
    finished = T - timedelta(hours=2)
    ticket = ticket_a(conn, world, status="cancelled", due=finished - timedelta(minutes=30))
    conn.execute("UPDATE tickets SET cancelled_at = %s WHERE id = %s", (finished, ticket))
    _, body = api.get(url(ticket), world.keys["a"])
    assert datetime.fromisoformat(body["telemetry"]["end"]) == finished
    assert body["sla"] == {
        "due_at": body["sla_due_at"],
        "remaining_s": -1800,
        "breached": True,
    }


def test_the_telemetry_window_can_end_at_a_chosen_time_but_not_after_the_newest_reading(
    api: Api, conn: Conn, world: World
) -> None:
    readings(conn, world.machines["a1"])
    ticket = ticket_a(conn, world)
    earlier = T - timedelta(hours=2)
    _, body = api.get(url(ticket), world.keys["a"], telemetry_end=earlier.isoformat())
    assert datetime.fromisoformat(body["telemetry"]["end"]) == earlier
    assert datetime.fromisoformat(body["telemetry"]["start"]) == earlier - timedelta(hours=6)
    newest = max(b["t"] for b in body["telemetry"]["series"][0]["buckets"])
    assert datetime.fromisoformat(newest) == earlier  # the reading at the end, alone in its bucket
    _, body = api.get(
        url(ticket), world.keys["a"], telemetry_end=(T + timedelta(days=1)).isoformat()
    )
    assert datetime.fromisoformat(body["telemetry"]["end"]) == T


def test_a_machine_never_heard_from_has_empty_telemetry(api: Api, conn: Conn, world: World) -> None:
    status, body = api.get(url(ticket_a(conn, world)), world.keys["a"])
    assert status == 200
    assert body["telemetry"]["series"][0]["buckets"] == []
    assert body["machine"]["last_seen"] is None


# --- Scope ----------------------------------------------------------------------------------------

ROUTES = [
    ("GET", ""),
    ("GET", "/parts"),
    ("POST", "/assign"),
    ("POST", "/transition"),
    ("POST", "/notes"),
    ("POST", "/parts"),
]
BODY = {
    "/assign": {"technician_id": 1},
    "/transition": {"to": "cancelled", "note": "duplicate"},
    "/notes": {"text": "hello"},
    "/parts": {"part_no": "FLT-OIL-STD"},
}


@pytest.mark.parametrize(("method", "tail"), ROUTES)
def test_another_dealers_ticket_is_404_like_a_missing_one_and_stays_unchanged(
    api: Api, conn: Conn, world: World, method: str, tail: str
) -> None:
    theirs = ticket_b(conn, world)
    events = one(conn, "SELECT count(*) FROM ticket_events WHERE ticket_id = %s", (theirs,))
    missing = theirs + 1000

    def ask(ticket_id: int) -> tuple[int, dict[str, object]]:
        if method == "GET":
            return api.get(url(ticket_id, tail), world.keys["a"])
        return api.post(url(ticket_id, tail), world.keys["a"], BODY[tail])

    status, body = ask(theirs)
    assert status == 404
    _, absent = ask(missing)
    assert body == absent | {"detail": f"ticket {theirs} does not exist"}
    assert str(theirs) in str(body["detail"])
    after = one(conn, "SELECT count(*) FROM ticket_events WHERE ticket_id = %s", (theirs,))
    assert (after, one(conn, "SELECT status FROM tickets WHERE id = %s", (theirs,))) == (
        events,
        "open",
    )
    # The unbound key reaches it.
    if method == "GET":
        assert api.get(url(theirs, tail), world.keys["all"])[0] == 200


# --- Assign ---------------------------------------------------------------------------------------


def test_assignment_is_recorded_in_the_events_with_the_keys_label(
    api: Api, conn: Conn, world: World
) -> None:
    ticket = ticket_a(conn, world)
    status, body = api.post(
        url(ticket, "/assign"), world.keys["a"], {"technician_id": world.techs["ann"]}
    )
    assert status == 200, body
    assert body["assigned_technician"] == {"id": world.techs["ann"], "name": "Ann"}
    (event,) = [e for e in body["events"] if e["kind"] == "assigned"]
    assert event["actor"] == "dispatcher:desk-a"
    assert event["detail"] == {"technician_id": world.techs["ann"], "previous": None}
    status, body = api.post(
        url(ticket, "/assign"), world.keys["all"], {"technician_id": world.techs["abe"]}
    )
    assert status == 200
    last = body["events"][-1]
    assert last["actor"].startswith("dispatcher:key-")  # an unlabelled key is named by its id
    assert last["detail"] == {"technician_id": world.techs["abe"], "previous": world.techs["ann"]}


@pytest.mark.parametrize(
    ("tech", "status", "words"),
    [
        ("ben", 422, "works for dealer"),  # another dealer's technician
        ("old", 422, "is not active"),
        (None, 404, "does not exist"),
    ],
)
def test_assigning_someone_who_cannot_take_it_is_refused(
    api: Api, conn: Conn, world: World, tech: str | None, status: int, words: str
) -> None:
    ticket = ticket_a(conn, world)
    technician_id = world.techs[tech] if tech else 10**9
    got, body = api.post(
        url(ticket, "/assign"), world.keys["all"], {"technician_id": technician_id}
    )
    assert got == status
    assert words in body["detail"]
    assert one(conn, "SELECT assigned_technician_id FROM tickets WHERE id = %s", (ticket,)) is None


def test_a_finished_ticket_is_not_assigned(api: Api, conn: Conn, world: World) -> None:
    ticket = ticket_a(conn, world, status="closed")
    status, body = api.post(
        url(ticket, "/assign"), world.keys["a"], {"technician_id": world.techs["ann"]}
    )
    assert (status, body["type"]) == (409, "https://ironlink.dev/problems/conflict")


# --- Transitions ----------------------------------------------------------------------------------


def test_a_ticket_moves_through_its_states_and_each_move_is_an_event(
    api: Api, conn: Conn, world: World
) -> None:
    readings(conn, world.machines["a1"], minutes=10)
    ticket = ticket_a(conn, world)
    visit = (NOW + timedelta(days=1)).isoformat()
    key = world.keys["a"]
    steps = [
        {"to": "scheduled", "scheduled_for": visit},
        {"to": "in_progress", "note": "on site"},
        {"to": "resolved", "resolution": "thermostat replaced", "note": "owner informed",
         "labour_h": 1.5},
        {"to": "closed"},
    ]  # fmt: skip
    for step in steps:
        status, body = api.post(url(ticket, "/transition"), key, step)
        assert status == 200, body
        assert body["status"] == step["to"]
    moves = [(e["kind"], e["detail"].get("to")) for e in body["events"]]
    assert moves == [
        ("status", "scheduled"),
        ("status", "in_progress"),
        ("note", None),
        ("status", "resolved"),
        ("status", "closed"),
    ]
    assert body["events"][2]["detail"] == {"text": "owner informed"}
    assert body["resolution"] == "thermostat replaced"
    assert {e["actor"] for e in body["events"]} == {"dispatcher:desk-a"}
    record = conn.execute(
        "SELECT notes, labour_h, engine_hours FROM service_records WHERE ticket_id = %s",
        (ticket,),
    ).fetchone()
    assert record is not None
    assert (record[0], float(record[1]), record[2]) == ("thermostat replaced", 1.5, 1200.0)


def test_the_detail_names_the_statuses_the_ticket_may_move_to_now(
    api: Api, conn: Conn, world: World
) -> None:
    ticket = ticket_a(conn, world)
    _, body = api.get(url(ticket), world.keys["a"])
    assert body["transitions"] == ["scheduled", "in_progress", "resolved", "cancelled"]
    _, body = api.post(url(ticket, "/transition"), world.keys["a"], {"to": "in_progress"})
    assert body["transitions"] == ["waiting_parts", "resolved", "cancelled"]
    _, body = api.post(
        url(ticket, "/transition"), world.keys["a"], {"to": "cancelled", "note": "x"}
    )
    assert body["transitions"] == []


@pytest.mark.parametrize(
    ("start", "body", "status", "words"),
    [
        ("closed", {"to": "in_progress"}, 409, "a closed ticket cannot become in_progress"),
        ("open", {"to": "waiting_parts"}, 409, "from open: cancelled, in_progress, resolved"),
        ("cancelled", {"to": "open"}, 409, "nothing (it is final)"),
        ("open", {"to": "scheduled"}, 422, "needs scheduled_for"),
        ("open", {"to": "cancelled"}, 422, "the reason for cancelling must not be empty"),
        ("in_progress", {"to": "resolved"}, 422, "resolution notes must not be empty"),
        ("open", {"to": "cancelled", "note": "x", "resolution": "y"}, 422, "when resolving"),
    ],
)
def test_a_refused_transition_says_why_and_changes_nothing(
    api: Api,
    conn: Conn,
    world: World,
    start: str,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    ticket = ticket_a(conn, world, status=start)
    got, problem = api.post(url(ticket, "/transition"), world.keys["a"], body)
    assert got == status, problem
    assert words in problem["detail"]
    assert problem["status"] == status
    if status == 409:
        assert problem["type"] == "https://ironlink.dev/problems/invalid-transition"
    assert one(conn, "SELECT status FROM tickets WHERE id = %s", (ticket,)) == start
    assert one(conn, "SELECT count(*) FROM ticket_events WHERE ticket_id = %s", (ticket,)) == 0


# --- Notes ----------------------------------------------------------------------------------------


def test_a_note_is_an_event_and_an_empty_one_is_refused(api: Api, conn: Conn, world: World) -> None:
    ticket = ticket_a(conn, world)
    status, body = api.post(url(ticket, "/notes"), world.keys["a"], {"text": "  called owner "})
    assert status == 201
    assert [(e["kind"], e["actor"], e["detail"]) for e in body["events"]] == [
        ("note", "dispatcher:desk-a", {"text": "called owner"})
    ]
    status, body = api.post(url(ticket, "/notes"), world.keys["a"], {"text": "   "})
    assert (status, body["detail"]) == (422, "the note must not be empty")


# --- Parts ----------------------------------------------------------------------------------------


def stock(conn: Conn, *, dealer_id: int, part_no: str, qty: int) -> None:
    with conn.transaction():
        parts.catalogue_on_first_use(conn, [(part_no, "Thermostat 82 C")])
        parts.receive(conn, dealer_id=dealer_id, part_no=part_no, qty=qty, actor="test")


def test_a_part_in_stock_is_reserved_and_one_short_is_backordered(
    api: Api, conn: Conn, world: World
) -> None:
    stock(conn, dealer_id=world.dealers["a"], part_no="THERMO-82", qty=3)
    stock(conn, dealer_id=world.dealers["b"], part_no="THERMO-82", qty=10)
    ticket = ticket_a(conn, world)
    key = world.keys["a"]
    status, first = api.post(url(ticket, "/parts"), key, {"part_no": "THERMO-82", "qty": 2})
    assert status == 201, first
    assert (first["status"], first["qty"], first["dealer"]) == (
        "reserved",
        2,
        world.codes["a"],
    )
    assert first["description"] == "Thermostat 82 C"  # from the catalogue
    # Two left on the shelf minus two reserved: one more than that waits for a delivery, even
    # though dealer b has plenty (parts come from the ticket's own dealer).
    status, second = api.post(url(ticket, "/parts"), key, {"part_no": "THERMO-82", "qty": 2})
    assert (status, second["status"]) == (201, "backordered")
    s = parts.stock(conn, dealer_id=world.dealers["a"], part_no="THERMO-82")
    assert s is not None
    assert (s.on_hand, s.reserved) == (3, 2)
    status, page = api.get(url(ticket, "/parts"), key)
    assert [p["id"] for p in page["items"]] == [first["id"], second["id"]]
    status, page = api.get(url(ticket, "/parts"), key, status="backordered")
    assert [p["id"] for p in page["items"]] == [second["id"]]
    status, page = api.get(url(ticket, "/parts"), key, limit=1)
    assert (page["next_after"], len(page["items"])) == (first["id"], 1)
    status, page = api.get(url(ticket, "/parts"), key, limit=1, after=first["id"])
    assert [p["id"] for p in page["items"]] == [second["id"]]
    _, detail = api.get(url(ticket), key)
    requested = [e["detail"] for e in detail["events"] if e["kind"] == "parts_requested"]
    assert [(r["qty"], r["status"]) for r in requested] == [(2, "reserved"), (2, "backordered")]


@pytest.mark.parametrize(
    ("start", "body", "status", "words"),
    [
        ("open", {"part_no": "NO-SUCH-PART"}, 422, "not in the catalogue"),
        ("open", {"part_no": "THERMO-82", "qty": 500}, 422, "qty is 1 to 100"),
        ("open", {"part_no": "THERMO-82", "qty": 0}, 422, "request failed validation"),
        ("resolved", {"part_no": "THERMO-82"}, 409, "is resolved"),
    ],
)
def test_a_refused_parts_request_leaves_no_request(
    api: Api,
    conn: Conn,
    world: World,
    start: str,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    stock(conn, dealer_id=world.dealers["a"], part_no="THERMO-82", qty=3)
    ticket = ticket_a(conn, world, status=start)
    got, problem = api.post(url(ticket, "/parts"), world.keys["a"], body)
    assert (got, words in problem["detail"]) == (status, True), problem
    assert one(conn, "SELECT count(*) FROM parts_requests WHERE ticket_id = %s", (ticket,)) == 0
