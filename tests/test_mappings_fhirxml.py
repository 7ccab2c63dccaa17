"""FHIR XML <-> JSON, held against fhir.resources and the Nictiz zib2020 examples."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

from hub.errors import SchemaViolation, Unparseable
from hub.formats import fhirxml
from tests.mapping_helpers import SCHEMA_DIR, need_standards

EXAMPLES = sorted((SCHEMA_DIR / "fhir-nl-r4-examples").glob("*.xml"))


def _normal(d: object) -> object:
    """What fhir.resources adds that FHIR JSON does not have: XML comments (``fhir_comments``),
    the closing div tag's tail whitespace and character references in the div. Drop them."""
    if isinstance(d, dict):
        out = {k: _normal(v) for k, v in d.items() if k != "fhir_comments"}
        if isinstance(out.get("div"), str):
            out["div"] = etree.tostring(etree.fromstring(str(out["div"]).strip()), method="c14n").decode()
        return {k: v for k, v in out.items() if v not in ({}, None)}
    if isinstance(d, list):
        return [_normal(v) for v in d]
    return d


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_nictiz_example_matches_fhir_resources(path: Path) -> None:
    need_standards()
    data = path.read_bytes()
    mine = fhirxml.xml_to_dict(data)
    model = get_fhir_model_class(mine["resourceType"])
    ref = model.model_validate_xml(data).model_dump()
    got = model.model_validate(mine).model_dump()
    assert _normal(got) == _normal(ref)
    # JSON -> XML -> JSON gives the same JSON
    as_json = fhirxml.xml_to_json(data)
    assert fhirxml.xml_to_json(fhirxml.json_to_xml(as_json)) == as_json


def test_examples_are_present() -> None:
    need_standards()
    assert len(EXAMPLES) >= 10


def test_decimals_keep_their_precision() -> None:
    obs = (b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
           b'"valueQuantity":{"value":72.50,"unit":"kg"},"component":[{"code":{"text":"x"},'
           b'"valueQuantity":{"value":1.000E+2}}]}')  # fmt: skip
    xml = fhirxml.json_to_xml(obs)
    assert b'<value value="72.50"/>' in xml
    back = fhirxml.xml_to_json(xml)
    assert b'"value":72.50' in back and b'"value":100.0' in back  # 1.000E+2: four significant digits kept
    assert fhirxml.loads(back)["valueQuantity"]["value"] == Decimal("72.50")


def test_primitive_extensions_ids_and_arrays() -> None:
    pat = (b'{"resourceType":"Patient","id":"p1","active":true,"name":[{"given":["Jan","J."],'
           b'"_given":[null,{"id":"g2","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",'
           b'"valueCode":"IN"}]}]}],"_birthDate":{"extension":[{"url":"urn:x","valueString":"onbekend"}]},'
           b'"contained":[{"resourceType":"Organization","id":"o1","name":"Bos & Duin"}],'
           b'"text":{"status":"generated",'
           b'"div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">Jan</div>"}}')  # fmt: skip
    xml = fhirxml.json_to_xml(pat)
    doc = etree.fromstring(xml)
    ns = {"f": fhirxml.FHIR_NS}
    assert doc.xpath("f:name/f:given[2]/@id", namespaces=ns) == ["g2"]
    assert doc.xpath("f:contained/f:Organization/f:name/@value", namespaces=ns) == ["Bos & Duin"]
    assert doc.xpath("f:birthDate/f:extension/@url", namespaces=ns) == ["urn:x"]
    assert fhirxml.loads(fhirxml.xml_to_json(xml)) == fhirxml.loads(pat)
    ref: Any = get_fhir_model_class("Patient").model_validate_xml(xml)
    assert ref.name[0].given == ["Jan", "J."] and ref.active is True


def test_refuses_bad_input() -> None:
    with pytest.raises(SchemaViolation):
        fhirxml.json_to_xml(b'{"resourceType":"Patient","nonsense":1}')
    with pytest.raises(SchemaViolation):
        fhirxml.xml_to_json(b'<Patient xmlns="http://hl7.org/fhir"><nonsense value="1"/></Patient>')
    with pytest.raises(Unparseable):
        fhirxml.xml_to_json(b'<!DOCTYPE x [<!ENTITY e "e">]><Patient xmlns="http://hl7.org/fhir"/>')


def test_faster_than_fhir_resources_xml(capsys: pytest.CaptureFixture[str]) -> None:
    need_standards()
    data = (SCHEMA_DIR / "fhir-nl-r4-examples" / "nl-core-Patient-01.xml").read_bytes()
    model = get_fhir_model_class("Patient")
    fhirxml.xml_to_json(data)
    n, t = 200, time.perf_counter()
    for _ in range(n):
        fhirxml.xml_to_json(data)
    mine = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(20):
        model.model_validate_xml(data)
    theirs = 20 / (time.perf_counter() - t)
    with capsys.disabled():
        print(f"\nfhirxml Patient XML->JSON: {mine:,.0f}/s; fhir.resources XML parse: {theirs:,.0f}/s")
    assert mine > 3 * theirs
