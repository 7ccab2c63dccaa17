"""FHIR R4 JSON <-> XML, version 1 (released: frozen).

Both directions call ``hub.formats.fhirxml`` unchanged; its output is v1's output, so a change
there that alters bytes shows up in this package's golden files and needs a v2.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.catalogue.mappings import MappingSpec
from hub.formats import fhirxml

JSON, XML = "fhir-r4-json", "fhir-r4-xml"
ANY = "fhir:R4/Resource"  # any resource type, Bundles included


class Syntax:
    """One direction of the syntax conversion: pure, so the same input gives the same bytes."""

    def __init__(self, spec: MappingSpec, convert: Callable[[bytes], bytes]) -> None:
        self.spec, self._convert = spec, convert

    def translate(self, payload: bytes) -> bytes:
        return self._convert(payload)


TO_XML = Syntax(MappingSpec("fhir-json-to-xml", "1", JSON, XML, ANY, ANY), fhirxml.json_to_xml)
TO_JSON = Syntax(MappingSpec("fhir-xml-to-json", "1", XML, JSON, ANY, ANY), fhirxml.xml_to_json)
