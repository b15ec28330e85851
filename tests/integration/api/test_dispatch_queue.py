"""GET /v1/dispatch/tickets: order per sort, filters, keyset pages, a dealer-bound key's scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from ironlink.settings import Settings
from maintenance.tickets.model import LIVE_STATUSES
from maintenance.tickets.queue import QUERY_BY_SORT, Filters, Sort, queue
from tests.integration.api.test_dispatch_support import (
    NOW,
    Api,
    Conn,
    World,
    build_world,
    make_ticket,
    seconds_left,
    serve,
)

RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}


@dataclass(frozen=True)
class Made:
    id: int
    dealer: str
    priority: str
    due_h: float
    opened_h: float  # hours before NOW
    status: str
    tech: str | None


# Ties on purpose: two tickets share a deadline, two share a priority and deadline, two share an
# opening time, so every order needs its id tie-break to page without gaps.
SPECS = (
    ("a1", "a", "normal", 5, 3, "open", None),
    ("a1", "a", "critical", 9, 2, "open", "ann"),
    ("a2", "a", "high", 5, 2, "scheduled", "ann"),
    ("a2", "a", "critical", 9, 8, "in_progress", "abe"),
    ("a1", "a", "low", -2, 30, "open", None),
    ("a2", "a", "high", 1, 1, "resolved", "abe"),
    ("a1", "a", "normal", 48, 0.5, "cancelled", None),
    ("b1", "b", "critical", 0.5, 4, "open", "ben"),
    ("b1", "b", "low", 100, 0.1, "waiting_parts", None),
)


@dataclass
class Queue:
    world: World
    made: list[Made]


@pytest.fixture
def q(conn: Conn) -> Queue:
    w = build_world(conn)
    made = []
    for machine, dealer, priority, due_h, opened_h, status, tech in SPECS:
        ticket_id = make_ticket(
            conn,
            machine_id=w.machines[machine],
            priority=priority,
            due=NOW + timedelta(hours=due_h),
            opened=NOW - timedelta(hours=opened_h),
            status=status,
            technician_id=w.techs[tech] if tech else None,
        )
        made.append(Made(ticket_id, dealer, priority, due_h, opened_h, status, tech))
    return Queue(w, made)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from serve(settings)


ORDER = {
    "sla": lambda m: (m.due_h, m.id),
    "priority": lambda m: (RANK[m.priority], m.due_h, m.id),
    "opened": lambda m: (m.opened_h, -m.id),  # newest first: fewest hours ago, then higher id
}


def ids(page: dict[str, object]) -> list[int]:
    return [t["id"] for t in page["items"]]  # type: ignore[attr-defined, index]


def walk(api: Api, key: str, limit: int, **params: object) -> list[int]:
    seen: list[int] = []
    after = ""
    for _ in range(50):
        status, page = api.get("/v1/dispatch/tickets", key, limit=limit, after=after, **params)
        assert status == 200, page
        seen += ids(page)
        if page["next_after"] is None:
            return seen
        after = page["next_after"]
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("sort", ["sla", "priority", "opened"])
@pytest.mark.parametrize("limit", [1, 2, 4, 100])
def test_every_sort_orders_and_pages_without_gaps_or_repeats(
    api: Api, q: Queue, sort: str, limit: int
) -> None:
    expected = [m.id for m in sorted(q.made, key=ORDER[sort])]
    assert walk(api, q.world.keys["all"], limit, sort=sort) == expected


def test_the_default_sort_is_the_sla_deadline(api: Api, q: Queue) -> None:
    left, page = seconds_left(
        NOW - timedelta(hours=2), lambda: api.get("/v1/dispatch/tickets", q.world.keys["all"])
    )
    assert ids(page) == [m.id for m in sorted(q.made, key=ORDER["sla"])]
    first = page["items"][0]
    assert first["sla"]["breached"] is True  # the low ticket due 2 h ago
    assert first["sla"]["remaining_s"] in left


def test_a_dealer_bound_key_sees_only_its_dealers_tickets(api: Api, q: Queue) -> None:
    mine = [m.id for m in sorted(q.made, key=ORDER["priority"]) if m.dealer == "a"]
    assert walk(api, q.world.keys["a"], 2, sort="priority") == mine
    status, page = api.get("/v1/dispatch/tickets", q.world.keys["a"], dealer=q.world.codes["b"])
    assert status == 404
    assert page["detail"] == f"dealer {q.world.codes['b']!r} does not exist"
    status, page = api.get("/v1/dispatch/tickets", q.world.keys["a"], dealer="NO-SUCH")
    assert (status, page["detail"]) == (404, "dealer 'NO-SUCH' does not exist")


@pytest.mark.parametrize("key", ["all", "admin"])
def test_unbound_and_admin_keys_filter_by_dealer_code(api: Api, q: Queue, key: str) -> None:
    status, page = api.get("/v1/dispatch/tickets", q.world.keys[key], dealer=q.world.codes["b"])
    assert status == 200
    assert set(ids(page)) == {m.id for m in q.made if m.dealer == "b"}


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"status": ["open", "scheduled"]}, lambda m: m.status in ("open", "scheduled")),
        ({"priority": ["critical"]}, lambda m: m.priority == "critical"),
        ({"priority": ["low", "high"], "live": True},
         lambda m: m.priority in ("low", "high") and m.status not in ("resolved", "cancelled")),
        ({"live": True, "status": ["resolved", "open"]}, lambda m: m.status == "open"),
        ({"unassigned": True}, lambda m: m.tech is None),
        ({"due_before": (NOW + timedelta(hours=5)).isoformat()}, lambda m: m.due_h < 5),
    ],
)  # fmt: skip
def test_filters_select_exactly_the_matching_tickets(
    api: Api, q: Queue, params: dict[str, object], keep: object
) -> None:
    status, page = api.get("/v1/dispatch/tickets", q.world.keys["all"], **params)
    assert status == 200, page
    expected = [m.id for m in sorted(q.made, key=ORDER["sla"]) if keep(m)]  # type: ignore[operator]
    assert ids(page) == expected


def test_technician_filter_and_assignee_in_the_items(api: Api, q: Queue) -> None:
    ann = q.world.techs["ann"]
    status, page = api.get("/v1/dispatch/tickets", q.world.keys["a"], technician_id=ann)
    assert status == 200
    assert set(ids(page)) == {m.id for m in q.made if m.tech == "ann"}
    assert {t["assigned_technician"]["name"] for t in page["items"]} == {"Ann"}


def test_only_finished_statuses_with_live_is_an_empty_page(api: Api, q: Queue) -> None:
    status, page = api.get("/v1/dispatch/tickets", q.world.keys["all"], live=True, status="closed")
    assert (status, page) == (200, {"items": [], "next_after": None})


def test_a_cursor_of_another_sort_or_garbage_is_422(api: Api, q: Queue) -> None:
    key = q.world.keys["all"]
    _, page = api.get("/v1/dispatch/tickets", key, sort="sla", limit=1)
    status, problem = api.get("/v1/dispatch/tickets", key, sort="opened", after=page["next_after"])
    assert status == 422
    assert problem["detail"] == "after is a cursor of sort=sla, not sort=opened"
    for junk in ("x", "sla.0.1", "sla.0.x.1", "nope.0.1.1"):
        status, problem = api.get("/v1/dispatch/tickets", key, after=junk)
        assert status == 422, junk
        assert problem["type"].endswith("/invalid")


def test_an_unknown_status_or_sort_is_a_validation_problem(api: Api, q: Queue) -> None:
    for params in ({"status": "lost"}, {"sort": "colour"}, {"priority": "urgent"}):
        status, problem = api.get("/v1/dispatch/tickets", q.world.keys["all"], **params)
        assert status == 422
        assert problem["type"].endswith("/invalid-request")


def test_an_owner_key_is_refused(api: Api, q: Queue) -> None:
    assert api.get("/v1/dispatch/tickets", q.world.keys["alice"])[0] == 403


def plan_nodes(plan: dict[str, Any]) -> list[tuple[str, str]]:
    nodes = [(plan["Node Type"], plan.get("Index Name", ""))]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


@pytest.mark.parametrize(
    ("sort", "bound", "index"),
    [
        (Sort.SLA, False, "tickets_live_due_idx"),
        (Sort.SLA, True, "tickets_dealer_live_due_idx"),
        (Sort.PRIORITY, False, "tickets_live_rank_due_idx"),
        (Sort.PRIORITY, True, "tickets_dealer_live_rank_due_idx"),
        (Sort.OPENED, False, "tickets_opened_idx"),
    ],
)
def test_the_live_queue_reads_a_page_from_an_index_without_sorting_the_history(
    conn: Conn, sort: Sort, bound: bool, index: str
) -> None:
    """Seventeen thousand finished tickets and four thousand live ones: a page of the live queue is
    read in order from an index (migration 0017), not sorted out of every ticket."""
    w = build_world(conn)
    conn.execute(
        """
        INSERT INTO tickets (machine_id, owner_id, dealer_id, rule_key, kind, title, priority,
                             status, sla_due_at, opened_at)
        SELECT m.id, m.owner_id, m.dealer_id, 'r' || g, 'threshold', 't',
               (ARRAY['low', 'normal', 'high', 'critical'])[1 + g % 4],
               CASE WHEN g % 5 = 0 THEN 'open' ELSE 'closed' END,
               now() + make_interval(mins => (g * 7919) % 100000 - 50000),
               now() - make_interval(mins => g)
        FROM machines m CROSS JOIN generate_series(1, 7000) g
        """
    )
    conn.execute("ANALYZE tickets")
    filters = Filters(
        dealer_id=w.dealers["a"] if bound else None, statuses=sorted(map(str, LIVE_STATUSES))
    )
    params = {
        "dealer_id": filters.dealer_id,
        "statuses": list(filters.statuses),
        "priorities": [],
        "technician_id": None,
        "unassigned": False,
        "due_before": None,
        "serial": None,
        "k_id": None,
        "k_at": None,
        "k_rank": None,
        "limit": 50,
    }
    row = conn.execute("EXPLAIN (FORMAT JSON) " + QUERY_BY_SORT[sort], params).fetchone()
    assert row is not None
    nodes = plan_nodes(row[0][0]["Plan"])  # type: ignore[index]
    assert ("Index Scan", index) in nodes
    assert "Sort" not in {kind for kind, _ in nodes}
    # And the page is the right one.
    rows = queue(conn, filters=filters, sort=sort, after=None, limit=50)
    assert len(rows) == 50
    assert {r.status for r in rows} == {"open"}
