"""FHIR R4 JSON <-> FHIR R4 XML: the same resource in the other syntax, nothing else.

Some parties take FHIR only as XML (``accepts = ["fhir-r4-xml"]``). Format negotiation
(``hub/translator.py``) reaches them through the mappings ``fhir-json-to-xml`` and
``fhir-xml-to-json``: any FHIR R4 resource, Bundles included, converted element for
element by ``hub.formats.fhirxml`` (lxml and the fhir.resources R4B element facts). No content
is added, dropped or renamed, so JSON -> XML -> JSON gives the same JSON, decimals as
written (``72.50`` stays ``72.50``). Unknown elements are refused, not dropped.

The message kind is left as it is: only the content type changes
(``application/fhir+json`` <-> ``application/fhir+xml``).

Golden cases (``golden/v1``) are the project's own FHIR: the Bundles the released IO31 and
AW35 -> FHIR mappings produce from their golden messages (extensions, nested resources) and an
Observation with decimals. ``<case>-json.in.json`` -> ``<case>-json.out.xml`` is the JSON -> XML
direction; ``<case>.in.xml`` (that same XML) -> ``<case>.out.json`` the XML -> JSON one.
``tests/test_mappings_fhir_xml.py`` holds them to fhir.resources and round-trips every Nictiz
example from the shared standards folder.
"""
