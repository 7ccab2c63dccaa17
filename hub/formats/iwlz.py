"""iWlz 2.2 XML: a safe parser and validation against the official XSDs and XSLT rules.

The XSDs and the business-rule XSLTs are published under their own licences, so
the hub never ships them: they are loaded from a configured ``schema_dir`` (the
folder holding ``iwlz-2.2/xsd`` and ``iwlz-2.2/validatie``). Compiling an XSLT
takes a while, so every schema and stylesheet is compiled once per process and
message code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from hub.errors import ConfigError, SchemaViolation, Unparseable
from hub.formats.bsn import redact

BASE_NS = "http://www.istandaarden.nl/iwlz/2_2/basisschema/schema"
RAPPORT_NS = "http://www.istandaarden.nl/validatie/1_1/rapport/schema"
MESSAGES = (
    "AW310 AW317 AW318 AW33 AW34 AW35 AW36 AW39 CA317 CA318 CA319 CA320 "
    "IO31 IO32 ZK31 ZK310 ZK32 ZK33 ZK34 ZK35 ZK36 ZK39"
).split()
#: BerichtCode of each message, as fixed by its XSD.
BERICHTCODE = {
    "IO31": "388", "IO32": "389", "AW33": "352", "AW34": "353", "AW35": "354",
    "AW36": "355", "AW39": "358", "AW310": "359",
}  # fmt: skip

Issue = tuple[str, str]


def namespace(msg_code: str) -> str:
    """The target namespace of an iWlz 2.2 message, e.g. ``.../aw35/schema``."""
    return f"http://www.istandaarden.nl/iwlz/2_2/{msg_code.lower()}/schema"


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity expansion, no network: a hostile document cannot
    # make the hub read files or call out (XXE) or blow up memory (billion laughs).
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
    )


_local = threading.local()


def safe_parse(xml: bytes) -> etree._ElementTree:
    """Parse untrusted XML; a DOCTYPE or entity declaration is refused outright."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    try:
        tree = etree.ElementTree(etree.fromstring(xml, parser))
    except etree.XMLSyntaxError as exc:
        raise Unparseable(f"not well-formed XML: {redact(str(exc))}", rule="XML") from exc
    if getattr(tree.docinfo, "doctype", "") or b"<!DOCTYPE" in xml[:4096].upper() or b"<!ENTITY" in xml.upper():
        raise Unparseable("XML with a DOCTYPE or ENTITY declaration is refused", rule="XML")
    return tree


def message_code(root: etree._Element) -> str:
    """The message code (``AW35``) from the root element's namespace."""
    ns = etree.QName(root).namespace or ""
    prefix = "http://www.istandaarden.nl/iwlz/2_2/"
    if not ns.startswith(prefix) or not ns.endswith("/schema"):
        raise SchemaViolation("not an iWlz 2.2 message (unknown namespace)", rule="XSD")
    return ns[len(prefix) : -len("/schema")].upper()


@dataclass(frozen=True)
class _Compiled:
    xsd: etree.XMLSchema
    xslt: etree.XSLT | None


_lock = threading.Lock()


@lru_cache(maxsize=64)
def _compile(schema_dir: str, msg_code: str) -> _Compiled:
    if msg_code not in MESSAGES:
        raise ConfigError(f"unknown iWlz 2.2 message code {msg_code!r}")
    base = Path(schema_dir) / "iwlz-2.2"
    xsd_path = base / "xsd" / f"{msg_code}.xsd"
    if not xsd_path.is_file():
        raise ConfigError(f"iWlz XSD for {msg_code} not found under the configured schema_dir")
    xsd = etree.XMLSchema(etree.parse(str(xsd_path)))
    xsl_path = base / "validatie" / "wlz" / "2_2" / f"{msg_code}.xsl"
    xslt = etree.XSLT(etree.parse(str(xsl_path))) if xsl_path.is_file() else None
    return _Compiled(xsd, xslt)


class Validator:
    """Validates iWlz 2.2 messages; one instance per ``schema_dir``, thread-safe."""

    def __init__(self, schema_dir: str | Path) -> None:
        self.schema_dir = str(Path(schema_dir).resolve())

    def compiled(self, msg_code: str) -> _Compiled:
        with _lock:  # compile each message once, even when threads race
            return _compile(self.schema_dir, msg_code)

    def validate(self, msg_code: str, xml: bytes) -> list[Issue]:
        """All problems as ``(rule_code, message)``; an empty list means valid.

        XSD problems carry rule code ``XSD``; business rules carry the code the
        official XSLT reports (``TR002``, ``CS023``, ``CD004``...). Messages never
        contain a BSN.
        """
        tree = safe_parse(xml)
        comp = self.compiled(msg_code)
        issues: list[Issue] = []
        if not comp.xsd.validate(tree):
            for err in cast(Iterable[Any], comp.xsd.error_log):
                issues.append(("XSD", redact(f"line {err.line}: {err.message}")))
            return issues  # the rules assume a schema-valid document
        if comp.xslt is not None:
            issues.extend(rapport_issues(comp.xslt(tree)))
        return issues

    def check(self, msg_code: str, xml: bytes) -> None:
        """Raise ``SchemaViolation`` or ``RuleViolation`` if the message is not valid."""
        from hub.errors import RuleViolation

        issues = self.validate(msg_code, xml)
        if not issues:
            return
        summary = "; ".join(f"{code}: {msg}" for code, msg in issues[:5])
        if any(code == "XSD" for code, _ in issues):
            raise SchemaViolation(f"{msg_code} violates its XSD: {summary}", rule="XSD")
        raise RuleViolation(f"{msg_code} breaks iWlz rules: {summary}", codes=[c for c, _ in issues])


def rapport_issues(rapport: etree._XSLTResultTree | etree._ElementTree) -> list[Issue]:
    """The ``Fout`` entries of a validation Rapport as ``(Code, 'Retourcode at Locatie: Details')``."""
    out: list[Issue] = []
    r = f"{{{RAPPORT_NS}}}"
    for fout in rapport.getroot().iter(f"{r}Fout"):
        code = (fout.findtext(f"{r}Code") or "FOUT").strip()
        retour = (fout.findtext(f"{r}Retourcode") or "").strip()
        where = ", ".join((loc.text or "").strip() for loc in fout.findall(f"{r}Locatie"))
        details = (fout.findtext(f"{r}Details") or "").strip()
        text = f"{'retourcode ' + retour + ' ' if retour else ''}at {where}" + (f": {details}" if details else "")
        out.append((code, redact(text)))
    return out


def validate(msg_code: str, xml: bytes, *, schema_dir: str | Path) -> list[Issue]:
    """Shortcut for ``Validator(schema_dir).validate(msg_code, xml)``."""
    return Validator(schema_dir).validate(msg_code, xml)
