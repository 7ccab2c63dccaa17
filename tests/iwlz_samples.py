"""iWlz test samples: the golden heenberichten, and changes to them that break named rules.

The shipped party registry holds the golden files' parties (docs/iwlz.md): the CIZ sends the IO31
to zk-groningen (5501); De Linde (AGB 01000000) sends the AW35 and AW39 to it; zk-zeeland (5525)
sends the AW33 to Het Anker (AGB 05036737).
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from hub.flows.iwlz.validate import element_path

REPO = Path(__file__).resolve().parent.parent
SENDER = {"IO31": "ciz", "AW33": "zk-zeeland", "AW35": "de-linde", "AW39": "de-linde"}
ADDRESSEE = {"IO31": "zk-groningen", "AW33": "het-anker", "AW35": "zk-groningen", "AW39": "zk-groningen"}
RETOUR = {"IO31": "IO32", "AW33": "AW34", "AW35": "AW36", "AW39": "AW310"}


def golden(msg: str, case: int = 1) -> bytes:
    return (REPO / f"mappings/iwlz_{msg.lower()}/golden/v1/case{case}.in.xml").read_bytes()


def change(xml: bytes, *edits: tuple[str, str]) -> bytes:
    """``xml`` with each ``(old, new)`` regular-expression edit made once; an edit that matches nothing fails."""
    for old, new in edits:
        assert re.search(old.encode(), xml), f"the sample has no {old!r}"
        xml = re.sub(old.encode(), new.encode(), xml, count=1)
    return xml


def identified(xml: bytes, ident: str) -> bytes:
    """``xml`` with another header Identificatie (a new message, as far as TR056 goes)."""
    return change(xml, (r"<iwlz:Identificatie>[^<]*</iwlz:Identificatie>",
                        f"<iwlz:Identificatie>{ident}</iwlz:Identificatie>"))


def placed_codes(retour: bytes) -> set[tuple[str, str]]:
    """Every retourcode but ``0200`` in a retourbericht, with the berichtklasse (or Header) that carries it."""
    root = etree.fromstring(retour)
    return {(code.text or "", element_path(box.getparent()))
            for box in root.iter("{*}RetourCodes") for code in box if (code.text or "") != "0200"}


def on_the_golden_aw33(msg: str = "AW35", **changes: str) -> bytes:
    """An AW35 (start of care) or AW39 (its end) from Het Anker (AGB 05036737) to zk-zeeland on the golden
    AW33's first toewijzing: client 999992211, Besluitnummer 362425002, ZZP 800 from 2023-01-29, VPT (5)."""
    fields = {"Bsn": "999992211", "Besluitnummer": "362425002", "ZzpCode": "800",
              "ToewijzingIngangsdatum": "2023-01-29", "Begindatum": "2023-02-01", "Instelling": "05036737",
              "Leveringsvorm": "5", **({"Mutatiedatum": "2023-02-20"} if msg == "AW39" else {}), **changes}
    xml = change(golden(msg), (r"<Afzender>01000000<", "<Afzender>05036737<"),
                 (r"<Ontvanger>5501<", "<Ontvanger>5525<"),
                 (r"<iwlz:Dagtekening>[^<]*<", "<iwlz:Dagtekening>2023-02-25<"))
    for name, value in fields.items():
        xml = change(xml, (f"<{name}>[^<]*</{name}>", f"<{name}>{value}</{name}>"))
    return xml


def aw35_on_the_golden_aw33(**changes: str) -> bytes:
    """The AW35 of ``on_the_golden_aw33``."""
    return on_the_golden_aw33("AW35", **changes)
