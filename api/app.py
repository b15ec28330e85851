"""create_app(settings): routers, problem details, and a connection pool opened for the app's
life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import console, problems
from api.routers import (
    admin,
    dispatch,
    dispatch_parts_forecast,
    health,
    iso15143,
    owner,
    subscriptions,
)
from ironlink.db import make_pool
from ironlink.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings.database_url, min_size=1, max_size=10)
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(
        title="IronLink",
        version="0.1.0",
        summary="Telematics service backend for agricultural and construction machinery",
        lifespan=lifespan,
    )
    app.state.settings = settings  # device provisioning finds the broker's files through it
    problems.install(app)
    app.include_router(health.router)
    app.include_router(owner.router)
    app.include_router(dispatch.router)
    app.include_router(dispatch_parts_forecast.router)
    app.include_router(admin.router)
    app.include_router(subscriptions.owner_router)
    app.include_router(subscriptions.dispatch_router)
    app.include_router(iso15143.router)
    console.mount(app)
    return app
