"""Shared building blocks for the iWlz 2.2 <-> FHIR R4 mappings.

Released mapping versions import these helpers, so a change here can change a
released version's output: the golden files (``mappings/*/golden``) catch that.
Change behaviour by adding a new helper, never by editing one in place.

A *record* (one ``GeleverdZorgzwaartepakket``, one ``ToegewezenZorgzwaartepakket``...)
is described by a table of ``Field`` rows: the XML element, its kind and the FHIR
slot that carries it. The same table drives both directions and the XSD order of
the XML output, so the two directions cannot drift apart.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from lxml import etree

from hub.errors import SchemaViolation, Unmapped, Unparseable

BASE_NS = "http://www.istandaarden.nl/iwlz/2_2/basisschema/schema"
BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
UZOVI = "http://fhir.nl/fhir/NamingSystem/uzovi"
EXT = "https://zorghub.nl/fhir/StructureDefinition/iwlz-"
BESLUIT = "urn:istandaarden:iwlz:besluitnummer"
BERICHT_ID = "urn:istandaarden:iwlz:berichtidentificatie"
BERICHTCODE = "urn:istandaarden:iwlz:bericht"
_UUID_NS = uuid.UUID("5b0c7e1e-8e0e-4a5e-9a51-9a0c2f3e7a11")

#: Code systems: the published iWlz code list where the LDT has one, else the LDT name.
CODE_LISTS = {"ZzpCode": "COD163", "SoortIndicatie": "COD169", "SoortToewijzing": "COD165"}
JA, NEE = "1", "2"
JsonObj = dict[str, Any]


def code_system(ldt: str) -> str:
    """The FHIR code system URI for an iWlz code type (``ZzpCode`` -> COD163)."""
    cod = CODE_LISTS.get(ldt)
    return f"urn:istandaarden:codelijst:{cod}" if cod else f"urn:istandaarden:iwlz:2.2:LDT_{ldt}"


def ns(msg: str) -> str:
    return f"http://www.istandaarden.nl/iwlz/2_2/{msg.lower()}/schema"


def full_url(*parts: str) -> str:
    """A deterministic ``urn:uuid`` for a Bundle entry: same message, same URL (never from a BSN)."""
    return "urn:uuid:" + str(uuid.uuid5(_UUID_NS, "/".join(parts)))


def dumps(obj: JsonObj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


def loads_json(payload: bytes) -> JsonObj:
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"not valid JSON: {exc.msg}", rule="JSON") from exc
    if not isinstance(obj, dict):
        raise Unparseable("a FHIR resource must be a JSON object", rule="JSON")
    return obj


def to_xml_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def parse_message(payload: bytes, msg: str) -> etree._Element:
    """Parse safely and check the root is ``Bericht`` of the expected message."""
    from hub.formats.iwlz import safe_parse

    root = safe_parse(payload).getroot()
    if root.tag != f"{{{ns(msg)}}}Bericht":
        raise SchemaViolation(f"expected an iWlz 2.2 {msg} Bericht, got {etree.QName(root).localname}", rule="XSD")
    return root


# --- reading XML -------------------------------------------------------------------


class Node:
    """Read access to an XML element by child local names, tracking what was consumed."""

    def __init__(self, el: etree._Element, path: str) -> None:
        self.el, self.path = el, path
        self.children = [c for c in el if isinstance(c.tag, str)]
        # child positions by local name, built once per element: lookups cost a dict access, not a scan
        self.index: dict[str, list[int]] = {}
        for i, c in enumerate(self.children):
            self.index.setdefault(str(c.tag).rpartition("}")[2], []).append(i)
        self.used: set[int] = set()

    def _find(self, name: str) -> list[int]:
        return self.index.get(name, [])

    def opt(self, name: str) -> Node | None:
        idx = self._find(name)
        if not idx:
            return None
        self.used.update(idx)
        return Node(self.children[idx[0]], f"{self.path}/{name}")

    def req(self, name: str) -> Node:
        node = self.opt(name)
        if node is None:
            raise SchemaViolation(f"mandatory element {self.path}/{name} is missing", rule=f"XSD:{name}")
        return node

    def all(self, name: str) -> list[Node]:
        idx = self._find(name)
        self.used.update(idx)
        return [Node(self.children[i], f"{self.path}/{name}[{n + 1}]") for n, i in enumerate(idx)]

    def text(self, name: str, required: bool = True) -> str | None:
        idx = self._find(name)
        if not idx:
            if required:
                raise SchemaViolation(f"mandatory element {self.path}/{name} is missing", rule=f"XSD:{name}")
            return None
        self.used.update(idx)
        return (self.children[idx[0]].text or "").strip()

    def done(self) -> None:
        """Refuse elements this mapping version does not carry: refusing beats silently losing data."""
        left = [etree.QName(c).localname for i, c in enumerate(self.children) if i not in self.used]
        if left:
            raise Unmapped(f"{self.path}: element(s) {', '.join(left)} not supported by this mapping", rule="UNMAPPED")


# --- writing XML -------------------------------------------------------------------


#: (parent tag, child name, basisschema?) -> the child's tag: a message has some sixty children to make
_TAGS: dict[tuple[object, str, bool], str] = {}


class Slow(Exception):
    """A value the plain writer (``Plain``) does not write as lxml would: the caller builds with lxml instead."""


_PLAIN_TEXT = re.compile(r"[\t\n\x20-\x7e]+")  # printable ASCII, tab, newline; "\r" and the rest go to lxml
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
class _Markup:
    """An element's markup at its depth, each piece with its indent and line end, and its children's.

    A message has some sixty elements of a few dozen names: each name is checked against the pattern and
    formatted once per place, and a child's markup is one dictionary access on its parent's.
    """

    __slots__ = ("after", "base", "base_kids", "before", "close", "depth", "empty", "open", "plain_kids", "tag")

    def __init__(self, tag: str, base: bool, depth: int) -> None:
        self.tag = tag
        indent = "  " * depth
        self.open, self.close, self.empty = f"{indent}<{tag}>\n", f"{indent}</{tag}>\n", f"{indent}<{tag}/>\n"
        self.before, self.after = f"{indent}<{tag}>", f"</{tag}>\n"  # around a text
        self.base, self.depth = base, depth
        #: children's markup by name: of the message's namespace, and of the basisschema's (the same
        #: dictionary under a basisschema element, whose children are all in the basisschema)
        self.base_kids: dict[str, _Markup] = {}
        self.plain_kids: dict[str, _Markup] = self.base_kids if base else {}

    def kid(self, name: str, base: bool) -> _Markup:
        """A child's markup, made on first use; ``Slow`` for a name the plain writer does not write."""
        if type(name) is not str or _PLAIN_NAME.fullmatch(name) is None:
            raise Slow(name)
        base = base or self.base
        markup = _Markup(("iwlz:" if base else "") + name, base, self.depth + 1)
        kids = self.base_kids if base else self.plain_kids
        if len(kids) < 256:  # the element names of a message: a bound, not a leak
            kids[name] = markup
        return markup


