"""Screenshots of the dispatcher console for the README, taken from a running demo.

    IRONLINK_API_PORT=... .venv/bin/python scripts/console_screenshots.py --key <dispatcher key>

Opens the queue (docs/console-queue.png), then the live ticket whose evidence names a signal with
the most telemetry in its window, scrolled to its chart (docs/console-ticket.png). Without --key
it issues a dispatcher key of its own in the demo's database (label `screenshots`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file: the harness lives in tests/

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from api.auth import Role, create_key  # noqa: E402
from ironlink.db import connect  # noqa: E402
from ironlink.settings import load  # noqa: E402
from tests.e2e.console.browser import chromium, save_page  # noqa: E402


def _get(base: str, key: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _best_ticket(base: str, key: str) -> int:
    """The live ticket with the most telemetry to draw, a finding on a named signal (threshold,
    anomaly) before any other kind."""
    queue = _get(base, key, "/v1/dispatch/tickets?live=true&sort=priority&limit=100")["items"]
    best, most = None, (False, 0)
    for t in queue:
        detail = _get(base, key, f"/v1/dispatch/tickets/{t['id']}")
        drawn = sum(
            1 for s in detail["telemetry"]["series"] for b in s["buckets"] if b["mean"] is not None
        )
        score = (any(isinstance(e, dict) and e.get("signal") for e in t["evidence"]), drawn)
        if drawn and score > most:
            best, most = t["id"], score
    if best is None:
        raise SystemExit("no live ticket with telemetry to draw yet; let the demo run longer")
    return int(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", help="a dispatcher key (default: issue one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    settings = load(os.environ)
    base = f"http://{settings.api_host}:{settings.api_port}"
    key = args.key
    if key is None:
        with connect(settings.database_url) as conn:
            key = create_key(conn, role=Role.DISPATCHER, label="screenshots")
    ticket = _best_ticket(base, key)
    driver = chromium(width=1366, height=860)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(f"{base}/console/#/queue")
        wait.until(lambda d: d.find_elements(By.ID, "key"))
        driver.find_element(By.ID, "key").send_keys(key)
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queue tbody tr[data-ticket]"))
        driver.save_screenshot(str(args.out / "console-queue.png"))  # the first screenful
        driver.get(f"{base}/console/#/tickets/{ticket}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.chart path.mean"))
        save_page(driver, args.out / "console-ticket.png")
    finally:
        driver.quit()
    sys.stdout.write(f"ticket {ticket}: {args.out}/console-queue.png, console-ticket.png\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
