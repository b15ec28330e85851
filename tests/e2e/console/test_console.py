"""The dispatcher console in headless chromium against the real app (uvicorn on a free port) and
the real database: sign in, the queue with its SLA countdown, a ticket's evidence chart, assign
and move it (then seen through the API and in the database), the customer view, the fleet map
and the parts forecast. One browser for the module; each test has its own database and server.
Screenshots go to ARTEFACTS (named in the run's summary)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from api.app import create_app
from ironlink.settings import Settings, load
from tests.e2e.console.browser import (
    ARTEFACTS,
    SHOTS,
    chromium,
    missing_binaries,
    save_page,
    serving,
)
from tests.integration.api.test_dispatch_support import (
    NOW,
    Conn,
    World,
    build_world,
    make_ticket,
    one,
)

WAIT_S = 10
# The newest reading, on a five-minute boundary so the chart's buckets are whole.
T = (NOW - timedelta(minutes=20)).replace(minute=0, second=0) - timedelta(hours=1)
EVIDENCE = [
    {
        "signal": "coolant_c",
        "op": "gt",
        "value": 105.0,
        "observed": 109.0,
        "hold_s": 120,
        "from": (T - timedelta(minutes=25)).isoformat(),
        "to": T.isoformat(),
    }
]


@dataclass
class Desk:
    """What one test's console shows: the seeded world, its two tickets and the server."""

    world: World
    hot: int  # the coolant ticket with evidence and readings, due in 3 h
    late: int  # a ticket past its SLA
    base: str

    @property
    def key(self) -> str:
        return self.world.keys["a"]  # bound to dealer a: sees a1, a2 and their tickets

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def seed(conn: Conn) -> tuple[World, int, int]:
    w = build_world(conn)
    # Deadlines from the clock now, not from NOW (taken when the module was imported): the SLA
    # texts the tests read are exact to the minute, and a loaded machine may take minutes to
    # reach this module's tests.
    now = datetime.now(UTC)
    # Six hours at one reading a minute; coolant runs at 88-90 degC, then climbs past 105 in the
    # last 40 minutes (the finding).
    conn.execute(
        """
        INSERT INTO readings (machine_id, ts, seq, engine_hours, rpm, coolant_c)
        SELECT %(m)s, %(t)s - make_interval(mins => k), 100000 - k, 1200 - k / 60.0, 1500,
               CASE WHEN k < 40 THEN 110 - k * 0.55 ELSE 89 + sin(k / 7.0) END
        FROM generate_series(0, 360) AS k
        """,
        {"m": w.machines["a1"], "t": T},
    )
    for machine, lat, lon in (("a1", 52.1, -7.2), ("a2", 52.6, -6.5), ("b1", 53.3, -6.2)):
        conn.execute(
            "INSERT INTO machine_state (machine_id, ts, seq, engine_hours, lat, lon, online)"
            " VALUES (%s, %s, 100000, 1200, %s, %s, true)",
            (w.machines[machine], T, lat, lon),
        )
    hot = make_ticket(
        conn,
        machine_id=w.machines["a1"],
        priority="high",
        due=now + timedelta(hours=3),
        opened=T - timedelta(minutes=20),
        evidence=EVIDENCE,
    )
    late = make_ticket(
        conn, machine_id=w.machines["a2"], priority="critical", due=now - timedelta(minutes=30)
    )
    conn.execute("UPDATE tickets SET title = 'Coolant temperature high' WHERE id = %s", (hot,))
    return w, hot, late


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if missing := missing_binaries():
        pytest.fail(f"{', '.join(missing)} missing; run `make setup`", pytrace=False)
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def desk(conn: Conn, settings: Settings) -> Iterator[Desk]:
    world, hot, late = seed(conn)
    with serving(settings) as base:
        yield Desk(world, hot, late, base)


