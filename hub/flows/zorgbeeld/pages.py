"""Zorgbeeld's console pages: the regional capacity view and a hospital's own reports.

The view applies the reader's rule of the AMQP query (``handlers.reader_region``); confirming or
changing a report is a ``zorgbeeld.bevestiging`` or ``zorgbeeld.rapport`` sent through the pipeline
as the hospital.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.errors import HubError
from hub.flows.zorgbeeld import handlers
from hub.plugins.flow import Page, Pages


async def view(portal: Any, request: Any, who: Any) -> Any:
    party = portal.party_of(who)
    app = portal.hub

    def read() -> tuple[str | None, list[dict[str, Any]], str | None]:
        region = handlers.reader_region(app, party.name, request.query_params.get("regio") or None)
        return region, handlers.picture(app, app.db, region), handlers.region_of(app, party.name)

    try:
        region, reports, own = await portal.ctx.run(read)
    except HubError as exc:
        await portal.record(who, "console.denied", "flows/zorgbeeld", outcome="failure", reason=exc.reason)
        return portal.render("zorgbeeld.html", who, 403, error=exc.reason, reports=[], region="", own=None,
                             done=request.query_params.get("done", ""))
    await portal.viewed(who, "flows/zorgbeeld", reason=f"{len(reports)} report(s), region {region or 'all'}")
    return portal.render("zorgbeeld.html", who, reports=reports, region=region or "all regions", own=own,
                         done=request.query_params.get("done", ""), error="")


async def confirm(portal: Any, request: Any, who: Any) -> Any:
    """The hospital confirms one of its reports as still right, or changes it."""
    from starlette.responses import RedirectResponse

    form = await request.form()
    where = {"locatie": str(form.get("locatie", "")), "behandeling": str(form.get("behandeling", ""))}
    if form.get("status"):
        body = {**where, "status": str(form["status"]), "beschikbaar": str(form.get("beschikbaar", "")),
                "wachttijdWeken": int(str(form.get("wachttijdWeken", "0")) or 0)}
        done = await portal.submit(who, "zorgbeeld.rapport", body)
    else:
        done = await portal.submit(who, "zorgbeeld.bevestiging", where)
    from urllib.parse import quote_plus

    return RedirectResponse(f"/console/flows/zorgbeeld?done={quote_plus(done.outcome)}", 303)


PAGES = Pages("Zorgbeeld", Path(__file__).parent / "templates",
              (Page("", view), Page("/confirm", confirm, ("POST",))))
