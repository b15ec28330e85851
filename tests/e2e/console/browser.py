"""Headless Debian chromium through Debian's chromedriver, and a uvicorn serving the real app on
a free loopback port: the harness of the console's browser tests and of
scripts/console_screenshots.py. Both binaries are named outright, so selenium-manager never looks
for (or downloads) a browser or a driver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from api.app import create_app
from ironlink.settings import Settings

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
# Where the tests leave their screenshots (gitignored with the rest of .state/).
ARTEFACTS: Final = Path(__file__).resolve().parents[3] / ".state" / "artefacts" / "console"
# The screenshots a run saved, for the terminal summary (conftest.py).
SHOTS: Final = pytest.StashKey[list[Path]]()


def missing_binaries() -> list[str]:
    return [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]


def chromium(*, width: int = 1366, height: int = 900) -> webdriver.Chrome:
    """A headless chromium window of a laptop's size by default."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root has no user namespace sandbox here
        "--disable-dev-shm-usage",  # /dev/shm is small in containers
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--lang=en-GB",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def save_page(driver: webdriver.Chrome, path: Path) -> Path:
    """A screenshot of the whole page: the window grows to the page's height for it, then goes
    back to its size."""
    size = driver.get_window_size()
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(size["width"], max(size["height"], height + 120))  # + browser chrome
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(path)):
            raise RuntimeError(f"chromium saved no screenshot to {path}")
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free 127.0.0.1 port; yields its base URL. The
    socket is bound here and handed over, so no other process can take the port in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", ws="none", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
