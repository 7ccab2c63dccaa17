"""The rule-to-retourcode table, read from COD910 (Retourcode) itself, never typed in by hand.

COD910's descriptions name the rule each code answers: "Bericht voldoet niet aan constraint CS002."
is ``S002``, "... conditie CD051" is ``D051``, "... technische regel 15" is ``9015``. Those are read
first. A few rules were renamed after their code was issued: code ``9008`` now reads "constraint
CS135" while the official XSLT still reports the rule as ``TR008``. For a rule that no description
names, the code's own number is the link, the convention the iStandaarden use throughout COD910 (and
that the official ``check_errors.xsl`` spells out): ``9nnn`` is ``TRnnn``, ``Snnn`` is ``CSnnn``,
``Dnnn`` is ``CDnnn``. Only codes the retour XSD's ``LDT_RetourCode`` allows are taken; a rule with
no such code is answered with ``0001`` (the message rejected as a whole).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from lxml import etree

from hub.errors import ConfigError

REJECTED = "0001"
_NAMED = re.compile(r"(?:constraint\s+CS\s*(\d+)|conditie\s+CD\s*(\d+)|technische\s+regel\s+(\d+))", re.I)
_BY_NUMBER = {"9": "TR", "S": "CS", "D": "CD"}
_XS = "{http://www.w3.org/2001/XMLSchema}"


def rule_id(prefix: str, number: str) -> str:
    """``("CS", "2")`` is ``CS002``: the rule ids as the XSLT reports them."""
    return f"{prefix}{int(number):03d}"


@lru_cache(maxsize=8)
def allowed_codes(schema_dir: str) -> frozenset[str]:
    """The retourcodes the iWlz 2.2 basisschema's ``LDT_RetourCode`` enumerates."""
    path = Path(schema_dir) / "iwlz-2.2" / "xsd" / "basisschema.xsd"
    try:
        tree = etree.parse(str(path))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(f"cannot read the iWlz basisschema under the configured schema_dir: {exc}") from exc
    st = tree.find(f".//{_XS}simpleType[@name='LDT_RetourCode']")
    if st is None:
        raise ConfigError("the iWlz basisschema defines no LDT_RetourCode")
    return frozenset(str(e.get("value")) for e in st.iter(f"{_XS}enumeration"))


@lru_cache(maxsize=8)
def rule_table(schema_dir: str) -> dict[str, str]:
    """Rule id (``CS002``, ``CD051``, ``TR015``) to its COD910 retourcode, for every rule COD910 answers."""
    path = Path(schema_dir) / "iwlz-codelijsten" / "COD910.json"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["Codelijst"]["Codewaarden"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read COD910 under the configured schema_dir: {exc}") from exc
    allowed = allowed_codes(schema_dir)
    live = [v for v in values if str(v.get("id")) in allowed]
    table: dict[str, str] = {}
    for value in live:
        for m in _NAMED.finditer(str(value.get("omschrijving", ""))):
            cs, cd, tr = m.groups()
            rule = rule_id("CS", cs) if cs else rule_id("CD", cd) if cd else rule_id("TR", tr)
            table.setdefault(rule, str(value["id"]))
    for value in live:
        code = str(value["id"])
        prefix = _BY_NUMBER.get(code[:1])
        if prefix and code[1:].isdigit():
            table.setdefault(rule_id(prefix, code[1:]), code)
    return table


def retourcode(schema_dir: str, rule: str) -> str:
    """The retourcode answering ``rule``; ``0001`` for a rule COD910 has no code for."""
    return rule_table(schema_dir).get(rule, REJECTED)
