"""FHIR R4 JSON <-> XML as versioned mappings: registered, golden, lossless, and used by the hub.

The golden inputs are the project's own FHIR: the Bundles that the released IO31 and AW35 -> FHIR
mappings produce from their own golden messages, and one Observation written here for decimals.
The expected outputs were written by the mapping; the tests here are what make them more than
"what the code printed": fhir.resources (an independent reader) must read the same resource from
the JSON as from the XML, and JSON -> XML -> JSON must give the same JSON, decimals digit for
digit. The Nictiz examples are read from the shared standards folder, never copied in.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from hub.catalogue.mappings import MappingRegistry
from hub.cli.golden import LOCK, golden_cases, lock_digest, run_case
from hub.formats import fhirxml
from hub.settings import Settings
from hub.testing import TestHub
from tests.mapping_helpers import REPO, SCHEMA_DIR, need_standards
from tests.party_helpers import AANBIEDER, with_registry, zorgkantoor
from tests.test_mappings_fhirxml import _normal

REG = MappingRegistry.from_entry_points()
EXAMPLES_DIR = SCHEMA_DIR / "fhir-nl-r4-examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.xml"))
GOLDEN = REPO / "mappings" / "fhir_xml" / "golden" / "v1"
TO_XML, TO_JSON = "fhir-json-to-xml", "fhir-xml-to-json"

# golden case -> its JSON input: the project's own FHIR
OBSERVATION = (b'{"resourceType":"Observation","id":"gewicht-1","status":"final","code":{"text":"lichaamsgewicht"},'
               b'"subject":{"identifier":{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"999990019"}},'
               b'"effectiveDateTime":"2026-11-01T09:30:00+01:00",'
               b'"valueQuantity":{"value":72.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"},'
               b'"component":[{"code":{"text":"lengte"},"valueQuantity":{"value":1.750E+2,"unit":"cm"}}]}\n')
SOURCES = {
    "io31-bundle": REPO / "mappings" / "iwlz_io31" / "golden" / "v1" / "case1.out.json",  # extensions
    "aw35-bundle": REPO / "mappings" / "iwlz_aw35" / "golden" / "v1" / "case1.out.json",
    "observation": OBSERVATION,  # decimals: 72.50 keeps its trailing zero
}


def source_json(case: str) -> bytes:
    src = SOURCES[case]
    return src if isinstance(src, bytes) else src.read_bytes()


def exact(obj: Any) -> Any:
    """Parsed JSON with each decimal as (sign, digits, exponent): ``72.50`` differs from ``72.5`` here."""
    if isinstance(obj, dict):
        return {k: exact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [exact(v) for v in obj]
    if isinstance(obj, Decimal):
        return ("decimal", obj.as_tuple())
    return obj


def round_trip(json_payload: bytes) -> bytes:
    """JSON -> XML -> JSON through the registered mappings."""
    return REG.get(TO_JSON).translate(REG.get(TO_XML).translate(json_payload))


# --- 1. the registry -------------------------------------------------------------------


def test_registry_lists_both_directions_version_1() -> None:
    assert REG.versions(TO_XML) == ["1"] and REG.versions(TO_JSON) == ["1"]
    assert REG.find("fhir-r4-json", "fhir-r4-xml").spec.name == TO_XML
    assert REG.find("fhir-r4-xml", "fhir-r4-json").spec.name == TO_JSON


# --- 2. golden files and the lock --------------------------------------------------------


def test_golden_cases_are_locked_and_reproduced() -> None:
    """The parametrised golden test (tests/test_mappings_cli.py) sees these cases, and the lock pins them."""
    cases = [c for c in golden_cases(REG) if c.mapping.spec.name in (TO_XML, TO_JSON)]
    assert sorted((c.mapping.spec.name, c.name) for c in cases) == sorted(
        [(TO_JSON, case) for case in SOURCES] + [(TO_XML, f"{case}-json") for case in SOURCES]
    )
    for c in cases:
        assert c.mapping.spec.version == "1"
        assert run_case(c) == (True, "ok"), c.name
    locked = json.loads((REPO / "mappings" / LOCK).read_text(encoding="utf-8"))["fhir_xml/v1"]
    assert locked == lock_digest()["fhir_xml/v1"]
    assert len(locked) == 4 * len(SOURCES)


def test_golden_inputs_are_the_projects_own_fhir() -> None:
    for case in SOURCES:
        assert (GOLDEN / f"{case}-json.in.json").read_bytes() == source_json(case), case
        # the XML -> JSON input is the JSON -> XML output: one chain, JSON -> XML -> JSON
        assert (GOLDEN / f"{case}.in.xml").read_bytes() == (GOLDEN / f"{case}-json.out.xml").read_bytes()


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_golden_json_is_the_resource_fhir_resources_reads(case: str) -> None:
    """R4B models accept the JSON and read from it what they read from the XML; XML -> JSON is lossless."""
    xml = (GOLDEN / f"{case}.in.xml").read_bytes()
    as_json = (GOLDEN / f"{case}.out.json").read_bytes()
    data = fhirxml.loads(as_json)
    model = get_fhir_model_class(data["resourceType"])
    ours = model.model_validate(data).model_dump()
    assert _normal(ours) == _normal(model.model_validate_xml(xml).model_dump())
    assert _normal(ours) == _normal(model.model_validate_xml((GOLDEN / f"{case}-json.out.xml").read_bytes())
                                    .model_dump())  # fmt: skip
    assert exact(fhirxml.loads(round_trip(as_json))) == exact(data)


# --- 3. round trip on every Nictiz example -----------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_json_xml_json_keeps_every_nictiz_example(path: Path) -> None:
    need_standards()
    as_json = REG.get(TO_JSON).translate(path.read_bytes())
    get_fhir_model_class(orjson.loads(as_json)["resourceType"]).model_validate_json(as_json)
    assert exact(fhirxml.loads(round_trip(as_json))) == exact(fhirxml.loads(as_json))


def test_decimals_keep_their_digits() -> None:
    """The Nictiz examples carry no decimals, so the Observation does: 72.50 must not come back as 72.5."""
    obs = OBSERVATION
    xml = REG.get(TO_XML).translate(obs)
    assert b'<value value="72.50"/>' in xml
    back = fhirxml.loads(round_trip(obs))
    assert exact(back) == exact(fhirxml.loads(obs))
    assert exact(back) != exact(fhirxml.loads(obs.replace(b"72.50", b"72.5")))


# --- 4. through the hub ------------------------------------------------------------------

PARTIES = [AANBIEDER, zorgkantoor("zk-xml", "5501", "fhir-r4-xml"), zorgkantoor("zk-json", "5502", "fhir-r4-json")]

KINDS = """
[kind."fhir.resource"]
description = "any FHIR R4 resource, JSON or XML, to every zorgkantoor (test routing)"
content_types = ["application/fhir+json", "application/fhir+xml"]
senders = ["zorgaanbieder"]
route = [{by = "role", role = "zorgkantoor"}]
"""


def test_each_recipient_gets_fhir_in_the_syntax_it_accepts(settings: Settings, tmp_path: Path) -> None:
    settings = with_registry(settings, tmp_path, PARTIES, KINDS)
    as_json = (GOLDEN / "io31-bundle-json.in.json").read_bytes()
    as_xml = (GOLDEN / "io31-bundle.in.xml").read_bytes()
    ctx = TestHub(settings, out=lambda _: None)
    try:
        ctx.send("aanbieder", "fhir.resource", as_json, content_type="application/fhir+json", client_key="c1")
        (xml_msg,) = ctx.inbox("zk-xml")
        (json_msg,) = ctx.inbox("zk-json")
        ctx.send("aanbieder", "fhir.resource", as_xml, content_type="application/fhir+xml", client_key="c1")
        (back_xml,) = ctx.inbox("zk-xml")
        (back_json,) = ctx.inbox("zk-json")
    finally:
        ctx.close()
    # JSON in: translated for the XML-only party, passed through for the other
    assert xml_msg.body == (GOLDEN / "io31-bundle-json.out.xml").read_bytes()
    assert xml_msg.properties["content_type"] == "application/fhir+xml"
    assert xml_msg.properties["type"] == "fhir.resource"  # the kind does not change with the syntax
    assert xml_msg.headers["x-mapping"] == TO_XML and xml_msg.headers["x-mapping-version"] == "1"
    assert json_msg.body == as_json and "x-mapping" not in json_msg.headers
    # XML in: the reverse
    assert back_json.body == (GOLDEN / "io31-bundle.out.json").read_bytes()
    assert back_json.properties["content_type"] == "application/fhir+json"
    assert back_json.headers["x-mapping"] == TO_JSON and back_json.headers["x-mapping-version"] == "1"
    assert back_xml.body == as_xml and "x-mapping" not in back_xml.headers
