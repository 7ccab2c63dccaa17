"""Acceptance 4 of the iWlz retours, on memory and on RabbitMQ: every failing rule's COD910 code, at its level.

Each rejected sample gets the retour naming the COD910 code of every rule it breaks, on the
berichtklasse the rule is about (header, client, or the record), and the retour passes its own XSD.
The DLQ (``x-rule``, the entry) and the audit carry every rule code; an XSD failure names its element.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from hub.flows.iwlz.cod910 import allowed_codes, rule_table
from hub.formats.iwlz import Validator
from hub.store.deadletters import DeadLetterEntry
from hub.testing import TestHub
from mappings.retour import RECORDS
from mappings.retour import RETOUR as RETOUR_MESSAGES
from tests.iwlz_samples import ADDRESSEE, RETOUR, SENDER, change, golden, placed_codes

GZ = "/Bericht/Clienten/Client/GeleverdeZorgzwaartepakketten/GeleverdZorgzwaartepakket"
MZ = "/Bericht/Clienten/Client/MutatieZorgzwaartepakketten/MutatieZorgzwaartepakket"

#: name: (message, the sample, the codes its retour must carry where, the failing rules in order)
SAMPLES = {
    "AW35 Leveringsvorm PGB with a Klasse": (
        "AW35", lambda: change(golden("AW35"), (r"<Leveringsvorm>4<", "<Leveringsvorm>2<")),
        {("D051", GZ), ("S127", GZ)}, "CD051,CS127"),
    "AW35 Begindatum after the Dagtekening": (
        "AW35", lambda: change(golden("AW35"), (r"<Begindatum>2020-12-23<", "<Begindatum>2029-12-01<")),
        {("S023", GZ)}, "CS023"),
    "AW35 Geboortedatum after the Dagtekening": (
        "AW35", lambda: change(golden("AW35"), (r"<iwlz:Datum>2000-01-01<", "<iwlz:Datum>2030-01-01<")),
        {("S023", "/Bericht/Clienten/Client")}, "CS023"),
    "AW39 Leveringsstatus that the Mutatiecode does not allow": (
        "AW39", lambda: change(golden("AW39"), (r"<Leveringsstatus>5<", "<Leveringsstatus>4<")),
        {("9046", MZ)}, "TR046"),
    "IO31 Afgiftedatum after the Dagtekening": (
        "IO31", lambda: change(golden("IO31"), (r"<Afgiftedatum>2021-01-01<", "<Afgiftedatum>2029-01-01<")),
        {("S023", "/Bericht/Clienten/Client/Indicatie")}, "CS023"),
    "AW33 second client born after the Dagtekening": (
        "AW33", lambda: change(golden("AW33"), (r"<iwlz:Datum>2011-04-24<", "<iwlz:Datum>2030-04-24<")),
        {("S023", "/Bericht/Clienten/Client[2]")}, "CS023"),
}
#: name: (message, the sample, the element the XSD refuses)
XSD_SAMPLES = {
    "AW35 with the BerichtCode of an AW36": (
        "AW35", lambda: change(golden("AW35"), (r"<BerichtCode>354<", "<BerichtCode>355<")),
        "/Bericht/Header/BerichtCode"),
    "IO31 with a Bsn of four digits": (
        "IO31", lambda: change(golden("IO31"), (r"<Bsn>999990007<", "<Bsn>1234<")), "/Bericht/Clienten/Client/Bsn"),
}


def _official_codes(schema_dir: Path) -> dict[str, str]:
    """Rule to retourcode as the official ``check_errors.xsl`` lists it (``$pCode='9046'`` -> ``,TR046,``)."""
    text = (schema_dir / "iwlz-2.2/validatie/wlz/2_2/common/check_errors.xsl").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for code, rules in re.findall(r"\$pCode='(\w{4})'\">,([A-Z0-9,]+),<", text):
        for rule in rules.split(","):
            out.setdefault(rule, code)
    return out


def _rules_of_the_xslt(schema_dir: Path, msg: str) -> list[str]:
    text = (schema_dir / f"iwlz-2.2/validatie/wlz/2_2/{msg}.xsl").read_text(encoding="utf-8")
    return re.findall(r'mode="((?:TR|CS|CD)\d{3})"/>', text)


def test_the_rule_table_is_cod910s_own_and_agrees_with_the_official_validation(schema_dir: Path) -> None:
    table = rule_table(str(schema_dir))
    assert (table["CS002"], table["CD051"], table["TR015"]) == ("S002", "D051", "9015")  # named in COD910
    assert table["TR008"] == "9008" and table["CS135"] == "9008"  # renamed: 9008 now reads "constraint CS135"
    official = _official_codes(schema_dir)
    allowed = allowed_codes(str(schema_dir))
    for msg in ("IO31", "AW33", "AW35", "AW39"):
        rules = _rules_of_the_xslt(schema_dir, msg)
        assert rules, f"no rules found in {msg}.xsl"
        for rule in rules:
            assert table[rule] in allowed, f"{rule}: {table[rule]} is not an LDT_RetourCode"
            if rule in official:
                assert table[rule] == official[rule], rule


def test_the_berichtklassen_carrying_retourcodes_are_those_of_each_retour_xsd(schema_dir: Path) -> None:
    xs = "{http://www.w3.org/2001/XMLSchema}"
    for heen, (retour, _) in RETOUR_MESSAGES.items():
        tree = etree.parse(str(schema_dir / f"iwlz-2.2/xsd/{retour}.xsd"))
        with_codes = {ct.get("name") for ct in tree.iter(f"{xs}complexType")
                      if any(e.get("name") == "RetourCodes" for e in ct.iter(f"{xs}element"))}
        classes = {e.get("name") for e in tree.iter(f"{xs}element")
                   if (e.get("type") or "").split(":")[-1] in with_codes} - {"Header"}
        assert classes == RECORDS[heen], heen


def _dead(hub: TestHub, message_id: str) -> tuple[DeadLetterEntry, dict[str, object]]:
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    (dead,) = [m for m in hub.take(hub.app.topology.dlq, 100) if m.properties["message_id"] == message_id]
    return entry, dict(dead.headers)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_rejected_sample_gets_every_rules_code_at_its_level(hub: TestHub, schema_dir: Path, name: str) -> None:
    msg, sample, expected, rules = SAMPLES[name]
    sender = hub[SENDER[msg]]
    message_id = sender.send(f"iwlz.{msg}", sample(), content_type="application/xml")
    (retour,) = sender.wait(1)
    assert retour.kind == f"iwlz.{RETOUR[msg]}" and retour.properties["correlation_id"] == message_id
    assert Validator(schema_dir).validate(RETOUR[msg], retour.body) == []
    assert placed_codes(retour.body) == expected
    hub.settle()
    assert hub[ADDRESSEE[msg]].empty()  # nothing routed
    entry, headers = _dead(hub, message_id)
    assert entry.rule == rules and headers["x-rule"] == rules
    assert all(entry.has_rule(rule) for rule in rules.split(","))
    assert not entry.has_rule(rules[:4])  # a rule, not a prefix of one
    records = {r.action: r for r in hub.app.audit.for_message(message_id)}
    assert "delivered" not in records and "routed" not in records
    for rule in rules.split(","):
        assert rule in records["dead_lettered"].reason and rule in records["rejected"].reason
    for code, _ in expected:
        assert code in entry.reason


@pytest.mark.parametrize("name", list(XSD_SAMPLES))
def test_an_xsd_failure_rejects_in_the_header_and_names_its_element(hub: TestHub, schema_dir: Path,
                                                                    name: str) -> None:
    msg, sample, element = XSD_SAMPLES[name]
    sender = hub[SENDER[msg]]
    message_id = sender.send(f"iwlz.{msg}", sample(), content_type="application/xml")
    (retour,) = sender.wait(1)
    assert Validator(schema_dir).validate(RETOUR[msg], retour.body) == []
    assert placed_codes(retour.body) == {("0001", "/Bericht/Header")}
    assert b"<Clienten" not in retour.body  # rejected whole: the retour repeats the header only
    hub.settle()
    assert hub[ADDRESSEE[msg]].empty()
    entry, headers = _dead(hub, message_id)
    assert entry.rule == "XSD" and headers["x-rule"] == "XSD"
    assert element in entry.reason
    (dead_record,) = [r for r in hub.app.audit.for_message(message_id) if r.action == "dead_lettered"]
    assert element in dead_record.reason
