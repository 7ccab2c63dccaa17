"""The NZa's console page: the delivery calendar, what is due, received, late or rejected per provider.

The NZa (and an operator) sees every provider; a provider sees its own row only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.flows.nza import handlers
from hub.plugins.flow import Page, Pages


async def calendar(portal: Any, request: Any, who: Any) -> Any:
    from hub.flows.support import flow_settings

    party = portal.party_of(who)
    provider = None if party is None or party.has_role("nza") else party.name
    if provider and provider not in flow_settings(portal.hub, "nza").get("providers", []):
        reason = f"refused: {provider!r} is neither the NZa nor a provider that delivers to it"
        await portal.record(who, "console.denied", "flows/nza", outcome="failure", reason=reason)
        return portal.render("nza.html", who, 403, rows=[], error=reason)
    rows = await portal.ctx.run(lambda: handlers.calendar(portal.hub, portal.hub.db, provider=provider))
    await portal.viewed(who, "flows/nza", reason=f"delivery calendar, {len(rows)} row(s)")
    return portal.render("nza.html", who, rows=rows)


PAGES = Pages("NZa calendar", Path(__file__).parent / "templates", (Page("", calendar),),
              roles=("party", "operator", "admin"))