def wait(
    browser: webdriver.Chrome, until: Callable[[webdriver.Chrome], Any], *, timeout: float = WAIT_S
) -> Any:
    """`until`'s first truthy answer; an element the console re-rendered meanwhile (stale) is
    asked again on the next poll, like one not there yet."""
    return WebDriverWait(
        browser,
        timeout,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(until)


def shown(browser: webdriver.Chrome, css: str) -> WebElement:
    """The first element matching `css`, once there is one."""
    found: WebElement = wait(
        browser, lambda b: next(iter(b.find_elements(By.CSS_SELECTOR, css)), None)
    )
    return found


def screenshot(browser: webdriver.Chrome, request: pytest.FixtureRequest, name: str) -> None:
    path = save_page(browser, ARTEFACTS / f"{request.node.name}-{name}.png")
    request.config.stash.setdefault(SHOTS, []).append(path)


def sign_in(browser: webdriver.Chrome, desk: Desk, key: str | None = None) -> None:
    """Signs in from the keyboard (the form submits on Enter); with the desk's key, returns once
    the console has checked and kept it, so a test may navigate away at once."""
    browser.get(desk.base + "/console/")
    field = shown(browser, "#key")
    field.send_keys(key or desk.key, Keys.ENTER)
    if key is None:
        wait(browser, lambda b: b.execute_script("return sessionStorage.length") == 1)


def queue_rows(browser: webdriver.Chrome) -> dict[str, WebElement]:
    return {
        r.get_attribute("data-ticket") or "": r
        for r in browser.find_elements(By.CSS_SELECTOR, "#queue tbody tr[data-ticket]")
    }


def queue_ids(browser: webdriver.Chrome) -> list[str]:
    """The queue's ticket ids in order, read in one script: a refresh replacing the rows between
    finding them and reading them cannot make them stale."""
    ids: list[str] = browser.execute_script(
        "return Array.from(document.querySelectorAll('#queue tbody tr[data-ticket]'),"
        " r => r.dataset.ticket)"
    )
    return ids


# --- Tests ----------------------------------------------------------------------------------------


def test_the_console_is_served_without_a_key_and_kept_out_of_the_openapi(desk: Desk) -> None:
    with urllib.request.urlopen(desk.base + "/console", timeout=10) as response:  # redirected
        assert response.url == desk.base + "/console/"
        assert "<title>IronLink dispatcher console</title>" in response.read().decode()
    with urllib.request.urlopen(desk.base + "/console/app.js", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(desk.base + "/v1/dispatch/tickets", timeout=10)
    assert refused.value.code == 401  # the data behind it still needs the key
    paths = create_app(load({})).openapi()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_a_wrong_key_is_refused_and_nothing_is_kept(
    browser: webdriver.Chrome, desk: Desk, request: pytest.FixtureRequest
) -> None:
    sign_in(browser, desk, key="il_not-a-key")
    error = wait(browser, lambda b: b.find_element(By.ID, "sign-in-error").text or None)
    assert error == "That key was not accepted."
    assert browser.execute_script("return sessionStorage.length") == 0
    sign_in(browser, desk, key=desk.world.keys["alice"])  # an owner's key
    wait(browser, lambda b: "not a dispatcher key" in b.find_element(By.ID, "sign-in-error").text)
    screenshot(browser, request, "refused")


def test_a_dispatcher_signs_in_opens_a_ticket_sees_its_chart_assigns_and_moves_it(
    browser: webdriver.Chrome, desk: Desk, conn: Conn, request: pytest.FixtureRequest
) -> None:
    sign_in(browser, desk)
    wait(browser, lambda b: len(queue_ids(b)) == 2)
    assert browser.execute_script("return sessionStorage.length") == 1
    rows = queue_rows(browser)
    assert list(rows) == [str(desk.late), str(desk.hot)]  # soonest deadline first
    late_sla = rows[str(desk.late)].find_element(By.CSS_SELECTOR, ".sla")
    hot_sla = rows[str(desk.hot)].find_element(By.CSS_SELECTOR, ".sla")
    assert late_sla.text.startswith("overdue 30 m") or late_sla.text.startswith("overdue 31 m")
    assert "overdue" in (late_sla.get_attribute("class") or "")
    assert re.fullmatch(r"(2 h 5\d m|3 h 00 m) left", hot_sla.text), hot_sla.text
    assert "overdue" not in (hot_sla.get_attribute("class") or "")
    assert "Queue loaded" in browser.find_element(By.ID, "live").text  # the aria-live region
    screenshot(browser, request, "queue")

    # Open the ticket from the keyboard: its link takes Enter.
    link = rows[str(desk.hot)].find_element(By.CSS_SELECTOR, "td a")
    link.send_keys(Keys.ENTER)
    # The queue's own heading is replaced by the ticket's: wait for the ticket's, focusable.
    heading = wait(
        browser,
        lambda b: next(
            (
                h
                for h in b.find_elements(By.CSS_SELECTOR, "h1[tabindex]")
                if h.text.startswith(f"#{desk.hot} ")
            ),
            None,
        ),
    )
    assert heading.text == f"#{desk.hot} Coolant temperature high"
    chart = shown(browser, "svg.chart[data-signal='coolant_c']")
    path = chart.find_element(By.CSS_SELECTOR, "path.mean").get_attribute("d") or ""
    assert path.startswith("M")
    assert path.count("M") == 1  # no gap in the readings, so one unbroken line
    assert path.count("L") >= 60  # 6 h of 5-minute buckets
    assert chart.find_elements(By.CSS_SELECTOR, "line.threshold")  # the rule's 105 degC
    assert "observed" in browser.find_element(By.CSS_SELECTOR, "[aria-labelledby=evidence-h]").text
    screenshot(browser, request, "ticket")

    Select(shown(browser, "#technician")).select_by_value(str(desk.world.techs["ann"]))
    browser.find_element(By.CSS_SELECTOR, "#assign button[type=submit]").click()
    wait(browser, lambda b: b.find_element(By.ID, "assigned").text == "Ann")
    buttons = [
        b.get_attribute("data-to")
        for b in browser.find_elements(By.CSS_SELECTOR, "#transition button[data-to]")
    ]
    assert buttons == ["scheduled", "in_progress", "resolved", "cancelled"]  # allowed from open
    browser.find_element(By.CSS_SELECTOR, "button[data-to=in_progress]").click()
    wait(browser, lambda b: b.find_element(By.ID, "status").text == "in progress")
    wait(browser, lambda b: b.find_element(By.ID, "live").text == "Moved to in progress")
    screenshot(browser, request, "moved")

    detail = desk.api(f"/v1/dispatch/tickets/{desk.hot}")
    assert detail["status"] == "in_progress"
    assert detail["assigned_technician"] == {"id": desk.world.techs["ann"], "name": "Ann"}
    row = conn.execute(
        "SELECT status, assigned_technician_id FROM tickets WHERE id = %s", (desk.hot,)
    ).fetchone()
    assert row == ("in_progress", desk.world.techs["ann"])
    assert [e["kind"] for e in detail["events"]][-2:] == ["assigned", "status"]
    assert {e["actor"] for e in detail["events"][-2:]} == {"dispatcher:desk-a"}


def test_the_queue_refreshes_by_itself_and_says_so(
    browser: webdriver.Chrome, desk: Desk, conn: Conn
) -> None:
    sign_in(browser, desk)
    wait(browser, lambda b: len(queue_ids(b)) == 2)
    new = make_ticket(conn, machine_id=desk.world.machines["a1"], due=NOW + timedelta(hours=1))
    # No click: the queue polls every 15 s.
    wait(browser, lambda b: str(new) in queue_ids(b), timeout=25)
    assert queue_ids(browser)[:2] == [str(desk.late), str(new)]  # still by SLA
    assert browser.find_element(By.ID, "live").text.startswith("Queue updated at ")


@pytest.mark.parametrize("width", [1024, 800])
def test_a_tablet_sees_the_queue_and_a_ticket_without_scrolling_sideways(
    browser: webdriver.Chrome, desk: Desk, width: int
) -> None:
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        sign_in(browser, desk)
        wait(browser, lambda b: len(queue_ids(b)) == 2)
        for page in ("#/queue", f"#/tickets/{desk.hot}"):
            browser.get(f"{desk.base}/console/{page}")
            shown(browser, "svg.chart, #queue tbody tr[data-ticket]")
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, page
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_the_chart_of_an_older_finding_ends_an_hour_after_it(
    browser: webdriver.Chrome, desk: Desk, conn: Conn
) -> None:
    found = T - timedelta(hours=3)
    evidence = [
        EVIDENCE[0] | {"from": (found - timedelta(minutes=5)).isoformat(), "to": found.isoformat()}
    ]
    older = make_ticket(
        conn, machine_id=desk.world.machines["a1"], due=NOW + timedelta(hours=5), evidence=evidence
    )
    sign_in(browser, desk)
    browser.get(f"{desk.base}/console/#/tickets/{older}")
    shown(browser, "svg.chart path.mean")
    signals = browser.find_element(By.ID, "signals")
    end = datetime.fromisoformat(signals.get_attribute("data-end") or "")
    assert end == found + timedelta(hours=1)  # not the newest reading, T
    assert datetime.fromisoformat(signals.get_attribute("data-start") or "") == end - timedelta(
        hours=6
    )


def test_a_move_that_needs_more_says_so_and_changes_nothing(
    browser: webdriver.Chrome, desk: Desk, conn: Conn
) -> None:
    sign_in(browser, desk)
    browser.get(f"{desk.base}/console/#/tickets/{desk.hot}")
    shown(browser, "button[data-to=cancelled]").click()
    alert = shown(browser, "#transition .error")
    wait(browser, lambda b: "reason" in alert.text)
    note = browser.switch_to.active_element
    assert note.get_attribute("name") == "note"  # focus moved to what is missing
    assert one(conn, "SELECT status FROM tickets WHERE id = %s", (desk.hot,)) == "open"


def test_the_customer_view_shows_the_owner_grade_and_open_tickets(
    browser: webdriver.Chrome, desk: Desk, conn: Conn, request: pytest.FixtureRequest
) -> None:
    conn.execute(
        "UPDATE owners SET name = 'Hargreave Farms' WHERE id = %s", (desk.world.owners["alice"],)
    )
    sign_in(browser, desk)
    wait(browser, lambda b: len(queue_ids(b)) == 2)
    queue_rows(browser)[str(desk.hot)].find_element(
        By.CSS_SELECTOR, "a[href^='#/customers/']"
    ).click()
    wait(browser, lambda b: b.find_element(By.TAG_NAME, "h1").text == "Hargreave Farms")
    tickets = browser.find_elements(By.CSS_SELECTOR, "#customer-tickets tbody tr")
    assert {t.find_element(By.TAG_NAME, "a").text for t in tickets} == {
        f"#{desk.hot}",
        f"#{desk.late}",
    }
    assert (
        "Not graded yet" in browser.find_element(By.ID, "grade-h").find_element(By.XPATH, "..").text
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#customer-machines tbody tr")) == 2
    screenshot(browser, request, "customer")


def test_the_fleet_map_draws_the_machines_in_scope_on_a_graticule(
    browser: webdriver.Chrome, desk: Desk, request: pytest.FixtureRequest
) -> None:
    sign_in(browser, desk)
    wait(browser, lambda b: len(queue_ids(b)) == 2)
    browser.find_element(By.CSS_SELECTOR, "a[data-nav=map]").click()
    dots = wait(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#fleet-map circle[data-serial]")
    )
    w = desk.world
    # Dealer a's machines only; the critical ticket's machine is drawn last (on top).
    assert [d.get_attribute("data-serial") for d in dots] == [w.serials["a1"], w.serials["a2"]]
    assert "dot-critical" in (dots[1].get_attribute("class") or "")
    assert "dot-high" in (dots[0].get_attribute("class") or "")
    # West of a2 and south of it: a1 is left of and below a2 on the map.
    assert float(dots[0].get_attribute("cx") or 0) < float(dots[1].get_attribute("cx") or 0)
    assert float(dots[0].get_attribute("cy") or 0) > float(dots[1].get_attribute("cy") or 0)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#fleet-map line.graticule")) >= 4
    screenshot(browser, request, "map")


def test_the_parts_forecast_shows_its_lines_or_says_it_is_not_available(
    browser: webdriver.Chrome, desk: Desk
) -> None:
    sign_in(browser, desk)
    wait(browser, lambda b: len(queue_ids(b)) == 2)
    browser.find_element(By.CSS_SELECTOR, "a[data-nav=parts]").click()
    # Another change adds the forecast route; until it is served the screen must say so.
    served = any("parts-forecast" in p for p in create_app(load({})).openapi()["paths"])
    shown(browser, "#forecast, #forecast-empty, #forecast-unavailable")
    if served:
        # The seeded dealer has machines but no service plans or history: nothing to forecast.
        assert "active machines" in shown(browser, "#forecast-about").text
        assert browser.find_elements(By.CSS_SELECTOR, "#forecast, #forecast-empty")
    else:
        text = shown(browser, "#forecast-unavailable").text
        assert "not available" in text
        assert desk.world.codes["a"] in text
