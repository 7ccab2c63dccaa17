"""Retourberichten: IO32, AW34, AW36, AW310, CA318 and CA320 built from their heenbericht.

A retourbericht repeats the heenbericht and adds a ``RetourCodes`` element to
every *berichtklasse* (Client, Indicatie, Contact, each zorgzwaartepakket...),
plus retour fields in the header. Each return code says what was wrong; ``0200``
means "no remark", ``0001`` rejects the whole message.

``errors`` holds codes such as ``"9002"``. A code may carry the location of the
problem, as the validation Rapport gives it: ``"9002@/Bericht/Clienten/Client[2]/Geboortedatum/Datum"``.
It is then put on the nearest berichtklasse above that location; codes without a
location go in the header. Pure: the retour's identification and date default to
values derived from the heenbericht, pass them in to use the real ones.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree

from hub.errors import SchemaViolation
from mappings._iwlz import BASE_NS, ns, to_xml_bytes

RETOUR = {"IO31": ("IO32", "389"), "AW33": ("AW34", "353"), "AW35": ("AW36", "355"), "AW39": ("AW310", "359"),
          "CA317": ("CA318", "407"), "CA319": ("CA320", "411")}
#: The berichtklassen that carry RetourCodes in each retour XSD (iWlz 2.2).
RECORDS = {
    "IO31": {"Client", "Relatie", "Contact", "Indicatie", "Stoornis", "Beperking", "BeperkingScore",
             "GeindiceerdeFunctie", "StoornisScore", "GeindiceerdZorgzwaartepakket"},
    "AW33": {"Client", "Relatie", "Contact", "Indicatie", "Stoornis", "Beperking", "BeperkingScore",
             "GeindiceerdeFunctie", "StoornisScore", "ToegewezenFunctie", "GeindiceerdZorgzwaartepakket",
             "ToegewezenZorgzwaartepakket"},
    "AW35": {"Client", "GeleverdeFunctie", "GeleverdZorgzwaartepakket"},
    "AW39": {"Client", "MutatieFunctie", "MutatieZorgzwaartepakket", "Aanvraag", "AanvraagInstelling"},
    "CA317": {"Client", "GeleverdeZorg"},
    "CA319": {"Client", "MutatieZorg"},
}  # fmt: skip
NO_REMARK, REJECTED = "0200", "0001"
_CODE = re.compile(r"^[0-9A-Z]{4}$")
_STEP = re.compile(r"^([A-Za-z0-9]+)(?:\[(\d+)\])?$")


def make_retour(
    heen_xml: bytes, errors: list[str], *, identificatie: str | None = None, dagtekening: str | None = None
) -> bytes:
    """The retourbericht for ``heen_xml`` carrying ``errors`` (an empty list: all ``0200``)."""
    from hub.formats.iwlz import message_code, safe_parse

    heen = safe_parse(heen_xml).getroot()
    msg = message_code(heen)
    if msg not in RETOUR:
        raise SchemaViolation(f"no retourbericht is defined for {msg}", rule="XSD")
    retour_msg, code = RETOUR[msg]
    header_codes, placed = _place(heen, errors, RECORDS[msg])
    new_ns, old_ns = ns(retour_msg), ns(msg)
    root = etree.Element(f"{{{new_ns}}}Bericht", nsmap={None: new_ns, "iwlz": BASE_NS})  # type: ignore[dict-item]

    def copy(src: etree._Element, dst_parent: etree._Element) -> None:
        name = etree.QName(src)
        uri = new_ns if name.namespace == old_ns else name.namespace
        el = etree.SubElement(dst_parent, f"{{{uri}}}{name.localname}")
        el.text = src.text if len(src) == 0 else None
        for child in src:
            if isinstance(child.tag, str):
                copy(child, el)
        if name.namespace == old_ns and name.localname in RECORDS[msg]:
            _codes(el, placed.get(src, [NO_REMARK]), new_ns)

    header = heen.find(f"{{{old_ns}}}Header")
    if header is None:
        raise SchemaViolation(f"{msg} has no Header", rule="XSD:Header")
    copy(header, root)
    h = root[0]
    h.find(f"{{{new_ns}}}BerichtCode").text = code  # type: ignore[union-attr]
    day = header.findtext(f".//{{{BASE_NS}}}Dagtekening") or ""
    digest = hashlib.sha256(heen_xml + "\n".join(errors).encode()).hexdigest()[:12].upper()
    etree.SubElement(h, f"{{{new_ns}}}IdentificatieRetour").text = identificatie or digest
    etree.SubElement(h, f"{{{new_ns}}}DagtekeningRetour").text = dagtekening or day
    xv = etree.SubElement(h, f"{{{new_ns}}}XsdVersieRetour")
    etree.SubElement(xv, f"{{{BASE_NS}}}BasisschemaXsdVersie").text = "1.0.0"
    etree.SubElement(xv, f"{{{BASE_NS}}}BerichtXsdVersie").text = "1.0.0"
    if header_codes:
        _codes(h, header_codes, new_ns)
    clienten = heen.find(f"{{{old_ns}}}Clienten")
    if clienten is not None and REJECTED not in header_codes:
        copy(clienten, root)  # a rejected message (0001) returns its header only
    return to_xml_bytes(root)


def _codes(el: etree._Element, codes: list[str], uri: str) -> None:
    box = etree.SubElement(el, f"{{{uri}}}RetourCodes")
    for c in dict.fromkeys(codes):  # keep order, drop repeats
        etree.SubElement(box, f"{{{uri}}}RetourCode").text = c


def _place(
    heen: etree._Element, errors: list[str], records: set[str]
) -> tuple[list[str], dict[etree._Element, list[str]]]:
    """Split codes into header codes and codes per berichtklasse element of the heenbericht."""
    header: list[str] = []
    placed: dict[etree._Element, list[str]] = {}
    for item in errors:
        code, _, where = item.partition("@")
        if not _CODE.match(code):
            raise ValueError(f"not an iWlz return code: {code!r}")
        target = _locate(heen, where) if where else None
        while target is not None and not (etree.QName(target).localname in records and target.getparent() is not None):
            target = target.getparent()
        if target is None or etree.QName(target).localname == "Bericht":
            header.append(code)
        else:
            placed.setdefault(target, []).append(code)
    return header, placed


def _locate(root: etree._Element, path: str) -> etree._Element | None:
    """Follow a Rapport ``Locatie`` (``/Bericht/Clienten/Client[2]/...``) by local names."""
    steps = [s for s in path.strip().split("/") if s]
    if not steps or _STEP.match(steps[0]) is None:
        return None
    node: etree._Element | None = root
    for step in steps[1:]:
        m = _STEP.match(step)
        if m is None or node is None:
            return node
        same = [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == m.group(1)]
        idx = int(m.group(2) or 1) - 1
        if idx >= len(same):
            return node
        node = same[idx]
    return node
