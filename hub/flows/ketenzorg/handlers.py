"""Seed 004, ketenzorg: claims checked against the care group's yearly contracts, then sent to the insurer.

Contracts are data (the flow's ``settings.toml``): per provider and year, the programmes and, per
programme, the insurers that contracted it. A ``ketenzorg.declaratie`` is rejected with the first rule it
breaks, in this order: ``NO_CONTRACT`` (no contract that year), ``PROGRAMME_NOT_CONTRACTED``,
``INSURER_NOT_CONTRACTED``, ``DUPLICATE_CLAIM``. A valid claim goes to the client's insurer only, in the
insurer's configured format. ``ketenzorg.totalen`` gives the care group its monthly totals per insurer.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from hub.app import HubApp
from hub.envelope import Delivery
from hub.errors import ConfigError, Forbidden, Rejected
from hub.flows.support import flow_settings, iso, reply
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.store.db import Database
from hub.store.flows import ketenzorg as store

VEKTIS_HEADER = ["declaratie_id", "agb_zorgaanbieder", "bsn", "uzovi", "programma", "periode", "prestatiecode",
                 "bedrag_cent"]


def install(app: HubApp) -> None:
    store.create(app.db)
    app.handlers["ketenzorg.declaratie"] = handle_claim
    app.handlers["ketenzorg.totalen"] = handle_totals


def contract_for(app: HubApp, provider: str, year: int) -> dict[str, Any] | None:
    for c in flow_settings(app, "ketenzorg").get("contract", []):
        if c["provider"] == provider and int(c["year"]) == year:
            return dict(c)
    return None


def check_claim(app: HubApp, db: Database, provider: str, client_key: str, claim: dict[str, Any]) -> tuple[str, str]:
    """The four rules; returns (insurer party name, dedup key) or raises Rejected naming the failing rule."""
    year = int(str(claim["periode"])[:4])
    programme = str(claim["programma"])
    contract = contract_for(app, provider, year)
    if contract is None:
        raise Rejected(f"no ketenzorg contract with the care group for {year}", rule="NO_CONTRACT")
    insurers = contract.get("programmes", {}).get(programme)
    if insurers is None:
        raise Rejected(f"programme {programme!r} is not in the {year} contract", rule="PROGRAMME_NOT_CONTRACTED")
    party = app.parties.by_identifier("UZOVI", str(claim["uzovi"]))
    if party is None or party.name not in insurers:
        raise Rejected(f"insurer UZOVI {claim['uzovi']} has not contracted programme {programme!r} for {year}",
                       rule="INSURER_NOT_CONTRACTED")
    dedup = "|".join((provider, client_key, programme, str(claim["periode"]), str(claim["prestatiecode"])))
    if store.claimed(db, dedup, provider, str(claim["declaratieId"])):
        raise Rejected(f"duplicate claim: {programme} {claim['periode']} {claim['prestatiecode']} was already "
                       "claimed for this client", rule="DUPLICATE_CLAIM")
    return party.name, dedup


def insurer_format(app: HubApp, insurer: str) -> str:
    return str(flow_settings(app, "ketenzorg").get("insurer", {}).get(insurer, {}).get("format", "json"))


def render(app: HubApp, provider: str, insurer: str, claim: dict[str, Any]) -> tuple[bytes, str]:
    fmt = insurer_format(app, insurer)
    if fmt == "json":
        return orjson.dumps(claim), "application/json"
    if fmt == "vektis-csv":
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=";", lineterminator="\n")
        w.writerow(VEKTIS_HEADER)
        w.writerow([claim["declaratieId"], app.parties.get(provider).id, claim["bsn"], claim["uzovi"],
                    claim["programma"], claim["periode"], claim["prestatiecode"], claim["bedragCent"]])
        return buf.getvalue().encode(), "text/csv"
    raise ConfigError(f"unknown ketenzorg claim format {fmt!r} for insurer {insurer!r}")


def handle_claim(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env = checked.envelope
    claim = checked.document.json
    insurer, dedup = check_claim(ctx.app, ctx.db, env.sender, env.client_key or "", claim)
    store.add_claim(ctx.db, (env.message_id, str(claim["declaratieId"]), env.sender, env.client_key or "",
                             claim["programma"], claim["periode"], claim["prestatiecode"], insurer,
                             int(claim["bedragCent"]), iso(), dedup))
    body, content_type = render(ctx.app, env.sender, insurer, claim)
    out = env.evolve(payload=body, content_type=content_type)
    return [Delivery(insurer, out, f"the client's insurer ({insurer_format(ctx.app, insurer)})")]


def totals(db: Database, year: str | None = None) -> list[dict[str, Any]]:
    rows = store.totals(db, year)
    return [{"verzekeraar": r[0], "maand": r[1], "aantal": int(r[2]), "bedragCent": int(r[3])} for r in rows]


def handle_totals(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    group = str(flow_settings(ctx.app, "ketenzorg").get("zorggroep", ""))
    if checked.envelope.sender != group:
        raise Forbidden("only the care group reads the claim totals", rule="NOT_THE_CARE_GROUP")
    year = checked.document.json.get("jaar")
    result = totals(ctx.db, str(year) if year else None)
    reply(ctx, "ketenzorg.totalen.antwoord", {"jaar": year, "totalen": result}, action="query",
          record_type="ketenzorg.totalen", reason=f"{len(result)} row(s)")
    return []
