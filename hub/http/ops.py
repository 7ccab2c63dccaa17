"""``/healthz`` (the process answers), ``/readyz`` (broker, store, registers) and ``/metrics``."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.http.context import HttpContext, context_of

#: HTTP figures; labels are the route's template and the status only, never a path with an id in it
HTTP_REGISTRY = CollectorRegistry()
REQUESTS = Counter("zorghub_http_requests", "HTTP requests by route and status", ("route", "status"),
                   registry=HTTP_REGISTRY)
LATENCY = Histogram("zorghub_http_request_seconds", "HTTP request duration by route", ("route",),
                    registry=HTTP_REGISTRY)


def checks(ctx: HttpContext) -> dict[str, str]:
    """Each dependency: "ok" or the one-line reason it is not."""
    out: dict[str, str] = {}
    try:
        ctx.ping()
        out["broker"] = "ok"
    except Exception as exc:  # any failure of the broker is "not ready", named
        out["broker"] = f"unreachable: {exc.__class__.__name__}"
    try:
        with ctx.hub.db.transaction():
            ctx.hub.processed.states([])
        out["store"] = "ok"
    except Exception as exc:
        out["store"] = f"unreachable: {exc.__class__.__name__}"
    try:
        ctx.network.registers.current("WlzIndicatie", "00000000-0000-0000-0000-000000000000")
        out["registers"] = "ok"
    except Exception as exc:
        out["registers"] = f"unavailable: {exc.__class__.__name__}"
    return out


def routes(ctx: HttpContext) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        c = context_of(request)
        found = await c.run(checks, c)
        ready = all(v == "ok" for v in found.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": found},
                            status_code=200 if ready else 503)

    registry: dict[str, Any] = {}

    async def metrics(request: Request) -> Response:
        c = context_of(request)
        if "store" not in registry:
            from hub.ops.metrics import registry_for

            registry["store"] = registry_for(c.settings, c.hub.db)
        body = await c.run(lambda: generate_latest(registry["store"]) + generate_latest(HTTP_REGISTRY))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"])]
