"""The pipeline's typed seams: validators, guards, answer hooks and observers; the core free of flows and mappings."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from hub.catalogue.kinds import Kind
from hub.envelope import Envelope
from hub.errors import HubError, RuleViolation
from hub.pipeline import outbox
from hub.pipeline.check import Checked
from hub.pipeline.hooks import Answer, Observer
from hub.settings import Settings
from hub.store.audit import AuditRecord
from hub.store.db import Database
from hub.testing import GEELHOED, TestHub

ROOT = Path(__file__).resolve().parent.parent
CORE = ("pipeline", "store", "transports", "catalogue", "formats")
INDICATIE = {
    "besluitnummer": "IB-1", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01", "zzp": "5VV",
    "client": GEELHOED, "voorkeurZorgaanbieder": "73730800",
}


@pytest.fixture(params=["memory", "rabbitmq"])
def hub(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestHub]:
    if request.param == "rabbitmq":
        settings = request.getfixturevalue("amqp_settings")
    ctx = TestHub(settings, out=lambda _: None)
    try:
        yield ctx
    finally:
        ctx.close()


class Ack:
    """An answer hook that answers acceptance in a made-up standard and refusals by rule."""

    def accepted(self, checked: Checked) -> Answer | None:
        return Answer("test.ack", b"<ack>" + checked.envelope.message_id.encode() + b"</ack>")

    def rejected(self, kind: str, payload: bytes, error: HubError) -> Answer | None:
        if error.rule != "ZZP_5VV":
            return None
        return Answer("test.nack", orjson.dumps({"rule": error.rule}), content_type="application/json")


def no_5vv(kind: Kind, payload: bytes) -> None:
    if orjson.loads(payload).get("zzp") == "5VV" and b"IB-refuse" in payload:
        raise RuleViolation("this test refuses zzp 5VV", rule="ZZP_5VV")


def test_an_answer_hook_answers_an_accepted_message(hub: TestHub) -> None:
    hub.app.answers["indicatiebesluit"] = Ack()
    message_id = hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    (ack,) = hub.inbox("ciz")
    assert ack.properties["type"] == "test.ack" and ack.body == f"<ack>{message_id}</ack>".encode()
    assert ack.properties["message_id"] == outbox.message_id(message_id, "answer") == f"{message_id}:answer"
    assert ack.properties["correlation_id"] == message_id
    records = hub.app.audit.for_message(message_id)
    assert [r.action for r in records][-1] == "answered"
    assert {r.source for r in records} == {f"{hub.app.audit.source}/{hub.hub_transport.name}"}


def test_a_validator_refuses_and_the_answer_hook_replaces_the_receipt(hub: TestHub) -> None:
    hub.app.validators.setdefault("indicatiebesluit", []).append(no_5vv)
    hub.app.answers["indicatiebesluit"] = Ack()
    message_id = hub.send("ciz", "indicatiebesluit", dict(INDICATIE, besluitnummer="IB-refuse"), client_key="c1")
    assert hub.inbox("zk-utrecht") == []
    (nack,) = hub.inbox("ciz")
    assert nack.properties["type"] == "test.nack" and orjson.loads(nack.body) == {"rule": "ZZP_5VV"}
    assert nack.properties["message_id"] == f"{message_id}:answer"
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule == "ZZP_5VV" and entry.error_class == "RuleViolation"
    (rejected,) = [r for r in hub.app.audit.for_message(message_id) if r.action == "rejected"]
    assert rejected.recipient == "ciz" and hub.app.audit.payload(rejected.payload_sha256) == nack.body


def test_a_guard_sees_the_checked_message_in_the_batch_transaction_and_refuses_before_routing(hub: TestHub) -> None:
    seen: list[tuple[str, str, bool]] = []

    def once_per_besluit(checked: Checked, db: Database) -> None:
        seen.append((checked.envelope.sender, checked.kind.name, db is hub.app.db and db._depth > 0))
        if checked.document.get("besluitnummer") == "IB-guarded":
            raise RuleViolation("this test's guard refuses IB-guarded", rule="GUARDED")

    hub.app.guards.setdefault("indicatiebesluit", []).append(once_per_besluit)
    hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    assert len(hub.inbox("zk-utrecht")) == 1
    message_id = hub.send("ciz", "indicatiebesluit", dict(INDICATIE, besluitnummer="IB-guarded"), client_key="c1")
    assert hub.inbox("zk-utrecht") == []
    (receipt,) = [m for m in hub.inbox("ciz") if m.properties.get("correlation_id") == message_id]
    assert orjson.loads(receipt.body)["rule"] == "GUARDED"
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule == "GUARDED"
    assert "routed" not in [r.action for r in hub.app.audit.for_message(message_id)]
    assert seen == [("ciz", "indicatiebesluit", True)] * 2


def test_a_refusal_the_hook_declines_gets_the_json_receipt(hub: TestHub) -> None:
    hub.app.answers["indicatiebesluit"] = Ack()
    bad = dict(INDICATIE, client=dict(GEELHOED, bsn="123456789"))
    message_id = hub.send("ciz", "indicatiebesluit", bad, client_key="c1")
    (receipt,) = hub.inbox("ciz")
    assert receipt.properties["type"] == outbox.RECEIPT_KIND
    assert receipt.properties["message_id"] == f"{message_id}:receipt"


class Counting(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.batches: list[int] = []

    def after_process_message(self, event: str, envelope: Envelope, extra: object) -> None:
        self.events.append((event, envelope.message_id))

    def after_batch(self, records: Sequence[AuditRecord]) -> None:
        self.batches.append(len(records))


def test_observers_hear_each_message_and_each_batch(hub: TestHub) -> None:
    seen = Counting()
    hub.worker.observers.append(seen)
    first = hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1", message_id=first)
    assert seen.events == [("delivered", first), ("duplicate", first)]
    records = hub.app.audit.for_message(first)
    assert sum(seen.batches) == len(records) and seen.batches[-1] == 0


def test_app_observers_reach_every_worker(settings: Settings) -> None:
    from hub.app import HubApp
    from hub.pipeline.worker import Worker
    from hub.transports import open_transport

    seen = Counting()
    with HubApp.build(settings) as app:
        app.observers.append(seen)
        transport = open_transport("memory://")
        try:
            assert seen in Worker(app, transport).observers
        finally:
            transport.close()


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_core_imports_no_flow_and_no_mapping() -> None:
    found = []
    for folder in CORE:
        for path in sorted((ROOT / "hub" / folder).rglob("*.py")):
            for name in imports_of(path):
                if any(name == top or name.startswith(top + ".") for top in ("mappings", "hub.flows", "hub.cli",
                                                                             "hub.demo")):
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    assert found == []


def test_hub_error_carries_no_domain_answer() -> None:
    assert not hasattr(HubError("x"), "answer")
