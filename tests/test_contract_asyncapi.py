"""The vendor contract as an AsyncAPI 3.0 document: valid, complete, current, and true of the running hub.

The document is generated from the kind catalogue and the flows' ``contract.toml``; these tests check it
against the official AsyncAPI JSON Schema (the ``@asyncapi/specs`` package the Makefile installs), that
every kind is in it, that the committed copy in ``docs/`` is the generated one, and then send every
example in it through the hub (memory and RabbitMQ), each as its sender, expecting the documented reply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from hub.catalogue.asyncapi import EXAMPLE_KEY, example_body
from hub.cli.contract import asyncapi_document
from hub.envelope import Envelope
from hub.settings import Settings
from hub.testing import TestHub
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "asyncapi.json"
SPEC = Path(os.environ.get("ZORGHUB_ASYNCAPI_SPECS", ROOT / ".venv" / "asyncapi" / "node_modules" / "@asyncapi"
                           / "specs" / "schemas")) / "3.0.0-without-$id.json"


@pytest.fixture
def doc(settings: Settings) -> dict[str, Any]:
    return asyncapi_document(settings)


def _examples(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind, example, what the contract says of it) for every example, in the order the flows declare them."""
    found = []
    for name, msg in doc["components"]["messages"].items():
        for ex in msg.get("examples", []):
            found.append((name, ex, msg[EXAMPLE_KEY][ex["name"]]))
    return sorted(found, key=lambda f: int(f[2]["step"]))


def test_document_validates_against_the_asyncapi_schema(doc: dict[str, Any]) -> None:
    need("the AsyncAPI JSON Schema", SPEC.is_file(), f"{SPEC.name} is not installed (make installs @asyncapi/specs)")
    schema = orjson.loads(SPEC.read_bytes())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors] == []
    assert doc["asyncapi"] == "3.0.0"


def test_a_broken_document_is_refused_by_the_same_check(doc: dict[str, Any]) -> None:
    """The validation above can fail: an operation without its channel is not AsyncAPI 3.0."""
    need("the AsyncAPI JSON Schema", SPEC.is_file(), f"{SPEC.name} is not installed (make installs @asyncapi/specs)")
    schema = orjson.loads(SPEC.read_bytes())
    broken = orjson.loads(orjson.dumps(doc))
    del broken["operations"]["send_network_melden"]["channel"]
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_the_committed_document_is_the_generated_one(doc: dict[str, Any]) -> None:
    assert COMMITTED.is_file(), "docs/asyncapi.json is missing: run `zorghub contract asyncapi -o docs/asyncapi.json`"
    assert orjson.loads(COMMITTED.read_bytes()) == doc, \
        "docs/asyncapi.json is stale: run `zorghub contract asyncapi -o docs/asyncapi.json`"


def test_every_kind_in_the_catalogue_is_in_the_document_with_an_example(doc: dict[str, Any], hub_app: Any) -> None:
    kinds = {k.name for k in hub_app.kinds}
    inbound = set(doc["channels"]["inbound"]["messages"])
    assert inbound == kinds
    assert {n for n in kinds if not doc["components"]["messages"][n].get("examples")} == set()
    for name in kinds:
        assert f"send_{name.replace('.', '_')}" in doc["operations"]
    # every documented reply is a message the inbox channel carries
    inbox = set(doc["channels"]["inbox"]["messages"])
    for op in doc["operations"].values():
        for ref in op.get("reply", {}).get("messages", []):
            assert ref["$ref"].rsplit("/", 1)[1] in inbox


def test_every_example_passes_the_hubs_own_check(doc: dict[str, Any], hub_app: Any) -> None:
    examples = _examples(doc)
    assert len(examples) >= len(list(hub_app.kinds))
    for kind, ex, expect in examples:
        env = Envelope(message_id=f"example-{ex['name']}", sender=expect["sender"], kind=kind,
                       content_type=expect["contentType"], payload=example_body(ex, expect),
                       headers=ex.get("headers", {}))
        checked = hub_app.checker.check(env)
        assert checked.kind.name == kind


