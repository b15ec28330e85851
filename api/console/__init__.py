"""The dispatcher console: plain HTML, CSS and JavaScript modules served at /console.

The files themselves are public (they hold no data); every API call they make carries the
dispatcher's bearer key, so the API's guards stay where they are. Nothing is built or fetched
from elsewhere at run time: what is in static/ is what the browser gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

PATH: Final = "/console"
STATIC_DIR: Final = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Serves static/ at PATH (index.html for PATH/). A Mount is not an operation, so it stays
    out of the OpenAPI document; `/console` without the slash is redirected by the router."""
    app.mount(PATH, StaticFiles(directory=STATIC_DIR, html=True), name="console")
