"""Seed 000, all seven steps, on the network model's registers and data services.

Declared as the network flow's demo (``FLOW.demos``). Runs on
the embedded default and on RabbitMQ (``zorghub --broker amqp://... demo``),
printing who was notified of what, who queried what and what was denied, and
checking each step against what the network rules say must happen.
"""

from __future__ import annotations

from typing import Any

import orjson

from hub.flows.network import seed
from hub.flows.network.notify import EVENT_TYPES
from hub.store import auditqueries
from hub.testing import TestHub
from hub.transports.base import RawMessage


class Walk:
    def __init__(self, ctx: TestHub) -> None:
        self.ctx = ctx
        self.out = ctx.out
        self.ok = True
        self.subscriptions: dict[str, str] = {}

    def check(self, cond: bool, what: str) -> None:
        if not cond:
            self.ok = False
            self.out(f"  !! expected: {what}")

    def send(self, party: str, kind: str, payload: dict[str, Any], key: str = "") -> dict[str, list[RawMessage]]:
        """Send, let the hub process it, and collect every inbox."""
        self.ctx.send(party, kind, payload, client_key=key)
        got: dict[str, list[RawMessage]] = {}
        for p in self.ctx.app.parties:
            msgs = self.ctx.inbox(p.name)
            if msgs:
                got[p.name] = msgs
        return got

    def notified(self, got: dict[str, list[RawMessage]]) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for party, msgs in got.items():
            for m in msgs:
                if m.properties.get("type") == "network.notificatie":
                    body = orjson.loads(m.body)
                    seen.setdefault(party, []).append(body["eventType"])
                    via = "verplicht" if body["ontvangerKenmerk"].startswith("VERPLICHT-") else "abonnement"
                    self.out(f"  notified {party:14s} {body['eventType']:45s} {via} "
                             f"#{m.headers.get('x-network-sequence')} {body['subjectList'][0]['subject']}")
        return seen

    def melden(self, party: str, subject: str, data: dict[str, Any], key: str,
               actie: str = "nieuw") -> dict[str, list[str]]:
        got = self.send(party, "network.melden", seed.melding(subject, data, actie), key)
        receipt: dict[str, Any] = next((orjson.loads(m.body) for m in got.get(party, [])
                        if m.properties.get("type") == "zorghub.receipt"), {})
        self.out(f"  {party} meldt {actie} {subject}: {receipt.get('status')} "
                 f"{'version ' + str(receipt.get('version')) if receipt.get('version') else receipt.get('rule', '')}")
        return self.notified(got)

    def query(self, party: str, template: str, params: dict[str, Any], key: str = "") -> dict[str, Any]:
        got = self.send(party, "network.bevragen", {"template": template, "params": params}, key)
        answer = next(orjson.loads(m.body) for m in got.get(party, [])
                      if m.properties.get("type") == "network.antwoord")
        if answer["status"] == "ok":
            for r in answer["results"]:
                self.out(f"  {party} bevraagt {template}: {r['subject']} v{r['version']} "
                         f"({len(r['data'])} attributes: {', '.join(sorted(r['data']))[:70]}...)")
        else:
            self.out(f"  {party} bevraagt {template}: DENIED by rule {answer.get('rule')}")
        return answer

    def subscribe(self, party: str, events: list[str], filt: dict[str, Any] | None = None) -> None:
        got = self.send(party, "network.abonneren", {"actie": "aanmelden", "eventTypes": events,
                                                      "filter": filt or {}})
        answer = orjson.loads(got[party][0].body)
        self.subscriptions[party] = answer["abonnementID"]
        shown = "all event types" if len(events) == len(EVENT_TYPES) else ", ".join(events)
        self.out(f"  {party} subscribes to {shown}{' for its own client' if filt else ''}")


