"""iWlz XML senders: the official XSD and rules at the door, and the retourbericht back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from lxml import etree

from hub.formats.iwlz import Validator
from hub.settings import Settings
from hub.testing import TestHub
from tests.party_helpers import AANBIEDER, with_registry, zorgkantoor

REPO = Path(__file__).resolve().parent.parent

PARTIES = [
    AANBIEDER,
    zorgkantoor("zk-groningen", "5501", "iwlz-2.2-xml:AW35", "iwlz-2.2-xml:AW39"),
    zorgkantoor("zk-zeeland", "5525"),
]


def golden(msg: str) -> bytes:
    return (REPO / f"mappings/iwlz_{msg.lower()}/golden/v1/case1.in.xml").read_bytes()


@pytest.fixture
def hub(settings: Settings, schema_dir: Path, tmp_path: Path) -> Iterator[TestHub]:
    ctx = TestHub(with_registry(settings, tmp_path, PARTIES), out=lambda _: None)
    try:
        yield ctx
    finally:
        ctx.close()


def retour_codes(xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    return [el.text or "" for el in root.iter("{*}RetourCode")]


def test_a_valid_aw35_is_routed_and_answered_with_an_aw36(hub: TestHub, schema_dir: Path) -> None:
    aw35 = golden("AW35")
    message_id = hub.send("aanbieder", "iwlz.AW35", aw35, content_type="application/xml", client_key="c1")
    (delivered,) = hub.inbox("zk-groningen")
    assert delivered.body == aw35 and delivered.headers["x-origin-message-id"] == message_id
    assert hub.inbox("zk-zeeland") == []
    (retour,) = hub.inbox("aanbieder")
    assert retour.properties["type"] == "iwlz.AW36" and retour.properties["correlation_id"] == message_id
    assert retour.properties["message_id"] == f"{message_id}:answer"
    assert Validator(schema_dir).validate("AW36", retour.body) == []
    assert set(retour_codes(retour.body)) == {"0200"}  # no remarks
    actions = [r.action for r in hub.app.audit.for_message(message_id)]
    assert actions == ["received", "delivered", "answered"]


def test_an_aw35_with_a_wrong_berichtcode_gets_an_aw36_rejection_and_is_not_routed(
    hub: TestHub, schema_dir: Path
) -> None:
    aw35 = golden("AW35").replace(b"<BerichtCode>354</BerichtCode>", b"<BerichtCode>355</BerichtCode>")
    message_id = hub.send("aanbieder", "iwlz.AW35", aw35, content_type="application/xml", client_key="c1")
    assert hub.inbox("zk-groningen") == []
    (retour,) = hub.inbox("aanbieder")
    assert retour.properties["type"] == "iwlz.AW36"
    assert retour.properties["message_id"] == f"{message_id}:answer"
    assert Validator(schema_dir).validate("AW36", retour.body) == []
    assert "0001" in retour_codes(retour.body)
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule == "XSD" and "BerichtCode" in entry.reason


def test_an_aw39_breaking_a_business_rule_gets_an_aw310_naming_it(hub: TestHub, schema_dir: Path) -> None:
    doc = etree.fromstring(golden("AW39"))
    for el in doc.iter("{*}Leveringsstatus"):
        el.text = "4"  # TR046: status 4 (in care) never fits an ending mutatie
    aw39 = etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
    issues = Validator(schema_dir).validate("AW39", aw39)
    expected = {code for code, _ in issues}
    assert "TR046" in expected
    message_id = hub.send("aanbieder", "iwlz.AW39", aw39, content_type="application/xml", client_key="c1")
    assert hub.inbox("zk-groningen") == []
    (retour,) = hub.inbox("aanbieder")
    assert retour.properties["type"] == "iwlz.AW310"
    assert Validator(schema_dir).validate("AW310", retour.body) == []
    codes = set(retour_codes(retour.body)) - {"0200"}
    assert codes, "the retour carries the rule's retourcode"
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule in expected and "TR046" in entry.reason


def test_other_refusals_of_an_iwlz_kind_get_the_json_receipt(hub: TestHub) -> None:
    """The retour names validation findings; a refusal before validation (content type) gets the hub's receipt."""
    message_id = hub.send("aanbieder", "iwlz.AW35", golden("AW35"), content_type="application/json", client_key="c1")
    (receipt,) = hub.inbox("aanbieder")
    assert receipt.properties["type"] == "zorghub.receipt"
    assert receipt.properties["message_id"] == f"{message_id}:receipt"
    assert orjson.loads(receipt.body)["rule"] == "BAD_CONTENT_TYPE"


def test_the_iwlz_flow_registers_a_validator_and_an_answer_hook_per_iwlz_kind(hub: TestHub) -> None:
    from importlib.metadata import entry_points

    from hub.flows.iwlz import FLOW

    iwlz_kinds = {k.name for k in hub.app.kinds if k.iwlz}
    assert iwlz_kinds >= {"iwlz.IO31", "iwlz.AW33", "iwlz.AW35", "iwlz.AW39"}
    assert set(hub.app.answers) == iwlz_kinds and set(hub.app.validators) == iwlz_kinds
    (ep,) = [e for e in entry_points(group="zorghub.flows") if e.name == "iwlz"]
    assert ep.load() is FLOW and FLOW.install is not None
