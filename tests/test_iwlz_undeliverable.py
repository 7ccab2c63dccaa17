"""Acceptance 5, the iWlz part: an IO31 the hub cannot deliver gets an IO32 retour, on memory and RabbitMQ.

A valid IO31 whose Ontvanger is a zorgkantoor that is not registered (``NO_ROUTE``), or
one whose zorgkantoor accepts no format the IO31 maps to (``NO_MAPPING``), is dead-lettered; the
CIZ gets the IO32 that rejects it whole (retourcode 0001) instead of the JSON receipt, and no one
else receives anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from hub.demo import DemoContext
from hub.errors import DeadLetter, NoRoute, Rejected, Unmapped
from hub.flows.iwlz.answers import UNDELIVERABLE, retour_codes
from hub.formats.iwlz import Validator
from hub.settings import Settings
from tests.party_helpers import AANBIEDER, party, with_registry, zorgkantoor

REPO = Path(__file__).resolve().parent.parent
CIZ = party("ciz", "OIN", "00000001003214345000", "indicatieorgaan")
# the golden IO31 is addressed to region 5501 (Groningen): registered here only as a zorgkantoor that
# takes CSV, for which no mapping of an IO31 exists
PARTIES = [CIZ, AANBIEDER, zorgkantoor("zk-zeeland", "5525")]
PARTIES_NO_FORMAT = [*PARTIES, zorgkantoor("zk-groningen", "5501", "csv")]
OTHERS = ("aanbieder", "zk-zeeland")


def io31() -> bytes:
    return (REPO / "mappings/iwlz_io31/golden/v1/case1.in.xml").read_bytes()


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def base(request: pytest.FixtureRequest, settings: Settings, schema_dir: Path) -> Settings:
    if request.param == "rabbitmq":
        return request.getfixturevalue("amqp_settings")  # type: ignore[no-any-return]
    return settings


def _hub(settings: Settings, tmp_path: Path, parties: list[str]) -> Iterator[DemoContext]:
    ctx = DemoContext(with_registry(settings, tmp_path, parties), out=lambda _: None)
    try:
        yield ctx
    finally:
        ctx.close()


def codes_of(xml: bytes) -> list[str]:
    return [el.text or "" for el in etree.fromstring(xml).iter("{*}RetourCode")]


@pytest.mark.parametrize(("parties", "rule"), [(PARTIES, "NO_ROUTE"), (PARTIES_NO_FORMAT, "NO_MAPPING")])
def test_an_undeliverable_io31_gets_an_io32_retour_and_reaches_no_one(
        base: Settings, tmp_path: Path, schema_dir: Path, parties: list[str], rule: str) -> None:
    heen = io31()
    assert Validator(schema_dir).validate("IO31", heen) == []  # a valid IO31: only its addressee is wrong
    for hub in _hub(base, tmp_path, parties):
        message_id = hub.send("ciz", "iwlz.IO31", heen, content_type="application/xml", client_key="c1")
        (retour,) = hub.inbox("ciz")
        assert retour.properties["type"] == "iwlz.IO32"
        assert retour.properties["message_id"] == f"{message_id}:answer"
        assert retour.properties["correlation_id"] == message_id
        assert Validator(schema_dir).validate("IO32", retour.body) == []
        assert codes_of(retour.body) == [UNDELIVERABLE]  # rejected as a whole, in the header
        assert b"999990007" not in retour.body  # a rejected retour repeats the header only
        for name in (*OTHERS, *(["zk-groningen"] if parties is PARTIES_NO_FORMAT else [])):
            assert hub.inbox(name) == [], f"{name} received the undeliverable IO31"
        (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
        assert (entry.sender, entry.rule) == ("ciz", rule)
        (dead,) = hub.take(hub.app.topology.dlq, 10)
        assert dead.properties["message_id"] == message_id and dead.headers["x-rule"] == rule
        records = hub.app.audit.for_message(message_id)
        assert [r.action for r in records] == ["received", "answered", "dead_lettered"]
        (answered,) = [r for r in records if r.action == "answered"]
        assert answered.recipient == "ciz" and rule in answered.reason
        assert hub.app.audit.verify().ok


def test_which_refusals_the_retour_answers() -> None:
    assert retour_codes(NoRoute("no recipient")) == [UNDELIVERABLE]
    assert retour_codes(DeadLetter("no mapping", rule="NO_MAPPING")) == [UNDELIVERABLE]
    assert retour_codes(Unmapped("cannot carry it")) == [UNDELIVERABLE]
    assert retour_codes(Rejected("wrong content type", rule="BAD_CONTENT_TYPE")) is None  # the JSON receipt
