"""The Zorginkoopportaal's console pages: contract proposals to decide and read back, and the naleving
dashboard of requested and received deliveries.

A proposal is read under the rule of ``inkoop.contract.vraag`` (only its insurer and its provider);
accepting or declining is an ``inkoop.besluit`` sent through the pipeline as the provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import orjson

from hub.flows.inkoop import handlers
from hub.plugins.flow import Page, Pages
from hub.store.flows import inkoop as store


async def overview(portal: Any, request: Any, who: Any) -> Any:
    app = portal.hub

    def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        proposals = [{"id": r[0], "insurer": r[1], "provider": r[2], "status": r[3], "body": orjson.loads(r[4]),
                      "created": r[5], "decided": r[6]} for r in store.proposals_of(app.db, who.party)]
        return proposals, handlers.dashboard(app.db, who.party)

    proposals, naleving = await portal.ctx.run(read)
    await portal.viewed(who, "flows/inkoop", reason=f"{len(proposals)} proposal(s), {len(naleving)} request(s)")
    return portal.render("inkoop.html", who, proposals=proposals, naleving=naleving,
                         done=request.query_params.get("done", ""))


async def proposal(portal: Any, request: Any, who: Any) -> Any:
    pid = request.path_params["pid"]
    row = await portal.ctx.run(store.proposal, portal.hub.db, pid)
    if row is None or who.party not in (row[0], row[1]):
        await portal.record(who, "console.denied", "flows/inkoop/contract", outcome="failure", reason=(
            f"refused: proposal {pid!r} is not {who.party!r}'s to read (NOT_A_PARTY)"))
        return portal.render("inkoop_contract.html", who, 403, contract=None,
                             error="only the insurer and the provider of a proposal may read it")
    insurer, provider, status, body = row
    await portal.viewed(who, "flows/inkoop/contract", reason=f"contract {pid} ({status})")
    return portal.render("inkoop_contract.html", who, error="", contract={
        "id": pid, "insurer": insurer, "provider": provider, "status": status, "body": orjson.loads(body)})


async def decide(portal: Any, request: Any, who: Any) -> Any:
    from starlette.responses import RedirectResponse

    form = await request.form()
    done = await portal.submit(who, "inkoop.besluit", {"voorstelId": str(form.get("voorstelId", "")),
                                                       "besluit": str(form.get("besluit", ""))})
    return RedirectResponse(f"/console/flows/inkoop?done={quote_plus(done.outcome)}", 303)


PAGES = Pages("Zorginkoopportaal", Path(__file__).parent / "templates",
              (Page("", overview), Page("/contract/{pid}", proposal), Page("/besluit", decide, ("POST",))))
