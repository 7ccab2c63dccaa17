"""Whole messages: a released version's mapping, plus every element it does not carry, in a documented extension.

A released version maps a subset of its message to FHIR's natural places and refuses the rest
(``Unmapped``: "element(s) BurgerlijkeStaat not supported by this mapping"). ``CarryToFhir``
runs that version on the message without the elements it refuses and carries each of them,
whole, in one extension on the Bundle's MessageHeader (``EXT + "element"``):

- ``path``: where the element sat, as the released version names it (``IO31/Clienten/Client[1]``);
- ``index``: its position among that parent's child elements at the time it was taken out;
- ``content``: the element itself: a sub-extension per element, ``url`` its local name
  (``iwlz:`` before it for a basisschema element), ``valueString`` its text or ``extension``
  its children, in document order.

``CarryFromFhir`` runs the released version's way back on the Bundle without these extensions
and puts each element back where it was (the last taken out first), so XML -> FHIR -> XML gives
the message back. Both are pure: the same payload, the same bytes.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

from lxml import etree

from hub.catalogue.mappings import Mapping, MappingSpec
from hub.errors import Unmapped
from mappings.toolkit.iwlz import BASE_NS, EXT, JsonObj, dumps, loads_json, to_xml_bytes

CARRIED = EXT + "element"
_REFUSED = re.compile(r"^(?P<path>[^:]+): element\(s\) (?P<names>.+) not supported by this mapping$")
_STEP = re.compile(r"^([A-Za-z0-9]+)(?:\[(\d+)\])?$")
_ROUNDS = 500  # more than the number of element types of any iWlz 2.2 message


def _kids(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def locate(root: etree._Element, path: str) -> etree._Element:
    """The element a released version's node path names (its first step is the message code)."""
    el = root
    for step in path.split("/")[1:]:
        m = _STEP.match(step)
        if m is None:
            raise Unmapped(f"cannot place an element at {path}", rule="UNMAPPED")
        same = [c for c in _kids(el) if etree.QName(c).localname == m.group(1)]
        n = int(m.group(2) or 1)
        if len(same) < n:
            raise Unmapped(f"cannot place an element at {path}", rule="UNMAPPED")
        el = same[n - 1]
    return el


def _to_ext(el: etree._Element) -> JsonObj:
    q = etree.QName(el)
    url = ("iwlz:" if q.namespace == BASE_NS else "") + q.localname
    kids = _kids(el)
    if kids:
        return {"url": url, "extension": [_to_ext(c) for c in kids]}
    return {"url": url, "valueString": el.text or ""}


def _from_ext(obj: JsonObj, msg_ns: str) -> etree._Element:
    url = str(obj["url"])
    base, name = url.startswith("iwlz:"), url.removeprefix("iwlz:")
    el = etree.Element(f"{{{BASE_NS if base else msg_ns}}}{name}")
    if "extension" in obj:
        for child in obj["extension"]:
            el.append(_from_ext(child, msg_ns))
    else:
        el.text = str(obj.get("valueString", ""))
    return el


class CarryToFhir:
    """XML -> FHIR: ``base`` (a released version) for what it carries, the extension for the rest."""

    def __init__(self, spec: MappingSpec, base: Mapping) -> None:
        self.spec, self.base = spec, base

    def translate(self, payload: bytes) -> bytes:
        from hub.formats.iwlz import safe_parse

        root = copy.deepcopy(safe_parse(payload).getroot())
        carried: list[JsonObj] = []
        for _ in range(_ROUNDS):
            try:
                out = self.base.translate(to_xml_bytes(root))
                break
            except Unmapped as exc:
                found = _REFUSED.match(exc.reason)
                if found is None:
                    raise
                names = set(found.group("names").split(", "))
                parent = locate(root, found.group("path"))
                for index, child in reversed(list(enumerate(_kids(parent)))):
                    if etree.QName(child).localname in names:
                        carried.append({"url": CARRIED, "extension": [
                            {"url": "path", "valueString": found.group("path")},
                            {"url": "index", "valueInteger": index},
                            {"url": "content", "extension": [_to_ext(child)]}]})
                        parent.remove(child)
        else:
            raise Unmapped("the message has more kinds of element than this mapping can carry", rule="UNMAPPED")
        bundle = loads_json(out)
        if carried:
            header = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MessageHeader")
            header.setdefault("extension", []).extend(carried)
        return dumps(bundle)


class CarryFromFhir:
    """FHIR -> XML: ``base``'s way back, then each carried element put back where it was."""

    def __init__(self, spec: MappingSpec, base: Mapping) -> None:
        self.spec, self.base = spec, base

    def translate(self, payload: bytes) -> bytes:
        return self.write(loads_json(payload))

    def write(self, bundle: JsonObj) -> bytes:
        """The message for a parsed Bundle, which it leaves as it was: ``translate`` without the JSON parse."""
        from hub.formats.iwlz import safe_parse

        carried, bundle = _without_carried(bundle)
        write = getattr(self.base, "write", None)
        if write is not None:  # the base's bytes, from the Bundle at hand rather than its JSON written and read back
            out = write(bundle)
        else:
            out = self.base.translate(dumps(bundle))
        if not carried and b"></" not in out:
            # nothing to put back, and no empty element: parsing and writing these bytes again gives them back
            # (an element with empty text, <X></X>, would come back as <X/>; those take the way below)
            return out
        root = safe_parse(out).getroot()
        msg_ns = etree.QName(root).namespace or ""
        for ext in reversed(carried):
            parts = {p["url"]: p for p in ext.get("extension", [])}
            parent = locate(root, str(parts["path"]["valueString"]))
            el = _from_ext(parts["content"]["extension"][0], msg_ns)
            kids = _kids(parent)
            index = int(parts["index"]["valueInteger"])
            if index < len(kids):
                kids[index].addprevious(el)
            else:
                parent.append(el)
        return to_xml_bytes(root)


def _without_carried(bundle: JsonObj) -> tuple[list[JsonObj], JsonObj]:
    """The carried elements of the (last) MessageHeader, and the Bundle without them.

    The Bundle is not changed: the entries on the way to a MessageHeader are copied, the rest shared, so
    the checker's parsed document can serve every recipient of a message.
    """
    carried: list[JsonObj] = []
    entry = bundle.get("entry", [])
    copied: list[JsonObj] | None = None
    for i, e in enumerate(entry):
        res = e.get("resource", {})
        if res.get("resourceType") == "MessageHeader":
            carried = [x for x in res.get("extension", []) if x.get("url") == CARRIED]
            rest = [x for x in res.get("extension", []) if x.get("url") != CARRIED]
            res = {**res, "extension": rest} if rest else {k: v for k, v in res.items() if k != "extension"}
            if copied is None:
                copied = list(entry)
            copied[i] = {**e, "resource": res}
    return carried, bundle if copied is None else {**bundle, "entry": copied}


def whole(to_fhir: Mapping, from_fhir: Mapping, version: str) -> tuple[CarryToFhir, CarryFromFhir]:
    """Version ``version`` of both directions: the released ``to_fhir``/``from_fhir`` carrying every element."""
    return (CarryToFhir(replace(to_fhir.spec, version=version), to_fhir),
            CarryFromFhir(replace(from_fhir.spec, version=version), from_fhir))
