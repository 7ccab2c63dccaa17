"""Pure ASGI middleware around every route: trace context, body size limit, JSON access log.

The access log is one JSON object per request: method, the route's path with every BSN masked, the
status, the duration, the calling party (once known) and the trace id. No query string, no body.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.formats import bsn as bsnlib
from hub.http import tracing

access_log = logging.getLogger("zorghub.http.access")


class TraceAndLog:
    def __init__(self, app: ASGIApp, ctx: Any) -> None:
        self.app = app
        self.ctx = ctx
        #: largest request body: a message's payload limit plus room for a GraphQL envelope around it
        self.max_body = ctx.settings.max_payload_bytes + 65536

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        span = tracing.start_span(headers, f"{scope['method']} {scope['path']}")
        trace_headers = tracing.carrier(span)
        scope["zorghub.trace"] = trace_headers
        started = time.perf_counter()
        status = 500
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _too_large(send, self.max_body, trace_headers)
            self._log(scope, 413, started, span)
            span.end()
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"the request body exceeds {self.max_body} bytes")
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                extra = [(k.encode(), v.encode()) for k, v in trace_headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited, sending)
        finally:
            self._log(scope, status, started, span)
            span.end()

    @staticmethod
    def _log(scope: Scope, status: int, started: float, span: Any) -> None:
        from hub.http.ops import LATENCY, REQUESTS

        principal = scope.get("zorghub.principal")
        trace_id, _ = tracing.ids(span)
        route = getattr(scope.get("route"), "path", None)
        label = f"{scope.get('root_path', '')}{route}" if route else "unmatched"
        REQUESTS.labels(label, str(status)).inc()
        LATENCY.labels(label).observe(time.perf_counter() - started)
        access_log.info("%s", orjson.dumps({
            "method": scope["method"], "path": bsnlib.redact(scope["path"]), "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "party": getattr(principal, "party", None), "trace_id": trace_id}).decode())


async def _too_large(send: Send, limit: int, trace_headers: dict[str, str]) -> None:
    body = orjson.dumps({"status": 413, "reason": f"the request body exceeds {limit} bytes"})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *((k.encode(), v.encode()) for k, v in trace_headers.items())]})
    await send({"type": "http.response.body", "body": body})


def middleware() -> list[type[TraceAndLog]]:
    return [TraceAndLog]
