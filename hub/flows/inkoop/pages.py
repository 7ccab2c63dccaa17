"""The Zorginkoopportaal's console pages: uitvragen to answer, contract proposals to decide and read back,
price and volume offers, the naleving dashboard, and beheer (communication and nightly jobs).

A proposal is read under the rule of ``inkoop.contract.vraag`` (only its insurer and its provider).
Every action is the flow's own message sent through the pipeline as the party: an answer is an
``inkoop.antwoord``, a decision an ``inkoop.besluit``, an offer or an agreement an ``inkoop.bod``.
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

    def read() -> dict[str, Any]:
        proposals = [{"id": r[0], "insurer": r[1], "provider": r[2], "status": r[3], "body": orjson.loads(r[4]),
                      "created": r[5], "decided": r[6]} for r in store.proposals_of(app.db, who.party)]
        offers = [dict(zip(("id", "insurer", "provider", "product", "status", "last", "price", "volume", "rounds",
                            "updated"), r, strict=True)) for r in store.negotiations_of(app.db, who.party)]
        uitvragen = [dict(zip(("id", "insurer", "created", "answered"), r, strict=True))
                     for r in store.uitvragen_to(app.db, who.party)]
        return {"proposals": proposals, "offers": offers, "uitvragen": uitvragen,
                "naleving": handlers.dashboard(app.db, who.party)}

    found = await portal.ctx.run(read)
    counts = ", ".join(f"{len(found[k])} {k}" for k in ("uitvragen", "proposals", "offers", "naleving"))
    await portal.viewed(who, "flows/inkoop", reason=counts)
    return portal.render("inkoop.html", who, done=request.query_params.get("done", ""), **found)


async def beheer(portal: Any, request: Any, who: Any) -> Any:
    """Beheer: the party's own traffic through the hub, and the nightly jobs with their last run."""
    from hub.flows.jobs import schedule
    from hub.store import auditqueries

    def read() -> tuple[dict[str, int], list[dict[str, Any]]]:
        stats = auditqueries.communication(portal.hub.audit.db, who.party).get(who.party, {})
        return stats, schedule.states(portal.hub)

    stats, jobs = await portal.ctx.run(read)
    await portal.viewed(who, "flows/inkoop/beheer", reason="communication and jobs")
    return portal.render("inkoop_beheer.html", who, stats=stats, jobs=jobs)


async def answer(portal: Any, request: Any, who: Any) -> Any:
    """Answer an uitvraag: ``id=value`` lines become the answers; the box asks for a contract too."""
    from starlette.responses import RedirectResponse

    form = await request.form()
    answers: dict[str, Any] = {}
    for line in str(form.get("antwoorden", "")).splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            answers[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    done = await portal.submit(who, "inkoop.antwoord", {"uitvraagId": str(form.get("uitvraagId", "")),
                                                        "antwoorden": answers,
                                                        "contractAanvraag": form.get("contractAanvraag") == "1"})
    return RedirectResponse(f"/console/flows/inkoop?done={quote_plus(done.outcome)}", 303)


async def offer(portal: Any, request: Any, who: Any) -> Any:
    """A counter offer on a negotiation, or agreement with the other party's last offer."""
    from starlette.responses import RedirectResponse

    form = await request.form()
    body: dict[str, Any] = {"onderhandelingId": str(form.get("onderhandelingId", ""))}
    if form.get("akkoord") == "1":
        body["akkoord"] = True
    else:
        body.update(product=str(form.get("product", "")), prijsCent=int(str(form.get("prijsCent") or 0)),
                    volume=int(str(form.get("volume") or 0)))
    done = await portal.submit(who, "inkoop.bod", body)
    return RedirectResponse(f"/console/flows/inkoop?done={quote_plus(done.outcome)}", 303)


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
              (Page("", overview), Page("/contract/{pid}", proposal), Page("/besluit", decide, ("POST",)),
               Page("/antwoord", answer, ("POST",)), Page("/bod", offer, ("POST",)), Page("/beheer", beheer)))
