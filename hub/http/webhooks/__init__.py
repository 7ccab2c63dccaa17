"""Rest-hook subscriptions: their store-backed service, FHIR shapes and the dispatcher.

The subscription routes are FHIR's (``/fhir/Subscription``, in ``hub.http.fhir.routes``); this part
adds no route of its own but runs the dispatcher for as long as the server runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from hub.http.webhooks.dispatcher import DispatcherThread

if TYPE_CHECKING:
    from hub.http.context import HttpContext

DISPATCHER = "webhooks.dispatcher"


def routes(ctx: HttpContext) -> list[BaseRoute]:
    """Start the server's dispatcher (closed with the context); no routes."""
    if DISPATCHER not in ctx.extensions:
        s = ctx.settings
        base = f"{s.http_public_url.rstrip('/')}/fhir/" if s.http_public_url else ""
        ctx.extensions[DISPATCHER] = DispatcherThread(
            ctx.hub.db.url, s.key_bytes(), delays=tuple(ms / 1000 for ms in s.webhook_retry_ms),
            timeout=s.webhook_timeout_ms / 1000, base=base).start()
    return []
