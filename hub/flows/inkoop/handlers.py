"""Seed 003, Zorginkoopportaal: the purchasing modules between insurers and providers.

- uitvraag: ``inkoop.uitvraag`` (insurer -> addressed providers), ``inkoop.antwoord`` (back to the
  insurer); an answer asking for a contract triggers the uitvraag's standing proposal.
- contracteer: ``inkoop.voorstel`` (insurer -> provider), ``inkoop.besluit`` (provider: akkoord or
  afgewezen; final, audited); ``inkoop.contract.vraag`` reads a proposal or contract any time after.
- onderhandel: ``inkoop.bod`` offers and counter-offers per care product, in turns, until one side
  sends ``akkoord`` on the other's last offer.
- naleving: ``inkoop.aanleververzoek`` (what an accepted contract requires, by a date),
  ``inkoop.levering`` (matched to its request), ``inkoop.dashboard`` (what is in, open and missing).
- beheer: ``zorghub communication`` and ``zorghub jobs``; ``zorghub inkoop dashboard`` per party.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson

from hub.app import HubApp
from hub.envelope import Delivery
from hub.errors import Forbidden, Rejected
from hub.flows.support import iso, record, reply, send, today
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.store.db import Database
from hub.store.flows import inkoop as store


def install(app: HubApp) -> None:
    store.create(app.db)
    for name, fn in HANDLERS.items():
        app.handlers[name] = fn


def _provider(ctx: HandlerContext, name: str) -> str:
    party = ctx.app.parties.find(name)
    if party is None or not party.has_role("zorgaanbieder"):
        raise Rejected(f"{name!r} is not a connected care provider", rule="UNKNOWN_PROVIDER")
    return party.name


# ----- uitvraag ---------------------------------------------------------------------------------
def handle_uitvraag(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    addressed = [_provider(ctx, n) for n in doc["aan"]]
    if store.uitvraag_exists(ctx.db, doc["uitvraagId"]):
        raise Rejected(f"uitvraag {doc['uitvraagId']!r} exists already", rule="DUPLICATE_ID")
    store.add_uitvraag(ctx.db, doc["uitvraagId"], env.sender, orjson.dumps(addressed).decode(),
                       orjson.dumps(doc.get("voorstelBijAanvraag") or {}).decode(), iso())
    return [Delivery(p, env, "addressed provider") for p in addressed]


def handle_antwoord(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    row = store.uitvraag(ctx.db, doc["uitvraagId"])
    if row is None:
        raise Rejected(f"unknown uitvraag {doc['uitvraagId']!r}", rule="UNKNOWN_UITVRAAG")
    insurer, addressed, proposal = row
    if env.sender not in orjson.loads(addressed):
        raise Forbidden("this uitvraag was not sent to you", rule="NOT_ADDRESSED")
    if store.answered(ctx.db, doc["uitvraagId"], env.sender):
        raise Rejected("you answered this uitvraag already", rule="ALREADY_ANSWERED")
    store.add_answer(ctx.db, doc["uitvraagId"], env.sender, env.message_id, iso())
    standing = orjson.loads(proposal)
    if doc.get("contractAanvraag") and standing:
        pid = f"{doc['uitvraagId']}-{env.sender}"
        body = {"voorstelId": pid, "aan": env.sender, "uitvraagId": doc["uitvraagId"], **standing}
        _store_proposal(ctx.db, pid, str(insurer), env.sender, body)
        send(ctx, env.sender, "inkoop.voorstel", {**body, "van": insurer}, action="proposed",
             record_type="contract", record_id=pid, reason="contract application in an uitvraag answer")
    return [Delivery(str(insurer), env, "the asking insurer")]


# ----- contracteer ------------------------------------------------------------------------------
def _store_proposal(db: Database, pid: str, insurer: str, provider: str, body: dict[str, Any]) -> None:
    if store.proposal_exists(db, pid):
        raise Rejected(f"proposal {pid!r} exists already", rule="DUPLICATE_ID")
    store.add_proposal(db, pid, insurer, provider, orjson.dumps(body).decode(), iso())


def handle_voorstel(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    provider = _provider(ctx, doc["aan"])
    _store_proposal(ctx.db, doc["voorstelId"], env.sender, provider, doc)
    ctx.records.append(record(ctx, "proposed", record_type="contract", record_id=doc["voorstelId"]))
    return [Delivery(provider, env, "proposal to the provider")]


def _proposal(db: Database, pid: str) -> tuple[str, str, str, str]:
    row = store.proposal(db, pid)
    if row is None:
        raise Rejected(f"unknown proposal {pid!r}", rule="UNKNOWN_PROPOSAL")
    insurer, provider, status, body = row
    return str(insurer), str(provider), str(status), str(body)


def handle_besluit(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    insurer, provider, status, _ = _proposal(ctx.db, doc["voorstelId"])
    if provider != env.sender:
        raise Forbidden("this proposal was made to another provider", rule="NOT_YOUR_PROPOSAL")
    if status != "open":
        raise Rejected(f"proposal {doc['voorstelId']!r} was already decided ({status}); a decision is final",
                       rule="ALREADY_DECIDED")
    store.decide_proposal(ctx.db, doc["voorstelId"], doc["besluit"], iso(), env.message_id)
    ctx.records.append(record(ctx, "contract_" + doc["besluit"], record_type="contract",
                              record_id=doc["voorstelId"]))
    return [Delivery(insurer, env, "decision on the insurer's proposal")]


def handle_contract_vraag(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    insurer, provider, status, body = _proposal(ctx.db, doc["voorstelId"])
    if env.sender not in (insurer, provider):
        raise Forbidden("only the insurer and the provider of a proposal may read it", rule="NOT_A_PARTY")
    reply(ctx, "inkoop.contract", {"voorstelId": doc["voorstelId"], "status": status,
                                   "voorstel": orjson.loads(body)},
          action="query", record_type="contract", record_id=doc["voorstelId"])
    return []


# ----- onderhandel ------------------------------------------------------------------------------
def handle_bod(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    nid = doc["onderhandelingId"]
    sender = ctx.app.parties.get(env.sender)
    row = store.negotiation(ctx.db, nid)
    if row is None:
        if doc.get("akkoord"):
            raise Rejected("there is no offer to agree to yet", rule="NOTHING_TO_AGREE")
        other = ctx.app.parties.find(str(doc.get("aan", "")))
        if other is None:
            raise Rejected("a first offer names the other party in 'aan'", rule="NO_COUNTERPARTY")
        if sender.has_role("zorgverzekeraar") and other.has_role("zorgaanbieder"):
            insurer, provider = sender.name, other.name
        elif sender.has_role("zorgaanbieder") and other.has_role("zorgverzekeraar"):
            insurer, provider = other.name, sender.name
        else:
            raise Rejected("a negotiation is between an insurer and a care provider", rule="NOT_A_PAIR")
        store.open_negotiation(ctx.db, nid, insurer, provider, doc["product"], env.sender, int(doc["prijsCent"]),
                               int(doc["volume"]), iso())
        ctx.records.append(record(ctx, "offered", record_type="negotiation", record_id=nid))
        return [Delivery(other.name, env, "counterparty in the negotiation")]
    insurer, provider, product, status, last, price, volume, rounds = row
    if env.sender not in (insurer, provider):
        raise Forbidden("you are not a party to this negotiation", rule="NOT_A_PARTY")
    if status != "open":
        raise Rejected(f"the negotiation is closed: agreed at {price} cents x {volume}", rule="NEGOTIATION_CLOSED")
    if env.sender == last:
        raise Rejected("wait for the other party's answer to your last offer", rule="NOT_YOUR_TURN")
    if doc.get("product", product) != product:
        raise Rejected(f"this negotiation is about product {product!r}", rule="OTHER_PRODUCT")
    other = provider if env.sender == insurer else insurer
    if doc.get("akkoord"):
        store.agree_negotiation(ctx.db, nid, env.sender, iso())
        ctx.records.append(record(ctx, "agreed", record_type="negotiation", record_id=nid,
                                  reason=f"{product}: {price} cents x {volume}"))
    else:
        store.counter_offer(ctx.db, nid, env.sender, int(doc["prijsCent"]), int(doc["volume"]), int(rounds) + 1,
                            iso())
        ctx.records.append(record(ctx, "offered", record_type="negotiation", record_id=nid))
    return [Delivery(str(other), env, "counterparty in the negotiation")]


# ----- naleving ---------------------------------------------------------------------------------
def handle_verzoek(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    insurer, provider, status, _ = _proposal(ctx.db, doc["voorstelId"])
    if insurer != env.sender:
        raise Forbidden("this contract belongs to another insurer", rule="NOT_YOUR_CONTRACT")
    if status != "akkoord":
        raise Rejected("delivery requests need an accepted contract", rule="NO_CONTRACT")
    if store.request_exists(ctx.db, doc["verzoekId"]):
        raise Rejected(f"request {doc['verzoekId']!r} exists already", rule="DUPLICATE_ID")
    store.add_request(ctx.db, doc["verzoekId"], doc["voorstelId"], insurer, provider, doc["onderwerp"],
                      doc["uiterlijk"])
    return [Delivery(provider, env, "delivery request under the contract")]


def handle_levering(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    row = store.request(ctx.db, doc["verzoekId"])
    if row is None:
        raise Rejected(f"no delivery request {doc['verzoekId']!r}", rule="UNKNOWN_REQUEST")
    insurer, provider, received = row
    if provider != env.sender:
        raise Forbidden("this delivery request is addressed to another provider", rule="NOT_YOUR_REQUEST")
    if received:
        raise Rejected("this request was delivered already", rule="ALREADY_DELIVERED")
    store.receive_request(ctx.db, doc["verzoekId"], env.message_id, iso())
    ctx.records.append(record(ctx, "matched", record_type="naleving", record_id=doc["verzoekId"]))
    return [Delivery(str(insurer), env, "delivery matched to the request")]


def dashboard(db: Database, party: str, on: date | None = None) -> list[dict[str, Any]]:
    day = (on or today()).isoformat()
    out = []
    for rid, pid, insurer, provider, subject, due, received_at in store.requests_of(db, party):
        state = "ontvangen" if received_at else ("ontbreekt" if due < day else "open")
        out.append({"verzoekId": rid, "voorstelId": pid, "verzekeraar": insurer, "aanbieder": provider,
                    "onderwerp": subject, "uiterlijk": due, "ontvangenOp": received_at or None, "status": state})
    return out


def handle_dashboard(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    items = dashboard(ctx.db, checked.envelope.sender)
    missing = [i for i in items if i["status"] == "ontbreekt"]
    reply(ctx, "inkoop.dashboard.antwoord", {"asOf": today().isoformat(), "verzoeken": items,
                                             "ontbrekend": [i["verzoekId"] for i in missing]},
          action="query", record_type="naleving", reason=f"{len(items)} request(s), {len(missing)} missing")
    return []


HANDLERS = {
    "inkoop.uitvraag": handle_uitvraag,
    "inkoop.antwoord": handle_antwoord,
    "inkoop.voorstel": handle_voorstel,
    "inkoop.besluit": handle_besluit,
    "inkoop.contract.vraag": handle_contract_vraag,
    "inkoop.bod": handle_bod,
    "inkoop.aanleververzoek": handle_verzoek,
    "inkoop.levering": handle_levering,
    "inkoop.dashboard": handle_dashboard,
}
