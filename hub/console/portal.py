"""The seed portals: each flow contributes its own console pages through ``Flow.pages``.

A flow names a ``Pages`` object (``"module:attribute"``): a title, its routes under
``/console/flows/<flow>/`` and a folder of templates that extend the console's ``base.html``. Parties
log in with accounts of role ``party``, bound to the party they act as. Reading a page uses the flow's
own read functions under the same rules its AMQP handler applies, and is audited as a view; every
action is a message submitted into the pipeline as that party (``Portal.submit``), so it is checked,
authorised, made idempotent and audited exactly as over AMQP.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from hub.console.base import HERE, OPERATORS, Console
from hub.console.session import Viewer
from hub.plugins.flow import Page, Pages
from hub.store.audit import AuditRecord

__all__ = ["Page", "Pages", "Portal", "Submitted", "portals"]


@dataclass(frozen=True)
class Submitted:
    message_id: str
    records: list[AuditRecord]

    @property
    def outcome(self) -> str:
        """What the hub did with it, in words: the last decision in its audit trail."""
        failed = [r for r in self.records if r.outcome == "failure" and r.reason]
        if failed:
            return f"refused: {failed[-1].reason}"
        return "accepted" if self.records else "not processed yet"


class Portal(Console):
    """One flow's pages: the flow's name, its templates beside the console's, and the way in."""

    def __init__(self, ctx: Any, flow: str, pages: Pages) -> None:
        super().__init__(ctx)
        self.flow, self.pages = flow, pages
        self._env = Environment(loader=FileSystemLoader([pages.templates, HERE / "templates"]),
                                autoescape=select_autoescape(["html"]))

    def render(self, name: str, who: Viewer, status: int = 200, **values: Any) -> HTMLResponse:
        html = self._env.get_template(name).render(viewer=who, operators=OPERATORS, flow=self.flow,
                                                   title=self.pages.title,
                                                   portal_links=self.ctx.extensions.get("console.portals", []),
                                                   **values)
        return HTMLResponse(html, status_code=status)

    def party_of(self, who: Viewer) -> Any:
        return self.hub.parties.find(who.party) if who.party else None

    async def submit(self, who: Viewer, kind: str, body: Any, *, timeout: float = 15.0) -> Submitted:
        """Send ``body`` as the viewer's party through the pipeline and wait until the hub processed it."""
        message_id = str(uuid.uuid4())
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.ctx.submit(who.party, kind=kind, message_id=message_id, content_type="application/json",
                        body=payload, routing_key=who.party, headers={"x-console-account": who.name})
        deadline = time.monotonic() + timeout
        while True:
            records = await self.ctx.run(self.hub.audit.for_message, message_id)
            if records or time.monotonic() > deadline:
                return Submitted(message_id, records)
            await _sleep(0.1)

    def routes(self) -> list[BaseRoute]:
        def wrap(page: Page) -> Any:
            async def handler(request: Request) -> Response:
                who = await self.require(request, self.pages.roles, f"flows/{self.flow}{page.path}")
                return await page.handler(self, request, who)  # type: ignore[no-any-return]
            return handler

        return [Route(f"/console/flows/{self.flow}{p.path}", wrap(p), methods=list(p.methods))
                for p in self.pages.pages]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def portals(ctx: Any) -> list[Portal]:
    """A portal for every installed flow that declares pages."""
    from hub.plugins.registry import resolve

    found = []
    for flow in ctx.hub.flows:
        if flow.pages:
            pages = resolve(flow.pages, f"pages of flow {flow.name!r}")
            found.append(Portal(ctx, flow.name, pages))
    return found