@pytest.fixture
def hub_app(settings: Settings) -> Any:
    from hub.app import HubApp

    app = HubApp.build(settings)
    yield app
    app.close()


def _flows(doc: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    by_flow: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}
    for kind, ex, expect in _examples(doc):
        by_flow.setdefault(ex["name"].split("/")[0], []).append((kind, ex, expect))
    return by_flow


def _reply_schema(doc: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The schema of a reply the hub makes (a kind a party also sends is checked by the hub on receipt)."""
    if kind in doc["channels"]["inbound"]["messages"]:
        return None
    payload = doc["components"]["messages"][kind]["payload"]
    if "$ref" not in payload:
        return None
    return doc["components"]["schemas"][payload["$ref"].rsplit("/", 1)[1]]["schema"]  # type: ignore[no-any-return]


FLOWS = ["core", "network", "iwlz", "nza", "zorgbeeld", "inkoop", "ketenzorg"]


@pytest.mark.parametrize("flow", FLOWS)
def test_every_example_gets_its_documented_reply(flow: str, hub: TestHub) -> None:
    doc = asyncapi_document(hub.settings)
    steps = _flows(doc).get(flow)
    assert steps, f"flow {flow!r} has no examples in the document"
    for kind, ex, expect in steps:
        sender, ct = expect["sender"], expect["contentType"]
        mid = hub.send(sender, kind, example_body(ex, expect), content_type=ct, client_key=expect.get("clientKey", ""),
                       headers=ex.get("headers", {}))
        got = {p.name: hub.inbox(p.name) for p in hub.app.parties}
        mine = [m for m in got.pop(sender) if (m.properties.get("correlation_id") or "").startswith(mid)]
        what = f"example {ex['name']} ({kind} from {sender})"
        if expect["reply"]:
            kinds = [m.properties.get("type") for m in mine]
            assert expect["reply"] in kinds, f"{what}: expected {expect['reply']}, got {kinds}"
            reply = next(m for m in mine if m.properties.get("type") == expect["reply"])
            schema = _reply_schema(doc, expect["reply"])
            if reply.properties.get("content_type", "").endswith("json"):
                body = orjson.loads(reply.body)
                if "status" in expect:
                    assert body.get("status") == expect["status"], f"{what}: {body}"
                if schema is not None:
                    jsonschema.Draft202012Validator(schema).validate(body)
        else:
            assert mine == [], f"{what}: expected no reply, got {[m.properties.get('type') for m in mine]}"
        receivers = sorted(p for p, msgs in got.items() if msgs)
        assert receivers == sorted(expect.get("deliver", [])), f"{what}: delivered to {receivers}"
        if expect.get("status") not in ("rejected", "dead_lettered"):
            assert hub.take(hub.app.topology.dlq) == [], f"{what}: dead-lettered"
    assert hub.app.audit.verify().ok


def test_every_payload_schema_in_the_document_is_a_valid_json_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert {"zorghub.receipt", "network.antwoord", "network.abonnement", "network.melden"} <= set(schemas)
    for entry in schemas.values():
        assert entry["schemaFormat"] == "application/schema+json;version=2020-12"
        jsonschema.Draft202012Validator.check_schema(entry["schema"])


def test_the_written_contract_names_every_template_event_type_and_reply(doc: dict[str, Any]) -> None:
    """docs/contract.md is prose, but what it lists comes from the code: a new name must be added there."""
    from hub.flows.network.notify import EVENT_TYPES
    from hub.flows.network.query import SPECIAL, TEMPLATES

    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    replies = set(doc["channels"]["inbox"]["messages"]) - set(doc["channels"]["inbound"]["messages"])
    missing = [n for n in [*TEMPLATES, *SPECIAL, *EVENT_TYPES, *sorted(replies)] if f"`{n}`" not in text]
    assert missing == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/contract.md" in readme and "docs/asyncapi.json" in readme