def seed000(ctx: TestHub) -> bool:
    w = Walk(ctx)
    out = ctx.out
    g, j = "client-geelhoed", "client-jansen"
    ids = seed.IDS
    out("Seed 000: Mr Geelhoed needs more intensive care; his daughter Inge uses a PGO (network model).")
    out("Subscriptions (abonneren); mandatory notifications need none:")
    w.subscribe("pgo-geelhoed", EVENT_TYPES, {"bsn": seed.GEELHOED_BSN})
    w.subscribe("cak", ["NIEUWE_INDICATIE"])
    w.subscribe("bos-en-duin", ["NIEUWE_INDICATIE"])
    w.subscribe("zonnehof", ["NIEUWE_INDICATIE"])

    out("Step 1. Through the PGO, Inge records his history and preferences in the Clientregister.")
    n = w.melden("pgo-geelhoed", "Clientgegevens", seed.clientgegevens(), g)
    w.check(n == {}, "no one else is notified of the Clientregister record")

    out("Step 2. CIZ records the indicatiebesluit in the Indicatieregister (and one for Mrs Jansen).")
    out("Step 3. The zorgkantoor comes from his address (3511AB -> COD001 5509, Utrecht); it, his PGO,")
    out("        the preferred provider Bos & Duin and the CAK are notified; Zonnehof's subscription is denied.")
    n = w.melden("ciz", "WlzIndicatie", seed.indicatie(), g)
    w.check(n == {"zk-utrecht": ["NIEUWE_INDICATIE_ZORGKANTOOR"], "pgo-geelhoed": ["NIEUWE_INDICATIE"],
                  "bos-en-duin": ["NIEUWE_INDICATIE"], "cak": ["NIEUWE_INDICATIE"]}, "step 3 notifications")
    n = w.melden("ciz", "WlzIndicatie", seed.indicatie_jansen(), j)
    w.check(n == {"zk-amsterdam": ["NIEUWE_INDICATIE_ZORGKANTOOR"], "cak": ["NIEUWE_INDICATIE"]},
            "Mrs Jansen's indicatie goes to Amsterdam and the CAK only")

    out("Step 4. The zorgkantoor queries the indicatiebesluit and starts bemiddeling; the CAK queries.")
    a = w.query("zk-utrecht", "wlzIndicatiesZorgkantoor", {})
    w.check(a["status"] == "ok" and [r["recordID"] for r in a["results"]] == [ids["indicatie"]],
            "zk-utrecht sees exactly Mr Geelhoed's indicatie")
    a = w.query("zk-amsterdam", "wlzIndicatie", {"wlzindicatieID": ids["indicatie"]})
    w.check(a["status"] == "denied", "the zorgkantoor of another region is denied")
    n = w.melden("zk-utrecht", "Bemiddeling", seed.bemiddeling(), g)
    w.check(n == {"pgo-geelhoed": ["NIEUWE_BEMIDDELING"]}, "bemiddeling: only his PGO")
    n = w.melden("zk-utrecht", "Bemiddelingspecificatie", seed.specificatie(), g)
    w.check(n == {"bos-en-duin": ["NIEUWE_BEMIDDELINGSPECIFICATIE_ZORGAANBIEDER"],
                  "pgo-geelhoed": ["NIEUWE_BEMIDDELINGSPECIFICATIE"]}, "zorgtoewijzing: provider and PGO")
    a = w.query("cak", "eigenBijdrage", {"bsn": seed.GEELHOED_BSN}, g)
    w.check(a["status"] == "ok" and all("stoornis" not in r["data"] for r in a["results"]),
            "the CAK sees the eigen-bijdrage attributes, no diagnosis")

    out("Step 5. Bos & Duin, notified of the toewijzing, queries it (by id and its own AGB) and the indicatie.")
    a = w.query("bos-en-duin", "bemiddelingspecificatie", {"bemiddelingspecificatieID": ids["specificatie"]})
    w.check(a["status"] == "ok" and len(a["results"]) == 1, "the provider reads its own toewijzing")
    a = w.query("bos-en-duin", "wlzIndicatie", {"wlzindicatieID": ids["indicatie"]})
    w.check(a["status"] == "ok" and "stoornis" in a["results"][0]["data"], "with care allocated it sees more")
    a = w.query("zonnehof", "wlzIndicatie", {"wlzindicatieID": ids["indicatie"]})
    w.check(a["status"] == "denied", "an unrelated provider is denied")

    out("Step 6. Bos & Duin records delivered care in the Zorgleveringsregister.")
    n = w.melden("bos-en-duin", "Zorglevering", seed.zorglevering(), g)
    w.check(n == {"zk-utrecht": ["NIEUWE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["NIEUWE_ZORGLEVERING_CAK"],
                  "pgo-geelhoed": ["NIEUWE_ZORGLEVERING"]}, "step 6 notifications")

    out("Step 7. Inge sees all registers for her father through the PGO, and nothing about anyone else.")
    a = w.query("pgo-geelhoed", "clientOverzicht", {}, g)
    registers = sorted({r["register"] for r in a["results"]})
    out(f"  pgo-geelhoed sees {len(a['results'])} records in {', '.join(registers)}")
    w.check(len(registers) == 4 and len(a["results"]) == 5, "all four registers, five records")
    a = w.query("pgo-geelhoed", "clientOverzicht", {"bsn": seed.JANSEN_BSN}, j)
    w.check(a["status"] == "denied", "another client's records are denied")
    a = w.query("pgo-jansen", "wlzIndicatie", {"wlzindicatieID": ids["indicatie"]}, g)
    w.check(a["status"] == "denied", "Mrs Jansen's PGO cannot read Mr Geelhoed's indicatie")
    n = w.melden("zonnehof", "Zorglevering", dict(seed.zorglevering(), instelling=seed.ZONNEHOF_AGB,
                                                   zorgleveringID="5e000000-0000-4000-8000-000000000099"), g)
    w.check(n == {}, "a party that does not own the record cannot write it")
    denials = auditqueries.refusals(ctx.app.audit.db, "authz.")
    out(f"Authorisation: {len(denials)} denials audited, each with its rule:")
    for r in denials:
        out(f"  denied {r.actor:14s} {r.action[6:]:6s} {r.record_type:24s} {r.reason.split(' (')[0]}")
    out("Seed 000 " + ("passed every check." if w.ok else "FAILED a check."))
    return w.ok

