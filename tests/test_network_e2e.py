"""Seed 000 end to end on RabbitMQ, every party its own plain pika connection.

The parties import nothing from the hub: they speak the AMQP contract
(publish to ``zorghub.in`` with their own user_id, read ``zorghub.inbox.<name>``)
with the credentials ``zorghub parties sync`` gave them in a fresh vhost. The
hub runs as a worker thread beside them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest

from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology
from hub.flows.network import seed
from hub.ops.runner import run_worker
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.management import Management, party_password

IDS = seed.IDS
pytestmark = pytest.mark.rabbitmq


class PikaParty:
    """A vendor's side of the contract, in plain pika."""

    def __init__(self, name: str, password: str, vhost: str) -> None:
        self.name = name
        creds = pika.PlainCredentials(name, password)
        self.conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, vhost, creds))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.queue = f"zorghub.inbox.{name}"
        self.pending: list[tuple[Any, dict[str, Any]]] = []

    def send(self, kind: str, body: dict[str, Any], key: str, **props: Any) -> str:
        message_id = str(uuid.uuid4())
        self.ch.basic_publish("zorghub.in", key, json.dumps(body).encode(), pika.BasicProperties(
            message_id=message_id, type=kind, content_type="application/json", user_id=self.name, delivery_mode=2,
            **props))
        return message_id

    def drain(self) -> list[tuple[Any, dict[str, Any]]]:
        got, self.pending = self.pending, []
        while True:
            method, props, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                return got
            got.append((props, json.loads(body)))

    def wait(self, match: Callable[[Any, dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.drain()
            for i, (props, body) in enumerate(msgs):
                if match(props, body):
                    self.pending = msgs[:i] + msgs[i + 1:] + self.pending
                    return body
            self.pending = msgs + self.pending
            self.conn.sleep(0.02)
        raise TimeoutError(f"{self.name}: no matching message")

    def request(self, kind: str, body: dict[str, Any], key: str = "k") -> dict[str, Any]:
        correlation = str(uuid.uuid4())
        self.send(kind, body, key, correlation_id=correlation, reply_to=self.queue)
        return self.wait(lambda p, b: p.correlation_id == correlation)


class Network:
    def __init__(self, parties: dict[str, PikaParty]) -> None:
        self.parties = parties

    def step(self, sender: str, kind: str, body: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, list]]:
        """Send; wait for the hub's answer to the sender; then every other inbox holds what the batch sent."""
        p = self.parties[sender]
        correlation = str(uuid.uuid4())
        message_id = p.send(kind, body, key, correlation_id=correlation)
        answer = p.wait(lambda pr, b: pr.correlation_id in (correlation, message_id))
        got = {name: msgs for name, party in self.parties.items() if (msgs := party.drain())}
        return answer, got

    def melden(self, sender: str, subject: str, data: dict[str, Any], key: str) -> dict[str, list[str]]:
        answer, got = self.step(sender, "network.melden", seed.melding(subject, data), key)
        assert answer["status"] == "accepted", answer
        told: dict[str, list[str]] = {}
        for name, msgs in got.items():
            for props, body in msgs:
                assert props.type == "network.notificatie", (name, props.type)
                assert set(body) == {"timestamp", "afzenderIDType", "afzenderID", "ontvangerIDType", "ontvangerID",
                                     "ontvangerKenmerk", "eventType", "subjectList"}
                assert isinstance(props.headers["x-network-sequence"], int)
                told.setdefault(name, []).append(body["eventType"])
        return told

    def query(self, sender: str, template: str, **params: Any) -> dict[str, Any]:
        answer, got = self.step(sender, "network.bevragen", {"template": template, "params": params}, "q")
        assert got == {}, f"a query reached other parties: {sorted(got)}"
        return answer


@pytest.fixture
def network(amqp_settings: Settings, rabbitmq_vhost: str) -> Iterator[Network]:
    settings = amqp_settings.replace(retry_delays_ms=(300, 1000, 3000))
    registry = PartyRegistry.load(settings.parties_path)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    Management("http://127.0.0.1:15672", "guest", "guest").sync_parties(rabbitmq_vhost, registry, topology)
    hub = open_transport(settings.broker_url)
    hub.declare(topology, registry)
    hub.close()
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(settings,), kwargs={"stop": stop}, daemon=True)
    worker.start()
    parties = {p.name: PikaParty(p.name, party_password(p), rabbitmq_vhost) for p in registry}
    try:
        yield Network(parties)
    finally:
        stop.set()
        worker.join(timeout=10)
        for p in parties.values():
            p.conn.close()


def test_seed000_end_to_end_with_pika_parties(network: Network) -> None:
    g, j = "client-geelhoed", "client-jansen"
    # abonneren: the PGO for everything about its client, the CAK and two providers for new indicaties
    subs = {}
    for party, events, filt in [("pgo-geelhoed", ["NIEUWE_INDICATIE", "NIEUWE_BEMIDDELING",
                                                  "NIEUWE_BEMIDDELINGSPECIFICATIE", "NIEUWE_ZORGLEVERING"],
                                 {"bsn": seed.GEELHOED_BSN}),
                                ("cak", ["NIEUWE_INDICATIE"], {}), ("bos-en-duin", ["NIEUWE_INDICATIE"], {}),
                                ("zonnehof", ["NIEUWE_INDICATIE"], {})]:
        answer, got = network.step(party, "network.abonneren", {"actie": "aanmelden", "eventTypes": events,
                                                                "filter": filt}, "s")
        assert answer["status"] == "ok" and got == {}
        subs[party] = answer["abonnementID"]

    # 1. the PGO records history and preferences: no one else is told
    assert network.melden("pgo-geelhoed", "Clientgegevens", seed.clientgegevens(), g) == {}
    # 2-3. CIZ records the indicatiebesluit: the region's zorgkantoor, the PGO, the preferred provider, the CAK
    assert network.melden("ciz", "WlzIndicatie", seed.indicatie(), g) == {
        "zk-utrecht": ["NIEUWE_INDICATIE_ZORGKANTOOR"], "pgo-geelhoed": ["NIEUWE_INDICATIE"],
        "bos-en-duin": ["NIEUWE_INDICATIE"], "cak": ["NIEUWE_INDICATIE"]}
    assert network.melden("ciz", "WlzIndicatie", seed.indicatie_jansen(), j) == {
        "zk-amsterdam": ["NIEUWE_INDICATIE_ZORGKANTOOR"], "cak": ["NIEUWE_INDICATIE"]}
    # 4. the zorgkantoor queries and starts bemiddeling; the CAK queries for the eigen bijdrage
    a = network.query("zk-utrecht", "wlzIndicatiesZorgkantoor")
    assert [(r["recordID"], r["data"]["initieelVerantwoordelijkZorgkantoor"]) for r in a["results"]] == [
        (IDS["indicatie"], "5509")]
    assert network.melden("zk-utrecht", "Bemiddeling", seed.bemiddeling(), g) == {
        "pgo-geelhoed": ["NIEUWE_BEMIDDELING"]}
    assert network.melden("zk-utrecht", "Bemiddelingspecificatie", seed.specificatie(), g) == {
        "bos-en-duin": ["NIEUWE_BEMIDDELINGSPECIFICATIE_ZORGAANBIEDER"],
        "pgo-geelhoed": ["NIEUWE_BEMIDDELINGSPECIFICATIE"]}
    a = network.query("cak", "eigenBijdrage", bsn=seed.GEELHOED_BSN)
    assert [r["subject"] for r in a["results"]] == ["WlzIndicatie", "Bemiddelingspecificatie"]
    assert "stoornis" not in a["results"][0]["data"] and a["results"][1]["data"]["zzpCode"] == "5VV"
    # 5. the provider queries the toewijzing (by id and its own AGB) and the indicatie
    a = network.query("bos-en-duin", "bemiddelingspecificatie", bemiddelingspecificatieID=IDS["specificatie"])
    assert [r["data"]["instelling"] for r in a["results"]] == [seed.BOS_EN_DUIN_AGB]
    a = network.query("bos-en-duin", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    assert a["status"] == "ok" and a["results"][0]["data"]["geindiceerdZorgzwaartepakket"][0]["zzpCode"] == "5VV"
    assert network.query("zonnehof", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])["status"] == "denied"
    # 6. delivered care: the zorgkantoor and the CAK (and the subscribed PGO)
    assert network.melden("bos-en-duin", "Zorglevering", seed.zorglevering(), g) == {
        "zk-utrecht": ["NIEUWE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["NIEUWE_ZORGLEVERING_CAK"],
        "pgo-geelhoed": ["NIEUWE_ZORGLEVERING"]}
    # 7. Inge sees all her father's records, and nothing of anyone else
    a = network.query("pgo-geelhoed", "clientOverzicht")
    assert sorted((r["register"], r["subject"]) for r in a["results"]) == [
        ("bemiddelingsregister", "Bemiddeling"), ("bemiddelingsregister", "Bemiddelingspecificatie"),
        ("clientregister", "Clientgegevens"), ("indicatieregister", "WlzIndicatie"),
        ("zorgleveringsregister", "Zorglevering")]
    a = network.query("pgo-geelhoed", "clientOverzicht", bsn=seed.JANSEN_BSN)
    assert a["status"] == "denied" and a["results"] == []
    a = network.query("pgo-jansen", "wlzIndicatie", wlzindicatieID=IDS["indicatie"])
    assert a["status"] == "denied" and a["rule"] == "DEFAULT-DENY"


def test_a_bemiddeling_before_its_indicatie_is_held_not_lost(network: Network) -> None:
    zk, ciz = network.parties["zk-utrecht"], network.parties["ciz"]
    early = zk.send("network.melden", seed.melding("Bemiddeling", seed.bemiddeling()), "client-geelhoed")
    time.sleep(0.1)  # the hub tries it, finds no indicatie, and defers it to the retry path
    assert zk.drain() == []
    ciz_id = ciz.send("network.melden", seed.melding("WlzIndicatie", seed.indicatie()), "client-geelhoed")
    assert ciz.wait(lambda p, b: b.get("messageId") == ciz_id)["status"] == "accepted"
    receipt = zk.wait(lambda p, b: b.get("messageId") == early)
    assert receipt["status"] == "accepted" and receipt["version"] == 1
