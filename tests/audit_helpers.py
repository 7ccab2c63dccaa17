"""Helpers for the audit tests: a hub with test parties and pure test mappings, fed through the real
Worker over the in-process memory transport."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hub.app import HubApp
from hub.catalogue.mappings import MappingRegistry, MappingSpec
from hub.client import HubClient
from hub.pipeline.worker import Worker
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.base import RawMessage
from tests.party_helpers import party, with_registry, zorgkantoor

PARTIES = [
    party("ciz", "OIN", "00000001003214345000", "indicatieorgaan"),
    zorgkantoor("zk-utrecht", "5509", "xml", mappings={"json-to-xml": "1"}),
    zorgkantoor("zk-amsterdam", "5515", "xml", mappings={"json-to-xml": "1"}),
    party("bos-en-duin", "AGB", "73730800", "zorgaanbieder", accepts=("fhir-r4-json",)),
    party("zonnehof", "AGB", "73731001", "zorgaanbieder"),
    party("cak", "OIN", "00000001822477348000", "cak"),
    party("pgo-geelhoed", "BSN", "999990019", "client"),
    party("auditor", "HUB", "auditor", "auditor"),
    party("ops", "HUB", "ops", "operator"),
]

# valid BSNs (elfproef) for test clients
BSNS = ["999990019", "999991772", "999990032", "999990044", "999990056", "999990068", "999990081", "999990093"]
GEMEENTEN = [("0344", "3511AB"), ("0363", "1012AB")]  # Utrecht -> 5509, Amsterdam -> 5515


def _xml(data: Any, tag: str = "bericht", attrs: str = "") -> str:
    if isinstance(data, dict):
        inner = "".join(_xml(v, k) for k, v in sorted(data.items()))
    elif isinstance(data, list):
        inner = "".join(_xml(v, "item") for v in data)
    else:
        inner = str(data).replace("&", "&amp;").replace("<", "&lt;")
    return f"<{tag}{attrs}>{inner}</{tag}>"


class JsonToXml:
    """Version 1 and a changed version 2: v2 writes the zzp code as an attribute (so only payloads with one change)."""

    def __init__(self, version: str = "1") -> None:
        self.spec = MappingSpec("json-to-xml", version, "json", "xml")

    def translate(self, payload: bytes) -> bytes:
        data = orjson.loads(payload)
        attrs = ""
        if self.spec.version == "2" and "zzp" in data:
            attrs = f' zzp="{data.pop("zzp")}"'
        return ('<?xml version="1.0" encoding="UTF-8"?>' + _xml(data, "bericht", attrs)).encode()


class JsonToFhir:
    def __init__(self, version: str = "1") -> None:
        self.spec = MappingSpec("json-to-fhir", version, "json", "fhir-r4-json")

    def translate(self, payload: bytes) -> bytes:
        data = orjson.loads(payload)
        return orjson.dumps({"resourceType": "Basic", "code": {"text": "zorghub-json"},
                             "extension": [{"url": "urn:zorghub:json", "valueString": orjson.dumps(data).decode()}]})


def registry(*extra: Any) -> MappingRegistry:
    reg = MappingRegistry()
    for m in (JsonToXml("1"), JsonToFhir("1"), *extra):
        reg.register(m)
    return reg


def hub_settings(settings: Settings, tmp_path: Path, store_url: str = "", prefix: str = "") -> Settings:
    prefix = prefix or f"t{random.randrange(16**8):08x}"
    return with_registry(settings, tmp_path, PARTIES).replace(store_url=store_url, prefix=prefix, batch_size=500)


@dataclass
class Hub:
    app: HubApp
    worker: Worker
    transport: Any

    def client(self, party: str) -> HubClient:
        return HubClient(self.transport, self.app.topology, party)

    def drain(self) -> int:
        return int(self.transport.drain([self.app.topology.shard(0)], self.worker.handle_batch,
                                        batch_size=self.app.settings.batch_size))

    def inbox(self, party: str) -> list[RawMessage]:
        return self.transport.get(self.app.topology.inbox(party), 100000)

    def close(self) -> None:
        for p in self.app.parties:
            self.transport.purge(self.app.topology.inbox(p.name))
        self.transport.close()
        self.app.close()


def open_hub(settings: Settings) -> Hub:
    app = HubApp.build(settings, mappings=registry())
    transport = open_transport(settings.broker_url)
    transport.declare(app.topology, app.parties)
    return Hub(app, Worker(app, transport), transport)


def messages(n: int, seed: int = 7) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """(sender, kind, payload, client_key): a deterministic mix of indicatiebesluiten, echoes and bad BSNs."""
    rnd = random.Random(seed)
    recipients = ["zk-utrecht", "zk-amsterdam", "bos-en-duin", "zonnehof", "cak"]
    for i in range(n):
        roll = rnd.random()
        if roll < 0.45:
            k = rnd.randrange(len(BSNS))
            gemeente, postcode = GEMEENTEN[k % 2]
            payload = {"besluitnummer": f"IB-{i:06d}", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01",
                       "zzp": rnd.choice(["4VV", "5VV", "6VV"]), "grondslagen": ["somatisch"],
                       "client": {"bsn": BSNS[k], "gemeentecode": gemeente, "postcode": postcode},
                       "voorkeurZorgaanbieder": rnd.choice(["73730800", "73731001"])}
            yield "ciz", "indicatiebesluit", payload, f"client-{k}"
        elif roll < 0.97:
            sender = rnd.choice(["ciz", "zk-utrecht", "bos-en-duin", "cak"])
            to = rnd.choice([r for r in recipients if r != sender])
            yield sender, "echo", {"to": to, "text": f"ping {i}", "seq": i}, f"echo-{sender}"
        else:  # fails the elfproef: rejected, with a receipt to the sender
            payload = {"besluitnummer": f"IB-{i:06d}", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01",
                       "zzp": "5VV", "grondslagen": ["somatisch"],
                       "client": {"bsn": "123456789", "gemeentecode": "0344", "postcode": "3511AB"}}
            yield "ciz", "indicatiebesluit", payload, "client-bad"


def feed(hub: Hub, n: int, seed: int = 7, chunk: int = 1000) -> None:
    """Send n messages through the real pipeline, draining as we go."""
    sent = 0
    for sender, kind, payload, key in messages(n, seed):
        hub.client(sender).send(kind, payload, client_key=key)
        sent += 1
        if sent % chunk == 0:
            hub.drain()
    hub.drain()
