"""What every console page shares: the templates, who is looking, the role check and the view record.

Each page names the roles that may open it. A refusal is a 403 page and an audit record
(``console.denied``); every view of a message or of audit records is an audit record too
(``console.view``), with the page, the message and the client (pseudonym) it showed: NEN 7513 asks who
saw whose data and when, and looking at the log is such an access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hub.console.session import LoginRequired, Viewer, viewer
from hub.http.context import HttpContext
from hub.store.audit import AuditRecord

HERE = Path(__file__).parent
OPERATORS = ("operator", "admin")
AUDITORS = ("auditor",)
STAFF = ("operator", "admin", "auditor")

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


class Forbidden(Exception):
    """A page the viewer's role may not open; answered with a 403 page."""

    def __init__(self, viewer: Viewer, page: str, roles: tuple[str, ...]) -> None:
        super().__init__(page)
        self.viewer, self.page, self.roles = viewer, page, roles


class Console:
    """The console's routes share one of these: the HTTP context and the hub under it."""

    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self.hub = ctx.hub
        self.settings = ctx.settings
        self.key = ctx.hub.checker.key

    # ----- who ---------------------------------------------------------------------------
    def viewer(self, request: Request) -> Viewer | None:
        return viewer(request, self.settings.home, self.settings.http_issuer)

    async def require(self, request: Request, roles: tuple[str, ...], page: str) -> Viewer:
        """The viewer, when its role may open ``page``; else a login redirect or an audited 403."""
        who = self.viewer(request)
        if who is None:
            raise LoginRequired()
        if who.role not in roles:
            await self.record(who, "console.denied", page, outcome="failure",
                              reason=f"refused: role {who.role} may not open {page}; it is for "
                                     f"{' or '.join(roles)}")
            raise Forbidden(who, page, roles)
        return who

    # ----- the audit log -----------------------------------------------------------------
    async def record(self, who: Viewer, action: str, page: str, *, outcome: str = "success", reason: str = "",
                     message_id: str = "", client: str = "", kind: str = "", detail: str = "") -> None:
        rec = AuditRecord(action=action, actor=who.name, actor_role=f"console:{who.role}", outcome=outcome,
                          record_type="ConsolePage", record_id=page, reason=reason, message_id=message_id,
                          client=client, kind=kind, on_behalf_of=who.party, detail=detail)
        await self.ctx.run(self.ctx.audit, [rec])

    async def viewed(self, who: Viewer, page: str, **fields: Any) -> None:
        await self.record(who, "console.view", page, **fields)

    # ----- pages -------------------------------------------------------------------------
    def page(self, name: str, who: Viewer | None, status: int = 200, **values: Any) -> HTMLResponse:
        html = _env.get_template(name).render(viewer=who, operators=OPERATORS, auditors=AUDITORS,
                                              portal_links=self.ctx.extensions.get("console.portals", []), **values)
        return HTMLResponse(html, status_code=status)

    def forbidden(self, exc: Forbidden) -> HTMLResponse:
        return self.page("forbidden.html", exc.viewer, 403, page=exc.page, roles=exc.roles)
