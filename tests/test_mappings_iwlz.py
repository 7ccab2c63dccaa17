"""iWlz <-> FHIR mappings held against the official XSDs and business-rule XSLTs."""

from __future__ import annotations

import importlib

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from lxml import etree

from hub.errors import RuleViolation, SchemaViolation, Unmapped, Unparseable
from hub.formats.iwlz import Validator, safe_parse
from mappings.retour import RETOUR, make_retour
from tests.mapping_helpers import MESSAGES, REPO, need_standards

GOLDEN = REPO / "mappings"


def golden(msg: str, case: str = "case1") -> bytes:
    """A fixed, valid message (the golden input of v1): deterministic tests need no .example()."""
    return (GOLDEN / f"iwlz_{msg.lower()}" / "golden" / "v1" / f"{case}.in.xml").read_bytes()


EXAMPLES = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def validator() -> Validator:
    v = Validator(need_standards())
    for msg in [*MESSAGES, *(r for r, _ in RETOUR.values())]:
        v.compiled(msg)  # compile once, outside the timed examples
    return v


def canon(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


def version(msg: str, v: str = "1"):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"mappings.iwlz_{msg.lower()}.v{v}")


def _round_trip(validator: Validator, msg: str, xml: bytes) -> None:
    mod = version(msg)
    assert validator.validate(msg, xml) == []  # the generator makes valid messages
    fhir = mod.TO_FHIR.translate(xml)
    Bundle.model_validate_json(fhir)  # well-formed FHIR R4
    back = mod.FROM_FHIR.translate(fhir)
    assert validator.validate(msg, back) == [], "the hub's XML must pass the official XSD and XSLT"
    assert canon(back) == canon(xml), "XML -> FHIR -> XML lost or changed data"
    assert mod.TO_FHIR.translate(back) == fhir, "FHIR -> XML -> FHIR lost or changed data"
    assert mod.TO_FHIR.translate(xml) == fhir, "a mapping must be deterministic"


@EXAMPLES
@given(MESSAGES["IO31"]())
def test_io31_round_trip_and_official_rules(validator: Validator, xml: bytes) -> None:
    _round_trip(validator, "IO31", xml)


@EXAMPLES
@given(MESSAGES["AW33"]())
def test_aw33_round_trip_and_official_rules(validator: Validator, xml: bytes) -> None:
    _round_trip(validator, "AW33", xml)


@EXAMPLES
@given(MESSAGES["AW35"]())
def test_aw35_round_trip_and_official_rules(validator: Validator, xml: bytes) -> None:
    _round_trip(validator, "AW35", xml)


@EXAMPLES
@given(MESSAGES["AW39"]())
def test_aw39_round_trip_and_official_rules(validator: Validator, xml: bytes) -> None:
    _round_trip(validator, "AW39", xml)


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(MESSAGES["IO31"](), MESSAGES["AW33"](), MESSAGES["AW35"](), MESSAGES["AW39"]())
def test_retourberichten_are_valid(validator: Validator, io31: bytes, aw33: bytes, aw35: bytes, aw39: bytes) -> None:
    for msg, heen in (("IO31", io31), ("AW33", aw33), ("AW35", aw35), ("AW39", aw39)):
        retour = RETOUR[msg][0]
        for errors in ([], ["9004"], ["9002@/Bericht/Clienten/Client[1]/Geboortedatum/Datum"], ["0001"]):
            out = make_retour(heen, errors)
            assert validator.validate(retour, out) == [], (retour, errors)