class Plain:
    """An element of a message written without lxml: the bytes ``to_xml_bytes`` gives for the same tree.

    It takes only what it writes exactly as libxml2 does: elements of the message's and the basisschema's
    namespace, each holding either non-empty printable ASCII text or child elements. Anything else raises
    ``Slow`` at once, and the caller builds the message again with lxml (a build is pure: same input, same
    steps), so what it returns, and the error it raises, are lxml's.

    ``sub`` makes its children. An element with text takes no children, so its line is written when it is
    made, and only the elements that hold others stay objects: their markup waits to know whether they hold any.
    """

    __slots__ = ("kids", "leaf", "markup")

    def __init__(self, markup: _Markup, leaf: bool = False) -> None:
        self.markup, self.leaf = markup, leaf
        self.kids: list[Plain | str] = []

    @classmethod
    def root(cls, name: str) -> Plain:
        """The root of a message, ``name`` its element (``Bericht``): one markup tree per writer and name."""
        markup = _ROOTS.get(name)
        if markup is None:
            markup = _Markup(name, False, 0)
            if len(_ROOTS) < 64:
                _ROOTS[name] = markup
        return cls(markup)

    def write(self, msg_ns: str) -> bytes:
        """The document, as ``to_xml_bytes`` writes it (``self`` is the root, made by ``root``)."""
        name = self.markup.tag
        out = ["<?xml version='1.0' encoding='UTF-8'?>\n", f'<{name} xmlns="{msg_ns}" xmlns:iwlz="{BASE_NS}">\n']
        self._kids(out)
        out.append(f"</{name}>\n")
        return "".join(out).encode("ascii")

    def _kids(self, out: list[str]) -> None:
        for kid in self.kids:
            if isinstance(kid, str):
                out.append(kid)
                continue
            markup = kid.markup
            if kid.kids:
                out.append(markup.open)
                kid._kids(out)
                out.append(markup.close)
            else:
                out.append(markup.empty)


