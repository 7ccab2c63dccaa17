"""The browser console for operators and auditors (``/console``), served by the HTTP front door.

Server-rendered pages (Jinja2), plain HTML forms and no JavaScript build step. Who may open what is
in ``hub.console.base``; the operator's pages in ``operate``, the auditor's in ``audit``; accounts and
sessions in ``accounts`` and ``session``. ``docs/console.md`` shows every page.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hub.console.accounts import AccountBook
from hub.console.audit import Audit
from hub.console.base import HERE, Console, Forbidden
from hub.console.operate import Operate
from hub.console.session import COOKIE, TTL, LoginRequired, issue


class Login(Console):
    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page("login.html", self.viewer(request), error="")
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        account = await self.ctx.run(lambda: AccountBook.of_home(self.settings.home).login(name, password))
        if account is None:
            from hub.store.audit import AuditRecord

            rec = AuditRecord(action="console.login", actor=name[:64] or "(none)", outcome="failure",
                              record_type="ConsolePage", record_id="login", reason="refused: wrong name or password")
            await self.ctx.run(self.ctx.audit, [rec])
            return self.page("login.html", None, 401, error="wrong name or password")
        token = await self.ctx.run(issue, self.settings.home, self.settings.http_issuer, account)
        home = {"auditor": "/console/audit", "party": "/console/portals"}.get(account.role, "/console")
        response = RedirectResponse(home, 303)
        response.set_cookie(COOKIE, token, max_age=TTL, httponly=True, samesite="strict", path="/console")
        from hub.console.session import Viewer

        await self.record(Viewer(account.name, account.role, account.party), "console.login", "login")
        return response

    async def portals(self, request: Request) -> Response:
        from hub.console.base import STAFF

        who = await self.require(request, ("party", *STAFF), "portals")
        return self.page("portals.html", who)

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(COOKIE, path="/console")
        return response


def _guard(console: Console, handler: Any) -> Any:
    """A route handler whose refusals become the login redirect or the 403 page."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except LoginRequired:
            return RedirectResponse("/console/login", 303)
        except Forbidden as exc:
            return console.forbidden(exc)

    return guarded


def routes(ctx: Any) -> list[BaseRoute]:
    login, ops, audit = Login(ctx), Operate(ctx), Audit(ctx)
    table: list[tuple[str, Console, Any, list[str]]] = [
        ("/console/login", login, login.login, ["GET", "POST"]),
        ("/console/logout", login, login.logout, ["GET", "POST"]),
        ("/console", ops, ops.dashboard, ["GET"]),
        ("/console/messages", ops, ops.messages, ["GET"]),
        ("/console/messages/{message_id:path}/reveal", audit, audit.reveal, ["POST"]),
        ("/console/messages/{message_id:path}", ops, ops.message, ["GET"]),
        ("/console/dead-letters", ops, ops.dead_letters, ["GET"]),
        ("/console/dead-letters/requeue", ops, ops.requeue, ["POST"]),
        ("/console/mappings", ops, ops.mappings, ["GET", "POST"]),
        ("/console/audit", audit, audit.search, ["GET"]),
        ("/console/audit/verify", audit, audit.verify, ["POST"]),
        ("/console/audit/who-has-seen", audit, audit.who_has_seen, ["GET"]),
        ("/console/audit/export", audit, audit.export, ["GET"]),
        ("/console/audit/jobs", audit, audit.job_list, ["GET", "POST"]),
        ("/console/audit/jobs/{job_id}", audit, audit.job, ["GET", "POST"]),
    ]
    found: list[BaseRoute] = [Route(path, _guard(c, h), methods=m) for path, c, h, m in table]
    from hub.console.portal import portals

    flows = portals(ctx)
    ctx.extensions["console.portals"] = [(p.flow, p.pages.title, p.pages.roles) for p in flows]
    found.append(Route("/console/portals", _guard(login, login.portals), methods=["GET"]))
    for portal in flows:
        found.extend(Route(r.path, _guard(portal, r.endpoint), methods=r.methods) for r in portal.routes()
                     if isinstance(r, Route))
    found.append(Mount("/console/static", app=StaticFiles(directory=HERE / "static"), name="console-static"))
    return found