def test_retour_places_codes(validator: Validator) -> None:
    heen = golden("AW35")
    out = etree.fromstring(make_retour(heen, ["9002@/Bericht/Clienten/Client[1]/Geboortedatum/Datum", "9004"]))
    ns = {"r": "http://www.istandaarden.nl/iwlz/2_2/aw36/schema"}
    assert out.xpath("r:Header/r:RetourCodes/r:RetourCode/text()", namespaces=ns) == ["9004"]
    assert out.xpath("r:Clienten/r:Client[1]/r:RetourCodes/r:RetourCode/text()", namespaces=ns) == ["9002"]
    rejected = etree.fromstring(make_retour(heen, ["0001"]))
    assert rejected.find("r:Clienten", ns) is None  # a rejected message returns its header only
    assert make_retour(heen, []) == make_retour(heen, [])  # pure


def test_aw33_v2_differs_from_v1_only_in_status() -> None:
    xml = golden("AW33")
    assert b"RedenIntrekking" in xml
    one = orjson.loads(version("AW33").TO_FHIR.translate(xml))
    two = orjson.loads(version("AW33", "2").TO_FHIR.translate(xml))
    statuses = [e["resource"].get("status") for e in two["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare"]
    assert "cancelled" in statuses
    for e in two["entry"]:
        if e["resource"]["resourceType"] == "EpisodeOfCare":
            e["resource"]["status"] = "planned"
    assert one == two
    assert canon(version("AW33").FROM_FHIR.translate(version("AW33", "2").TO_FHIR.translate(xml))) == canon(xml)


# --- broken input ---------------------------------------------------------------------


def test_aw35_with_wrong_berichtcode(validator: Validator) -> None:
    xml = golden("AW35").replace(b"<BerichtCode>354<", b"<BerichtCode>355<")
    issues = validator.validate("AW35", xml)
    assert issues and issues[0][0] == "XSD" and "BerichtCode" in issues[0][1]
    with pytest.raises(SchemaViolation) as exc:
        version("AW35").TO_FHIR.translate(xml)
    assert exc.value.rule == "XSD:BerichtCode" and "354" in exc.value.reason
    with pytest.raises(SchemaViolation):
        validator.check("AW35", xml)


def test_aw33_missing_mandatory_element(validator: Validator) -> None:
    xml = golden("AW33")
    doc = etree.fromstring(xml)
    for el in doc.iter("{*}Besluitnummer"):
        el.getparent().remove(el)  # type: ignore[union-attr]
    broken = etree.tostring(doc)
    issues = validator.validate("AW33", broken)
    assert any(code == "XSD" and "Besluitnummer" in text for code, text in issues)
    with pytest.raises(SchemaViolation) as exc:
        version("AW33").TO_FHIR.translate(broken)
    assert exc.value.rule == "XSD:Besluitnummer"
    assert "Client[1]/Indicatie/Besluitnummer" in exc.value.reason


def test_business_rule_violation_names_the_rule(validator: Validator) -> None:
    xml = golden("AW39")
    doc = etree.fromstring(xml)
    for el in doc.iter("{*}Leveringsstatus"):
        el.text = "4"  # TR046: status 4 (in zorg) never fits an ending mutatie
    assert any(True for _ in doc.iter("{*}MutatieZorgzwaartepakket"))
    issues = validator.validate("AW39", etree.tostring(doc))
    assert any(code == "TR046" for code, _ in issues)
    with pytest.raises(RuleViolation) as exc:
        validator.check("AW39", etree.tostring(doc))
    assert "TR046" in exc.value.codes
    assert not any(b.isdigit() and len(b) == 9 for b in exc.value.reason.split())  # no BSN in the reason


def test_unmapped_elements_are_refused_not_dropped() -> None:
    xml = golden("AW35").replace(b"</Naam>", b"</Naam><Onbekend>1</Onbekend>", 1)
    with pytest.raises(Unmapped) as exc:
        version("AW35").TO_FHIR.translate(xml)
    assert "Onbekend" in exc.value.reason


def test_safe_parser_refuses_doctype_and_entities() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(Unparseable):
        safe_parse(evil)
    with pytest.raises(Unparseable):
        version("AW35").TO_FHIR.translate(evil)
    with pytest.raises(Unparseable):
        safe_parse(b"<not-closed>")