_ROOTS: dict[str, _Markup] = {}
#: what ``sub`` returns for a plain element with text: it takes no children, as it has no object of its own
_LEAF = Plain(_Markup("text", False, 0), leaf=True)


def sub(parent: etree._Element, name: str, text: str | None = None, *, base: bool = False) -> etree._Element:
    """Append a child in the parent's namespace (or the basisschema namespace for CDT parts)."""
    if type(parent) is Plain:  # a stand-in element (``Plain``): its child made here, a call the fewer a child
        if parent.leaf:
            raise Slow(name)
        m = parent.markup
        markup = (m.base_kids if base else m.plain_kids).get(name) or m.kid(name, base)
        if text is None:
            el = Plain(markup)
            parent.kids.append(el)
            return el  # type: ignore[return-value]  # a Plain stands in for an element
        # non-empty printable ASCII, tab or newline: two string methods answer the common case, the pattern the rest
        if type(text) is not str or not text or not (text.isascii() and text.isprintable()
                                                     or _PLAIN_TEXT.fullmatch(text) is not None):
            raise Slow(name)
        if "&" in text or "<" in text or ">" in text:  # three scans cost less than one translate of a plain text
            text = text.translate(_ESCAPE)
        parent.kids.append(markup.before + text + markup.after)
        return _LEAF  # type: ignore[return-value]
    key = (parent.tag, name, base)
    tag = _TAGS.get(key)
    if tag is None:
        nsuri = BASE_NS if base else str(key[0])[1:].partition("}")[0]  # the parent's namespace
        tag = f"{{{nsuri}}}{name}"
        if len(_TAGS) < 4096:  # the element names of the messages: a bound, not a leak
            _TAGS[key] = tag
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


# --- FHIR helpers -------------------------------------------------------------------


def ext(name: str, kind: str, value: str) -> JsonObj:
    """A hub extension for an iWlz element that FHIR has no native place for."""
    return {"url": EXT + name.lower(), **_fhir_value(kind, value)}


def _fhir_value(kind: str, value: str) -> JsonObj:
    if kind == "bool":
        return {"valueBoolean": value == JA}
    if kind == "int":
        return {"valueInteger": int(value)}
    if kind == "date":
        return {"valueDate": value}
    if kind == "time":
        return {"valueTime": value}
    if kind in ("agb", "uzovi"):
        return {"valueIdentifier": {"system": AGB if kind == "agb" else UZOVI, "value": value}}
    return {"valueCode": value}


_VALUE_KEY = {"date": "valueDate", "time": "valueTime"}


def _xml_value(kind: str, ext_obj: JsonObj) -> str:
    if kind == "bool":
        return JA if ext_obj["valueBoolean"] else NEE
    if kind == "int":
        return str(ext_obj["valueInteger"])
    if kind in ("agb", "uzovi"):
        return str(ext_obj["valueIdentifier"]["value"])
    return str(ext_obj[_VALUE_KEY.get(kind, "valueCode")])


#: element name -> the url of its hub extension: a message asks for a few dozen, each many times
_EXT_URLS: dict[str, str] = {}


def _ext_url(name: str) -> str:
    url = _EXT_URLS.get(name)
    if url is None:
        url = EXT + name.lower()
        if len(_EXT_URLS) < 4096:  # the element names of the messages: a bound, not a leak
            _EXT_URLS[name] = url
    return url


def get_ext(res: JsonObj, name: str, kind: str) -> str | None:
    url = _ext_url(name)
    for e in res.get("extension", []):
        if e.get("url") == url:
            return _xml_value(kind, e)
    return None


def _ext_index(res: JsonObj) -> dict[str, JsonObj] | None:
    """A resource's extensions by url, the first of each (the one ``get_ext`` finds): one pass, not one a field.

    ``None`` when the extensions are not a list of objects: the caller then asks ``get_ext`` field by field,
    so such a resource fails where, and as, it always did.
    """
    exts = res.get("extension", [])
    if type(exts) is not list:
        return None
    index: dict[str, JsonObj] = {}
    for e in exts:
        if type(e) is not dict:
            return None
        url = e.get("url")
        if type(url) is str:  # any other url never equals a hub extension's
            index.setdefault(url, e)
    return index


