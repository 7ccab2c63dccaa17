"""The network model's registers and data services, on the embedded transport and on RabbitMQ.

Storage matters here, so every test runs on SQLite and on PostgreSQL too; each ends with the checks
every flow passes (``flow_suite``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import orjson
import pytest

from hub.flows.network import FLOW, network_of, seed
from hub.flows.network.fhir import to_fhir
from hub.settings import Settings
from hub.testing import TestHub, flow_suite

IDS = seed.IDS
G = "client-geelhoed"
NOTIFICATIE_SCHEMA = json.loads((FLOW.schema_dir / "notificatie.schema.json").read_text())  # type: ignore[operator]


class Net:
    def __init__(self, ctx: TestHub) -> None:
        self.ctx = ctx
        self.app = ctx.app
        self.net = network_of(ctx.app)

    def send(self, party: str, kind: str, payload: dict[str, Any], key: str = G,
             message_id: str | None = None) -> dict[str, list[Any]]:
        self.ctx.send(party, kind, payload, client_key=key, message_id=message_id)
        return self.inboxes()

    def inboxes(self) -> dict[str, list[Any]]:
        got = {}
        for p in self.app.parties:
            msgs = self.ctx.inbox(p.name)
            if msgs:
                got[p.name] = msgs
        return got

    def melden(self, party: str, subject: str, data: dict[str, Any], actie: str = "nieuw",
               **kw: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
        got = self.send(party, "network.melden", seed.melding(subject, data, actie), **kw)
        receipt = next(orjson.loads(m.body) for m in got.pop(party) if m.properties["type"] == "zorghub.receipt")
        return receipt, notifications(got)

    def query(self, party: str, template: str, **params: Any) -> dict[str, Any]:
        got = self.send(party, "network.bevragen", {"template": template, "params": params})
        assert set(got) == {party}
        [msg] = got[party]
        assert msg.properties["type"] == "network.antwoord"
        return dict(orjson.loads(msg.body))

    def subscribe(self, party: str, events: list[str], **filt: Any) -> str:
        got = self.send(party, "network.abonneren", {"actie": "aanmelden", "eventTypes": events, "filter": filt})
        return str(orjson.loads(got[party][0].body)["abonnementID"])

    def denials(self) -> list[tuple[str, str, str, str]]:
        return [(r.actor, r.action, r.record_type, r.reason.split(":")[0])
                for r in self.app.audit.records("action LIKE ? AND outcome = ?", ("authz.%", "deny"))]

    def start(self) -> None:
        """Seed 000 up to the zorgtoewijzing."""
        self.melden("ciz", "WlzIndicatie", seed.indicatie())
        self.melden("ciz", "WlzIndicatie", seed.indicatie_jansen(), key="client-jansen")
        self.melden("zk-utrecht", "Bemiddeling", seed.bemiddeling())
        self.melden("zk-utrecht", "Bemiddelingspecificatie", seed.specificatie())


def notifications(got: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for party, msgs in got.items():
        for m in msgs:
            assert m.properties["type"] == "network.notificatie", (party, m.properties["type"])
            body = orjson.loads(m.body)
            jsonschema.validate(body, NOTIFICATIE_SCHEMA)  # the network payload, nothing more
            out.setdefault(party, []).append({**body, "_seq": m.headers["x-network-sequence"]})
    return out


@pytest.fixture
def hub(hub_settings: Settings, store_url: str) -> Iterator[Net]:
    with TestHub(hub_settings.replace(store_url=store_url), out=lambda _: None) as ctx:
        yield Net(ctx)
        flow_suite(FLOW, ctx)


def test_registers_keep_every_version_and_only_the_owner_writes(hub: Net) -> None:
    receipt, told = hub.melden("ciz", "WlzIndicatie", seed.indicatie())
    assert receipt["status"] == "accepted" and receipt["version"] == 1
    assert {p: [n["eventType"] for n in ns] for p, ns in told.items()} == {
        "zk-utrecht": ["NIEUWE_INDICATIE_ZORGKANTOOR"]}
    assert told["zk-utrecht"][0]["subjectList"] == [{"subject": "WlzIndicatie", "recordID": IDS["indicatie"]}]
    changed = dict(seed.indicatie(), einddatum="2031-10-31")
    receipt, _ = hub.melden("ciz", "WlzIndicatie", changed, "gewijzigd")
    assert receipt["version"] == 2
    receipt, told = hub.melden("ciz", "WlzIndicatie", {"wlzindicatieID": IDS["indicatie"]}, "ingetrokken")
    assert receipt["version"] == 3
    assert [n["eventType"] for n in told["zk-utrecht"]] == ["VERVALLEN_INDICATIE_ZORGKANTOOR"]
    history = hub.net.registers.history("WlzIndicatie", IDS["indicatie"])
    assert [(r.version, r.status, r.data["einddatum"]) for r in history] == [
        (1, "actief", None), (2, "actief", "2031-10-31"), (3, "ingetrokken", "2031-10-31")]
    assert history[0].data["initieelVerantwoordelijkZorgkantoor"] == "5509"  # from the region table
    # only the owner writes: another party with the owner's role, and a party of another role
    other = dict(changed, einddatum="2040-01-01")
    receipt, told = hub.melden("zk-utrecht", "WlzIndicatie", other, "gewijzigd")
    assert receipt["status"] == "rejected" and receipt["rule"] == "DEFAULT-DENY" and told == {}
    assert len(hub.net.registers.history("WlzIndicatie", IDS["indicatie"])) == 3
    assert ("zk-utrecht", "authz.write", "WlzIndicatie", "rule DEFAULT-DENY") in hub.denials()


def test_denials_are_audited_with_the_deciding_rule(hub: Net) -> None:
    hub.start()
    # an unrelated provider queries an indicatie
    a = hub.query("zonnehof", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    assert a["status"] == "denied" and a["results"] == [] and a["rule"] == "DEFAULT-DENY"
    # the zorgkantoor of another region
    a = hub.query("zk-amsterdam", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    assert a["status"] == "denied"
    # a client queries another client
    a = hub.query("pgo-jansen", "clientOverzicht", bsn=seed.GEELHOED_BSN)
    assert a["status"] == "denied" and a["results"] == []
    # a party writes to a register it does not own
    receipt, told = hub.melden("zonnehof", "Bemiddelingspecificatie",
                               dict(seed.specificatie(), instelling=seed.ZONNEHOF_AGB), "gewijzigd")
    assert receipt["status"] == "rejected" and told == {}
    # a template outside the role
    a = hub.query("zonnehof", "wlzIndicatiesZorgkantoor")
    assert a["status"] == "denied" and a["rule"] == "TEMPLATE-ROLE:wlzIndicatiesZorgkantoor"
    denials = hub.denials()
    assert ("zonnehof", "authz.read", "WlzIndicatie", "rule DEFAULT-DENY") in denials
    assert ("zk-amsterdam", "authz.read", "WlzIndicatie", "rule DEFAULT-DENY") in denials
    assert ("pgo-jansen", "authz.read", "WlzIndicatie", "rule DEFAULT-DENY") in denials
    assert ("zonnehof", "authz.write", "Bemiddelingspecificatie", "rule DEFAULT-DENY") in denials
    query_denials = hub.app.audit.records("action = 'network.query' AND outcome = 'deny'")
    assert any("TEMPLATE-ROLE" in r.reason for r in query_denials)
    # allows are audited too, with their rule
    allows = hub.app.audit.records("action = 'authz.write' AND outcome = 'allow'")
    assert {r.reason.split(":")[0] for r in allows} == {"rule W-IND-CIZ", "rule W-BEM-ZK"}
    # and no BSN in any audited reason
    assert not any(seed.GEELHOED_BSN in r.reason for r in hub.app.audit.records())


def test_attribute_filtering_per_role(hub: Net) -> None:
    hub.melden("ciz", "WlzIndicatie", seed.indicatie())
    full = set(seed.indicatie()) | {"initieelVerantwoordelijkZorgkantoor"}
    # the preferred provider, before any toewijzing: the decision, not the diagnosis or the BSN
    a = hub.query("bos-en-duin", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    data = a["results"][0]["data"]
    assert "stoornis" not in data and "bsn" not in data and "client" not in data and "commentaar" not in data
    assert data["geindiceerdZorgzwaartepakket"] == [{"zzpCode": "5VV", "ingangsdatum": "2026-11-01",
                                                      "einddatum": None, "instellingVoorkeur": "73730800"}]
    # the CAK: what the eigen bijdrage needs
    a = hub.query("cak", "eigenBijdrage", bsn=seed.GEELHOED_BSN)
    data = a["results"][0]["data"]
    assert set(data) == {"wlzindicatieID", "bsn", "besluitnummer", "soortWlzindicatie", "ingangsdatum",
                         "einddatum", "geindiceerdZorgzwaartepakket"}
    assert set(data["geindiceerdZorgzwaartepakket"][0]) == {"zzpCode", "ingangsdatum", "einddatum", "financiering"}
    # the responsible zorgkantoor and the client see everything
    a = hub.query("zk-utrecht", "wlzIndicatiesZorgkantoor")
    assert set(a["results"][0]["data"]) == full
    a = hub.query("pgo-geelhoed", "clientOverzicht")
    assert set(a["results"][0]["data"]) == full
    # once care is allocated the provider sees more, but still not the CIZ's free-text comment
    hub.melden("zk-utrecht", "Bemiddeling", seed.bemiddeling())
    hub.melden("zk-utrecht", "Bemiddelingspecificatie", seed.specificatie())
    a = hub.query("bos-en-duin", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    data = a["results"][0]["data"]
    assert "stoornis" in data and "commentaar" not in data
    # a bemiddeling: the provider sees the responsibility, the zorgkantoor all of it
    a = hub.query("bos-en-duin", "bemiddeling", bemiddelingID=IDS["bemiddeling"])
    assert a["status"] == "ok"
    # the provider's query by id finds only its own AGB's toewijzing
    a = hub.query("zonnehof", "bemiddelingspecificatie", bemiddelingspecificatieID=IDS["specificatie"])
    assert a["status"] == "ok" and a["results"] == []
    decisions = hub.app.audit.records("action = 'authz.read' AND actor = 'cak'")
    assert decisions and "fields=wlzindicatieID,bsn" in decisions[0].reason


def test_same_melding_twice_changes_nothing_and_order_per_client_holds(hub: Net) -> None:
    body = seed.indicatie()
    hub.melden("ciz", "WlzIndicatie", body, message_id="m-1")
    # the same message again: the pipeline's idempotency
    got = hub.send("ciz", "network.melden", seed.melding("WlzIndicatie", body), message_id="m-1")
    assert got == {}
    # the same content under a new message id: the register's idempotency
    receipt, told = hub.melden("ciz", "WlzIndicatie", body)
    assert receipt["status"] == "unchanged" and told == {}
    assert hub.net.registers.count() == 1
    # a client's changes apply in send order, also when they arrive in one batch
    sub = hub.subscribe("zk-utrecht", ["GEWIJZIGDE_INDICATIE"])
    ends = ["2030-01-01", "2031-01-01", "2032-01-01"]
    for end in ends:
        hub.ctx.note_sent(hub.ctx.client("ciz").send("network.melden", seed.melding(
            "WlzIndicatie", dict(body, einddatum=end), "gewijzigd"), client_key=G))
    hub.ctx.settle()  # all three processed (on RabbitMQ the worker runs beside the test)
    told = notifications({k: v for k, v in hub.inboxes().items() if k == "zk-utrecht"})["zk-utrecht"]
    assert [(n["ontvangerKenmerk"], n["_seq"]) for n in told] == [(sub, 1), (sub, 2), (sub, 3)]
    history = hub.net.registers.history("WlzIndicatie", IDS["indicatie"])
    assert [r.data["einddatum"] for r in history] == [None, *ends]


def test_gap_in_sequence_numbers_is_recovered_by_resend(hub: Net) -> None:
    sub = hub.subscribe("cak", ["NIEUWE_INDICATIE", "GEWIJZIGDE_INDICATIE"])
    body = seed.indicatie()
    hub.melden("ciz", "WlzIndicatie", body)
    seen: list[int] = []
    for n in range(4):
        _, told = hub.melden("ciz", "WlzIndicatie", dict(body, einddatum=f"203{n}-01-01"), "gewijzigd")
        if n != 1:  # the second change's notification is lost on the way
            seen.extend(x["_seq"] for x in told["cak"])
    seen.insert(0, 1)
    assert seen == [1, 2, 4, 5]
    gap = next(n for n, s in enumerate(seen, start=1) if s != n)
    got = hub.send("cak", "network.abonneren", {"actie": "herzenden", "abonnementID": sub, "vanafVolgnummer": gap})
    resent = [m for m in got["cak"] if m.properties["type"] == "network.notificatie"]
    assert [m.headers["x-network-sequence"] for m in resent] == [3, 4, 5]
    assert all(m.headers["x-network-resent"] for m in resent)
    assert {orjson.loads(m.body)["ontvangerKenmerk"] for m in resent} == {sub}
    # mandatory notifications are numbered too, per party
    sub_zk = "VERPLICHT-zk-utrecht"
    got = hub.send("zk-utrecht", "network.abonneren", {"actie": "herzenden", "abonnementID": sub_zk,
                                                       "vanafVolgnummer": 1})
    assert [m.headers["x-network-sequence"] for m in got["zk-utrecht"]
            if m.properties["type"] == "network.notificatie"] == [1]
    # only the subscriber may ask
    got = hub.send("zonnehof", "network.abonneren", {"actie": "herzenden", "abonnementID": sub,
                                                     "vanafVolgnummer": 1})
    assert orjson.loads(got["zonnehof"][0].body)["rule"] == "UNKNOWN_SUBSCRIPTION"


def test_terugmelding_round_trip_accept_and_reject(hub: Net) -> None:
    hub.start()
    # the CAK reports a wrong zzp code in the zorgkantoor's toewijzing
    got = hub.send("cak", "network.terugmelden", {"subject": "Bemiddelingspecificatie",
                                                  "recordID": IDS["specificatie"], "regelcode": "TR-ZZP",
                                                  "toelichting": "zzp wijkt af van de indicatie"})
    ack = orjson.loads(got["cak"][0].body)
    tid = ack["terugmeldingID"]
    assert ack["status"] == "ingediend"
    [to_owner] = got["zk-utrecht"]
    assert to_owner.properties["type"] == "network.terugmelding"
    assert orjson.loads(to_owner.body)["regelcode"] == "TR-ZZP" and set(got) == {"cak", "zk-utrecht"}
    assert hub.query("cak", "terugmelding", terugmeldingID=tid)["results"][0]["status"] == "ingediend"
    # only the owner decides
    got = hub.send("bos-en-duin", "network.terugmelding.besluit", {"terugmeldingID": tid, "besluit": "afgewezen",
                                                                   "reden": "nee"})
    assert orjson.loads(got["bos-en-duin"][0].body)["status"] == "denied"
    # accepted with a correction: written as a change, notified as usual, reporter told
    got = hub.send("zk-utrecht", "network.terugmelding.besluit", {
        "terugmeldingID": tid, "besluit": "geaccepteerd", "correctie": dict(seed.specificatie(), zzpCode="6VV")})
    outcome = orjson.loads(next(m.body for m in got["cak"]))
    assert outcome["status"] == "geaccepteerd" and outcome["correctieVersie"] == 2
    assert [orjson.loads(m.body)["eventType"] for m in got["bos-en-duin"]] == [
        "GEWIJZIGDE_BEMIDDELINGSPECIFICATIE_ZORGAANBIEDER"]
    assert hub.net.registers.current("Bemiddelingspecificatie", IDS["specificatie"]).data["zzpCode"] == "6VV"  # type: ignore[union-attr]
    assert hub.query("zk-utrecht", "terugmelding", terugmeldingID=tid)["results"][0]["status"] == "geaccepteerd"
    # rejected with a reason
    got = hub.send("bos-en-duin", "network.terugmelden", {"subject": "WlzIndicatie", "recordID": IDS["indicatie"],
                                                          "regelcode": "TR-ADRES"})
    tid2 = orjson.loads(got["bos-en-duin"][0].body)["terugmeldingID"]
    assert set(got) == {"bos-en-duin", "ciz"}
    got = hub.send("ciz", "network.terugmelding.besluit", {"terugmeldingID": tid2, "besluit": "afgewezen",
                                                           "reden": "adres is juist volgens BRP"})
    outcome = orjson.loads(got["bos-en-duin"][0].body)
    assert (outcome["status"], outcome["reden"]) == ("afgewezen", "adres is juist volgens BRP")
    assert hub.query("bos-en-duin", "terugmelding", terugmeldingID=tid2)["results"][0]["status"] == "afgewezen"
    # a party that may not read the record may not report on it, and cannot see others' terugmeldingen
    got = hub.send("zonnehof", "network.terugmelden", {"subject": "WlzIndicatie", "recordID": IDS["indicatie"],
                                                       "regelcode": "X"})
    assert orjson.loads(got["zonnehof"][0].body)["status"] == "denied" and set(got) == {"zonnehof"}
    assert hub.query("zonnehof", "terugmelding", terugmeldingID=tid2)["status"] == "denied"


def test_every_record_type_is_valid_fhir_r4(hub: Net) -> None:
    hub.start()
    hub.melden("pgo-geelhoed", "Clientgegevens", seed.clientgegevens())
    hub.melden("zk-utrecht", "Regiehouder", seed.regiehouder())
    hub.melden("bos-en-duin", "Zorglevering", seed.zorglevering())
    overdracht = {"overdrachtID": "7f000000-0000-4000-8000-000000000001", "bemiddelingID": IDS["bemiddeling"],
                  "verantwoordelijkZorgkantoor": "5515", "overdrachtDatum": "2027-03-01",
                  "verhuisDatum": "2027-02-15", "vaststellingMoment": "2027-02-01T09:00:00+01:00"}
    receipt, told = hub.melden("zk-utrecht", "Overdracht", overdracht)
    assert [n["eventType"] for n in told["zk-amsterdam"]] == ["NIEUWE_OVERDRACHT_ZORGKANTOOR"]
    types = {}
    for rec in hub.net.registers.for_client(hub.net.registers.current("WlzIndicatie", IDS["indicatie"]).client):  # type: ignore[union-attr]
        resource = to_fhir(rec)
        types[rec.subject] = resource["resourceType"]
    assert types == {"Clientgegevens": "Patient", "WlzIndicatie": "CoverageEligibilityResponse",
                     "Bemiddeling": "EpisodeOfCare", "Bemiddelingspecificatie": "ServiceRequest",
                     "Regiehouder": "CareTeam", "Overdracht": "Task", "Zorglevering": "Encounter"}


def test_python_client_api_request_reply(hub: Net) -> None:
    from hub.flows.network.client import NetworkClient

    def client(party: str) -> NetworkClient:
        return NetworkClient(hub.ctx.client(party), pump=lambda: hub.ctx.pump(0))

    ciz, zk, jansen = client("ciz"), client("zk-utrecht"), client("pgo-jansen")
    assert ciz.melden("WlzIndicatie", seed.indicatie(), client_key=G)["status"] == "accepted"
    [note] = zk.notifications()
    assert note["eventType"] == "NIEUWE_INDICATIE_ZORGKANTOOR" and note["_seq"] == 1
    answer = zk.query("wlzIndicatie", wlzindicatieID=note["subjectList"][0]["recordID"])
    assert answer["status"] == "ok" and answer["results"][0]["data"]["besluitnummer"] == 202600123
    assert jansen.query("wlzIndicatie", wlzindicatieID=IDS["indicatie"])["status"] == "denied"
