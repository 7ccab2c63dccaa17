"""Seed 000 over HTTP (``zorghub demo --http``): every party with its own token, each step a curl line.

The hub runs as in the other walk-throughs (``TestHub``: on the embedded broker, or on RabbitMQ with
its worker); its HTTP server listens on a free loopback port. Parties submit with ``POST /messages``
and read with the registers' GraphQL queries; what the policy denies is shown with its rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.flows.network import seed
from hub.flows.network.notify import EVENT_TYPES
from hub.http import auth, server
from hub.http.client import HttpParty
from hub.http.scopes import default_scopes
from hub.http.tokens import DevKey
from hub.store import auditqueries
from hub.testing import TestHub

INDICATIE = """query($id: UUID) { wlzIndicatie(where: {wlzindicatieID: {eq: $id}}) {
  wlzindicatieID besluitnummer initieelVerantwoordelijkZorgkantoor geindiceerdZorgzwaartepakket { zzpCode } } }"""
MIJN_INDICATIES = "{ wlzIndicatie { wlzindicatieID besluitnummer } }"
SPECIFICATIE = """query($id: UUID) { bemiddelingspecificatie(where: {bemiddelingspecificatieID: {eq: $id}}) {
  bemiddelingspecificatieID zzpCode instelling toewijzingIngangsdatum } }"""


class HttpWalk:
    def __init__(self, hub: TestHub, url: str, key: DevKey) -> None:
        self.hub = hub
        self.out = hub.out
        self.ok = True
        self.parties: dict[str, HttpParty] = {}
        for party in hub.app.parties:
            patient = party.id if party.id_type == "BSN" else None
            token = key.issue(party.name, default_scopes(party), issuer=hub.settings.http_issuer,
                              audience=hub.settings.http_audience, patient=patient)
            self.parties[party.name] = HttpParty(url, party.name, token, show=self.out,
                                                 body_dir=Path(hub.settings.home) / "http-requests")

    def check(self, cond: bool, what: str) -> None:
        if not cond:
            self.ok = False
            self.out(f"  !! expected: {what}")

    def submit(self, party: str, kind: str, payload: dict[str, Any], key: str = "") -> dict[str, Any]:
        client = self.parties[party]
        response = client.submit(kind, payload, key=key)
        self.check(response.status_code == 202, f"{party}: 202 Accepted (got {response.status_code})")
        message_id = response.json().get("messageId", "")
        if self.hub.memory:
            self.hub.pump()  # the embedded broker runs when asked
        status = client.wait(message_id)
        to = ", ".join(status.get("delivered", []))
        rule = status.get("rule", "")
        self.out(f"  -> {status['status']}{' to ' + to if to else ''}{' (' + rule + ')' if rule else ''}")
        return status

    def melden(self, party: str, subject: str, data: dict[str, Any], key: str) -> dict[str, Any]:
        self.out(f"  {party} meldt {subject}:")
        return self.submit(party, "network.melden", seed.melding(subject, data), key)

    def query(self, party: str, endpoint: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        self.out(f"  {party} bevraagt /graphql/{endpoint}:")
        answer = self.parties[party].graphql(endpoint, query, variables).json()
        if answer.get("errors"):
            self.out(f"  -> {answer['errors'][0]['message']}")
        else:
            rows = next(iter(answer["data"].values()))
            self.out(f"  -> {len(rows)} result(s): " + "; ".join(
                ", ".join(f"{k}={v}" for k, v in r.items() if not isinstance(v, list | dict)) for r in rows))
        return answer

    def sees_only(self, party: str, record_id: str, what: str) -> None:
        """The party's own list of indicaties is exactly the one with ``record_id``."""
        a = self.query(party, "indicatieregister", MIJN_INDICATIES)
        self.check([r["wlzindicatieID"] for r in (a["data"] or {}).get("wlzIndicatie", [])] == [record_id], what)

    def denied(self, party: str, record_id: str, what: str) -> None:
        a = self.query(party, "indicatieregister", INDICATIE, {"id": record_id})
        self.check(a["data"] is None and "denied" in a["errors"][0]["message"], what)

    def close(self) -> None:
        for client in self.parties.values():
            client.close()


def seed000(hub: TestHub) -> bool:
    out = hub.out
    key = DevKey.at(Path(hub.settings.home) / auth.DEV_KEY_FILE, create=True)
    running = server.start_for(hub.settings, port=0)
    walk = HttpWalk(hub, running.url, key)
    ids = seed.IDS
    g, j = "client-geelhoed", "client-jansen"
    try:
        out(f"Seed 000 over HTTP at {running.url}: every party with its own access token.")
        out("  $ export TOKEN_ZK_UTRECHT=$(zorghub tokens issue zk-utrecht)   # and so for each party")
        out("Subscriptions (abonneren) through POST /messages:")
        walk.submit("pgo-geelhoed", "network.abonneren", {"actie": "aanmelden", "eventTypes": EVENT_TYPES,
                                                           "filter": {"bsn": seed.GEELHOED_BSN}})
        walk.submit("cak", "network.abonneren", {"actie": "aanmelden", "eventTypes": ["NIEUWE_INDICATIE"]})
        out("Step 1. Through the PGO, Inge records his history and preferences.")
        walk.check(walk.melden("pgo-geelhoed", "Clientgegevens", seed.clientgegevens(), g)["status"] == "processed",
                   "the Clientregister record is taken")
        out("Step 2-3. CIZ melds the indicatiebesluit (and Mrs Jansen's); the zorgkantoor of his region is told.")
        done = walk.melden("ciz", "WlzIndicatie", seed.indicatie(), g)
        walk.check("zk-utrecht" in done.get("delivered", []), "zk-utrecht is notified")
        walk.melden("ciz", "WlzIndicatie", seed.indicatie_jansen(), j)
        out("Step 4. The zorgkantoor queries with the official wlzIndicatie query; another region is denied.")
        walk.sees_only("zk-utrecht", ids["indicatie"], "zk-utrecht finds exactly Mr Geelhoed's indicatie")
        walk.denied("zk-amsterdam", ids["indicatie"], "another region is denied")
        walk.melden("zk-utrecht", "Bemiddeling", seed.bemiddeling(), g)
        walk.melden("zk-utrecht", "Bemiddelingspecificatie", seed.specificatie(), g)
        out("Step 5. Bos & Duin reads its zorgtoewijzing and the indicatie; Zonnehof is denied.")
        a = walk.query("bos-en-duin", "bemiddelingsregister", SPECIFICATIE, {"id": ids["specificatie"]})
        walk.check(len(a["data"]["bemiddelingspecificatie"]) == 1, "the provider reads its own toewijzing")
        walk.denied("zonnehof", ids["indicatie"], "an unrelated provider is denied")
        out("Step 6. Bos & Duin records delivered care.")
        walk.melden("bos-en-duin", "Zorglevering", seed.zorglevering(), g)
        out("Step 7. Inge, through the PGO, reads his indicatie and nothing of anyone else.")
        walk.sees_only("pgo-geelhoed", ids["indicatie"], "the PGO sees his indicatie only")
        walk.denied("pgo-jansen", ids["indicatie"], "Mrs Jansen's PGO cannot read Mr Geelhoed's indicatie")
        denials = auditqueries.refusals(hub.app.audit.db, "authz.")
        out(f"Authorisation: {len(denials)} denials audited, each with its rule.")
        walk.check(len(denials) >= 3, "the denials are audited")
        out("Seed 000 over HTTP " + ("passed every check." if walk.ok else "FAILED a check."))
        return walk.ok
    finally:
        walk.close()
        running.stop()