def ident_value(obj: JsonObj | None, system: str) -> str | None:
    """The value of the identifier with ``system`` in a resource or reference."""
    if not obj:
        return None
    idents = obj.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    for i in idents or []:
        if i.get("system") == system:
            return str(i.get("value"))
    return None


# --- record tables ------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One XML element of a record and its FHIR slot.

    slot: ``type`` (the coded kind: EpisodeOfCare.type / ServiceRequest.code),
    ``start``/``end`` (the period), ``org`` (the provider's AGB: managingOrganization
    or performer), ``besluit`` (a logical reference to the indicatiebesluit by its
    number) or ``ext`` (a hub extension named after the element).
    kind: code, date, time, int, bool (JaNee), agb, uzovi.
    """

    xml: str
    kind: str = "code"
    slot: str = "ext"
    required: bool = True


@dataclass(frozen=True)
class Record:
    """A record type: its element name, FHIR resource type and field table (in XSD order)."""

    element: str
    resource: str  # EpisodeOfCare | ServiceRequest
    fields: Sequence[Field]

    @property
    def type_field(self) -> Field:
        return next(f for f in self.fields if f.slot == "type")


_PERIOD = {"EpisodeOfCare": "period", "ServiceRequest": "occurrencePeriod"}
_ORG = {"EpisodeOfCare": "managingOrganization", "ServiceRequest": "performer"}


def record_to_fhir(rec: Record, node: Node, res: JsonObj) -> JsonObj:
    """Fill ``res`` (already holding resourceType, status, subject) from one XML record."""
    exts: list[JsonObj] = []
    period: JsonObj = {}
    for f in rec.fields:
        value = node.text(f.xml, f.required)
        if value is None:
            continue
        if f.slot == "type":
            cc = {"coding": [{"system": code_system(f.xml), "code": value}]}
            if rec.resource == "EpisodeOfCare":
                res["type"] = [cc]
            else:
                res["code"] = cc
        elif f.slot in ("start", "end"):
            period[f.slot] = value
        elif f.slot == "org":
            ref = {"identifier": {"system": AGB, "value": value}}
            res[_ORG[rec.resource]] = ref if rec.resource == "EpisodeOfCare" else [ref]
        elif f.slot == "besluit":
            res["referralRequest"] = [{"identifier": {"system": BESLUIT, "value": value}}]
        else:
            exts.append(ext(f.xml, f.kind, value))
    node.done()
    if period:
        res[_PERIOD[rec.resource]] = period
    if exts:
        res["extension"] = exts
    return res


def fhir_to_record(rec: Record, res: JsonObj, parent: etree._Element, where: str) -> None:
    """Append the XML record for one FHIR resource under ``parent`` (fields in XSD order)."""
    el = sub(parent, rec.element)
    period = res.get(_PERIOD[rec.resource]) or {}
    exts = _ext_index(res)
    for f in rec.fields:
        value: str | None
        slot = f.slot
        if slot == "type":
            cc = (res.get("type") or [{}])[0] if rec.resource == "EpisodeOfCare" else res.get("code", {})
            value = next((c.get("code") for c in cc.get("coding", []) if c.get("system") == code_system(f.xml)), None)
        elif slot in ("start", "end"):
            value = period.get(slot)
        elif slot == "org":
            org = res.get(_ORG[rec.resource])
            value = ident_value(org[0] if isinstance(org, list) else org, AGB)
        elif slot == "besluit":
            value = ident_value((res.get("referralRequest") or [None])[0], BESLUIT)
        elif exts is None:
            value = get_ext(res, f.xml, f.kind)
        else:
            found = exts.get(_ext_url(f.xml))
            value = None if found is None else _xml_value(f.kind, found)
        if value is None:
            if f.required:
                raise SchemaViolation(f"{where}: no value for mandatory {rec.element}/{f.xml}", rule=f"XSD:{f.xml}")
            continue
        sub(el, f.xml, value)


def entries(bundle: JsonObj, rtype: str) -> Iterator[tuple[str, JsonObj]]:
    for e in bundle.get("entry", []):
        res = e.get("resource", {})
        if res.get("resourceType") == rtype:
            yield e.get("fullUrl", ""), res
