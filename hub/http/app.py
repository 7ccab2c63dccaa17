"""The ASGI application: the routes of every part, mounted in one place.

``create_app(settings)`` builds the hub (or takes one built already), connects to the broker as the
hub and returns a Starlette app. The parts are listed in ``PARTS``: each is a module whose
``routes(ctx)`` returns Starlette routes, mounted at its prefix when the module is installed, so a part
(FHIR, webhooks, the console) is added by one line here and a module of its own. ``extra`` mounts more
routes (a test's, a deployment's) beside them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount

from hub.app import HubApp
from hub.http.context import HttpContext
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.base import Transport

log = logging.getLogger("zorghub.http")

#: (mount prefix, module): each module's ``routes(ctx) -> list[BaseRoute]``; a module not installed is skipped
PARTS: tuple[tuple[str, str], ...] = (
    ("", "hub.http.ops"),
    ("", "hub.http.docs"),
    ("", "hub.http.messages"),
    ("/graphql", "hub.http.graphql"),
    ("/fhir", "hub.http.fhir"),
    ("", "hub.http.webhooks"),
    ("", "hub.console"),
)


def part_routes(ctx: HttpContext, parts: Sequence[tuple[str, str]] = PARTS) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for prefix, module_name in parts:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the part is there but one of its imports is not: say so
                raise
            continue
        found = list(module.routes(ctx))
        routes.extend([Mount(prefix, routes=found)] if prefix else found)
    return routes


def create_app(settings: Settings, *, hub: HubApp | None = None, transport: Transport | None = None,
               extra: Sequence[BaseRoute] = (), parts: Sequence[tuple[str, str]] = PARTS) -> Starlette:
    """The hub's HTTP server. ``hub`` and ``transport`` given: they are the caller's, and left open."""
    own_hub = hub is None
    hub = hub or HubApp.build(settings)
    own_transport = transport is None
    transport = transport or open_transport(settings.broker_url, prefetch=settings.prefetch, purpose="http")
    # the topology as the workers declare it (idempotent): a message submitted before they run waits for them
    transport.declare(hub.topology, hub.parties)
    ctx = HttpContext.build(settings, hub, transport)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from hub.http import relay

        stop, relays = relay.start_all(settings, hub)
        try:
            yield
        finally:
            stop.set()
            for thread in relays:
                thread.join(15)
            ctx.close()
            if own_transport:
                ctx.transport.close()  # the one in use: a failed publish may have reconnected
            if own_hub:
                hub.close()

    from hub.http.middleware import middleware

    app = Starlette(routes=[*part_routes(ctx, parts), *extra], lifespan=lifespan,
                    middleware=[Middleware(m, ctx=ctx) for m in middleware()],
                    exception_handlers={HTTPException: _http_error})
    app.state.ctx = ctx
    return app


async def _http_error(request: Request, exc: Any) -> Response:
    """Every refusal as ``{"status": ..., "reason": ...}``: one line, and the status the exception names."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"status": exc.status_code, "reason": str(exc.detail).splitlines()[0]},
                        status_code=exc.status_code, headers=headers)
