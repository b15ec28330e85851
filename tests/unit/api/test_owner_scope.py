"""Every /v1/owner route must depend on the owner principal: a linter, not a convention."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.app import create_app
from api.deps import require_owner
from ironlink.settings import load


def _dependency_calls(route: APIRoute) -> set[object]:
    calls: set[object] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.add(dep.call)
        stack.extend(dep.dependencies)
    return calls


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (which newer FastAPI keeps as a wrapper)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)


def test_every_owner_route_requires_the_owner_principal() -> None:
    app = create_app(load({}))
    owner_routes = [r for r in api_routes(app.routes) if r.path.startswith("/v1/owner")]
    documented = [p for p in app.openapi()["paths"] if p.startswith("/v1/owner")]
    assert sorted({r.path for r in owner_routes}) == sorted(documented)
    assert owner_routes, "no owner routes found"
    missing = [r.path for r in owner_routes if require_owner not in _dependency_calls(r)]
    assert missing == []
