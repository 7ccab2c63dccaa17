"""Whole messages: the maximal instance of each message, generated from its XSD, goes XML -> FHIR -> XML intact.

Every optional element present, every repeated element twice (``mappings.toolkit.xsd``); the
mapping versions 1.1 (IO31, AW35, AW39) and 2.1 (AW33) carry what their released base versions
do not in the documented extension (``mappings.toolkit.carry``). Their Bundles are valid FHIR
R4B, and for every message the base version maps they give the base version's bytes.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from lxml import etree

from hub.catalogue.mappings import MappingRegistry
from hub.errors import Unmapped
from mappings.toolkit.carry import CARRIED
from mappings.toolkit.xsd import maximal

REPO = Path(__file__).resolve().parent.parent
REG = MappingRegistry.from_entry_points()
#: message -> (the whole-message version, the released version it builds on)
WHOLE = {"IO31": ("1.1", "1"), "AW33": ("2.1", "2"), "AW35": ("1.1", "1"), "AW39": ("1.1", "1")}


def canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml, etree.XMLParser(remove_blank_text=True)), method="c14n")


def xsd_valid(schema_dir: Path, msg: str, xml: bytes) -> list[str]:
    schema = etree.XMLSchema(etree.parse(str(schema_dir / "iwlz-2.2" / "xsd" / f"{msg}.xsd")))
    schema.validate(etree.fromstring(xml))
    return [e.message for e in schema.error_log]  # type: ignore[union-attr]


@pytest.mark.parametrize("msg", sorted(WHOLE))
def test_the_maximal_instance_goes_xml_fhir_xml_intact_and_its_fhir_is_r4b(schema_dir: Path, msg: str) -> None:
    version, base = WHOLE[msg]
    xml = maximal(schema_dir, msg)
    assert xsd_valid(schema_dir, msg, xml) == []
    root = etree.fromstring(xml)
    assert len(root.findall(".//{*}Client")) == 2  # every repeat twice
    to_fhir = REG.get(f"iwlz-{msg.lower()}-to-fhir", version)
    as_fhir = to_fhir.translate(xml)
    assert to_fhir.translate(xml) == as_fhir  # pure: the same bytes again
    bundle = orjson.loads(as_fhir)
    Bundle.model_validate(bundle)
    header = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MessageHeader")
    carried = [x for x in header.get("extension", []) if x["url"] == CARRIED]
    try:
        released = REG.get(f"iwlz-{msg.lower()}-to-fhir", base).translate(xml)
    except Unmapped:  # the released version refuses it: the whole version carries the rest
        assert carried and msg in ("IO31", "AW33", "AW39")
    else:  # the released version carries all of it already (the AW35): the same Bundle
        assert released == as_fhir and not carried and msg == "AW35"
    patients = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 2 and all(p["identifier"][0]["value"] == "999990019" for p in patients)
    back = REG.get(f"fhir-to-iwlz-{msg.lower()}", version).translate(as_fhir)
    assert canonical(back) == canonical(xml)


@pytest.mark.parametrize("msg", sorted(WHOLE))
def test_the_golden_maximal_instance_is_the_generated_one(schema_dir: Path, msg: str) -> None:
    version, _ = WHOLE[msg]
    golden = REPO / f"mappings/iwlz_{msg.lower()}/golden/v{version}/maximal.in.xml"
    assert golden.read_bytes() == maximal(schema_dir, msg)


@pytest.mark.parametrize("msg", sorted(WHOLE))
def test_what_the_released_version_maps_the_whole_version_maps_to_the_same_bytes(msg: str) -> None:
    version, base = WHOLE[msg]
    for case in ("case1", "case2"):
        xml = (REPO / f"mappings/iwlz_{msg.lower()}/golden/v1/{case}.in.xml").read_bytes()
        released = REG.get(f"iwlz-{msg.lower()}-to-fhir", base).translate(xml)
        assert REG.get(f"iwlz-{msg.lower()}-to-fhir", version).translate(xml) == released
