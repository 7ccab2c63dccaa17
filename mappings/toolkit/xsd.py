"""A maximal instance of an iWlz 2.2 message, generated from its XSD: every optional element present,
every repeated element twice, each value the first the element's type allows.

What proves that a mapping version carries every element the XSD allows: the tests send each
message's maximal instance XML -> FHIR -> XML and expect it back under C14N. Read from the XSDs
in ``schema_dir`` (they are not shipped); used by tests and tools, never by a mapping's
``translate`` (which stays pure). The iWlz 2.2 XSDs use sequences of elements and restrictions
of ``xs:string``, ``xs:integer``, ``xs:date`` and ``xs:time`` only; anything else is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
BASE_NS = "http://www.istandaarden.nl/iwlz/2_2/basisschema/schema"
#: Values that satisfy the types whose facets alone do not say a valid one (an elfproef BSN, a UUID v4).
KNOWN = {"LDT_BurgerServicenummer": "999990019", "LDT_UUID": "6a000000-0000-4000-8000-000000000001"}
CANDIDATES = ("A", "1", "01", "001", "12", "123", "1234", "12345678", "1000AB", "1.0.0", "100", "KE4", "2026-01-01")


@dataclass
class Facets:
    base: str = "string"
    enumeration: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    min_length: int = 0
    max_length: int | None = None
    total_digits: int | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    names: list[str] = field(default_factory=list)


class Schema:
    """One message's XSD and the basisschema it imports, for walking element declarations."""

    def __init__(self, schema_dir: str | Path, msg: str) -> None:
        xsd = Path(schema_dir) / "iwlz-2.2" / "xsd"
        self.msg = msg
        self.ns = f"http://www.istandaarden.nl/iwlz/2_2/{msg.lower()}/schema"
        self.docs = {self.ns: etree.parse(str(xsd / f"{msg}.xsd")).getroot(),
                     BASE_NS: etree.parse(str(xsd / "basisschema.xsd")).getroot()}
        self.types = {(uri, str(t.get("name"))): t for uri, doc in self.docs.items()
                      for t in doc if t.tag in (XS + "complexType", XS + "simpleType")}

    def _qname(self, el: etree._Element, ref: str) -> tuple[str, str]:
        prefix, _, local = ref.rpartition(":")
        uri = el.nsmap.get(prefix or None, "")
        return str(uri), local

    def maximal(self) -> bytes:
        root_decl = next(e for e in self.docs[self.ns] if e.tag == XS + "element")
        root = etree.Element(f"{{{self.ns}}}{root_decl.get('name')}", nsmap={None: self.ns, "iwlz": BASE_NS})  # type: ignore[dict-item]
        self._fill(root, root_decl, self.ns)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def _fill(self, el: etree._Element, decl: etree._Element, uri: str) -> None:
        type_ref = decl.get("type")
        if type_ref:
            turi, tname = self._qname(decl, type_ref)
            if turi == "http://www.w3.org/2001/XMLSchema":
                el.text = self._value(Facets(base=tname), tname)
                return
            tdef = self.types[(turi, tname)]
        else:
            tdef = next(c for c in decl if c.tag in (XS + "complexType", XS + "simpleType"))
            turi = uri
        if tdef.tag == XS + "simpleType":
            facets = self._facets(tdef, turi)
            el.text = self._value(facets, " ".join(facets.names))
            return
        self._children(el, tdef, turi)

    def _children(self, el: etree._Element, ctype: etree._Element, uri: str) -> None:
        for part in ctype:
            if part.tag in (XS + "annotation",):
                continue
            if part.tag != XS + "sequence":
                raise ValueError(f"{self.msg}: unsupported XSD construct {etree.QName(part).localname}")
            for decl in part:
                if decl.tag == XS + "annotation":
                    continue
                if decl.tag != XS + "element":
                    raise ValueError(f"{self.msg}: unsupported XSD construct {etree.QName(decl).localname}")
                repeat = 1 if decl.get("maxOccurs", "1") == "1" else 2
                for _ in range(repeat):
                    child = etree.SubElement(el, f"{{{uri}}}{decl.get('name')}")
                    self._fill(child, decl, uri)

    def _facets(self, simple: etree._Element, uri: str, into: Facets | None = None) -> Facets:
        f = into or Facets()
        f.names.append(str(simple.get("name", "")))
        restriction = next(c for c in simple if c.tag == XS + "restriction")
        base_uri, base = self._qname(restriction, str(restriction.get("base")))
        for facet in restriction:
            name, value = etree.QName(facet).localname, str(facet.get("value"))
            if name == "enumeration":
                f.enumeration.append(value)
            elif name == "pattern":
                f.patterns.append(value)
            elif name in ("minLength", "length"):
                f.min_length = max(f.min_length, int(value))
                if name == "length":
                    f.max_length = int(value)
            elif name == "maxLength":
                f.max_length = int(value) if f.max_length is None else min(f.max_length, int(value))
            elif name == "totalDigits":
                f.total_digits = int(value)
            elif name == "minInclusive":
                f.min_inclusive = int(value)
            elif name == "maxInclusive":
                f.max_inclusive = int(value)
        if base_uri == "http://www.w3.org/2001/XMLSchema":
            f.base = base
            return f
        return self._facets(self.types[(base_uri, base)], base_uri, f)

    def _value(self, f: Facets, names: str) -> str:
        for name, value in KNOWN.items():
            if name in names:
                return value
        if f.enumeration:
            return f.enumeration[0]
        if f.base == "date":
            candidates: tuple[str, ...] = ("2026-01-01",)
        elif f.base == "time":
            candidates = ("10:00:00",)
        elif f.base == "integer":
            low = f.min_inclusive if f.min_inclusive is not None else 1
            candidates = tuple(str(n) for n in (low, 1, 100, 1000))
        else:
            candidates = CANDIDATES
        literal = tuple(p for p in f.patterns if re.escape(p) == p)  # a pattern that is one fixed value
        for value in literal + candidates:
            if self._fits(value, f):
                return value
        raise ValueError(f"{self.msg}: no value found for type {names or f.base}")

    @staticmethod
    def _fits(value: str, f: Facets) -> bool:
        if len(value) < f.min_length or (f.max_length is not None and len(value) > f.max_length):
            return False
        if f.total_digits is not None and len(value.lstrip("-")) > f.total_digits:
            return False
        if f.base == "integer" and (not value.lstrip("-").isdigit() or
                                    (f.min_inclusive is not None and int(value) < f.min_inclusive) or
                                    (f.max_inclusive is not None and int(value) > f.max_inclusive)):
            return False
        return all(re.fullmatch(p, value) for p in f.patterns)


def maximal(schema_dir: str | Path, msg: str) -> bytes:
    """The maximal instance of ``msg`` (IO31, AW33, ...) from its XSD."""
    return Schema(schema_dir, msg).maximal()
