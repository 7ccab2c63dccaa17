"""The iWlz check at the door: the official XSD, then the business rules (the official XSLT).

Registered by the iWlz flow as the checker's validator for every kind with an ``iwlz`` message
code. Every failing rule becomes a ``Finding``: the rule, its COD910 retourcode (``cod910``) and
where in the message it failed (the Rapport's ``Locatie``), so that the retour puts each code on the
berichtklasse it is about. A failure raises the core's ``SchemaViolation`` or ``RuleViolation``
whose ``rule`` names every failing rule (``CD051,CS127``: the DLQ's ``x-rule`` and the audit carry
them all), caused by an ``IwlzFindings`` with the retourcodes, so the answer hook can name them in
the retourbericht without the core knowing what a retourcode is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lxml import etree

from hub.catalogue.kinds import Kind
from hub.errors import ConfigError, HubError, RuleViolation, SchemaViolation
from hub.flows.iwlz.cod910 import REJECTED, retourcode
from hub.formats.bsn import redact
from hub.formats.iwlz import RAPPORT_NS, Validator, safe_parse

_R = f"{{{RAPPORT_NS}}}"
HEADER = "/Bericht/Header"


@dataclass(frozen=True)
class Finding:
    """One failing rule: ``rule`` (``TR046``, ``XSD``), its retourcode, and the paths it failed at."""

    rule: str
    code: str
    where: tuple[str, ...] = ()
    text: str = ""

    def retour_codes(self) -> list[str]:
        """``code@path`` per location (the retour puts it on the nearest berichtklasse), or the bare code
        (the header). ``0001`` rejects the message as a whole: it stands in the header only, whatever the location."""
        if self.code == REJECTED:
            return [self.code]
        # a rule comparing a record with the header (a date against the Dagtekening) is the record's error
        body = [w for w in self.where if not w.startswith(HEADER)] or list(self.where)
        return [f"{self.code}@{w}" for w in body] or [self.code]


class IwlzFindings(Exception):
    """The retourcodes of a refused iWlz message (``code`` or ``code@location``), as the cause of the refusal."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def element_path(node: etree._Element) -> str:
    """``/Bericht/Clienten/Client[2]/Bsn``: local names, an index only among same-named siblings (as the Rapport)."""
    steps = []
    el: etree._Element | None = node
    while el is not None:
        name = etree.QName(el).localname
        parent = el.getparent()
        same = [el] if parent is None else [c for c in parent
                                            if isinstance(c.tag, str) and etree.QName(c).localname == name]
        steps.append(f"{name}[{same.index(el) + 1}]" if len(same) > 1 else name)
        el = parent
    return "/" + "/".join(reversed(steps))


_STEP = re.compile(r"^(?:[\w.-]+:)?([\w.-]+)(\[\d+\])?$")


def _located(tree: etree._ElementTree, path: str) -> str:
    """The element an XSD error's ``path`` (``/*/*[1]`` or ``/io31:Bericht/io31:Header``) points at, by name."""
    steps = []
    for step in (s for s in path.split("/") if s):
        m = _STEP.match(step)
        steps.append(step if m is None else f"*[local-name()='{m.group(1)}']{m.group(2) or ''}")
    try:
        hits = tree.xpath("/" + "/".join(steps)) if steps else []
    except etree.XPathError:
        return ""
    return element_path(hits[0]) if isinstance(hits, list) and hits and isinstance(hits[0], etree._Element) else ""


def xsd_findings(tree: etree._ElementTree, errors: Iterable[Any]) -> list[Finding]:
    """Each XSD error, naming its element. The code is ``0001``: no current COD910 code names a schema
    error per element, and ``0001`` may stand in the header only (the retour then repeats the header)."""
    out = []
    for err in errors:
        where = _located(tree, str(getattr(err, "path", "") or ""))
        text = redact(f"line {err.line}" + (f" at {where}" if where else "") + f": {err.message}")
        out.append(Finding("XSD", REJECTED, (), text))
    return out


def rapport_findings(schema_dir: str, rapport: etree._XSLTResultTree | etree._ElementTree) -> list[Finding]:
    """The Rapport's ``Fout`` entries (``Code``, ``Locatie``, ``Details``) with their COD910 retourcodes."""
    out = []
    for fout in rapport.getroot().iter(f"{_R}Fout"):
        rule = (fout.findtext(f"{_R}Code") or "FOUT").strip()
        where = tuple(dict.fromkeys((loc.text or "").strip() for loc in fout.findall(f"{_R}Locatie")
                                    if (loc.text or "").strip().startswith("/")))
        details = (fout.findtext(f"{_R}Details") or "").strip()
        text = redact(f"at {', '.join(where) or '-'}" + (f": {details}" if details else ""))
        out.append(Finding(rule, retourcode(schema_dir, rule), where, text))
    return out


def check(schema_dir: str | Path, msg_code: str, xml: bytes) -> list[Finding]:
    """Every finding of the official XSD and XSLT for ``xml``; empty when it passes both."""
    validator = Validator(schema_dir)
    tree = safe_parse(xml)
    comp = validator.compiled(msg_code)
    if not comp.xsd.validate(tree):
        return xsd_findings(tree, cast(Iterable[Any], comp.xsd.error_log))  # the rules assume a valid document
    if comp.xslt is None:
        return []
    return rapport_findings(validator.schema_dir, comp.xslt(tree))


def rules_of(findings: Sequence[Finding]) -> str:
    """Every failing rule once, in order: the refusal's ``rule`` (``CD051,CS127``)."""
    return ",".join(dict.fromkeys(f.rule for f in findings))


def refusal(msg_code: str, findings: Sequence[Finding]) -> HubError:
    """The core's refusal for ``findings``, caused by the retourcodes the retour will carry."""
    summary = "; ".join(f"{f.rule} ({f.code}) {f.text}" for f in findings)
    exc: HubError
    if any(f.rule == "XSD" for f in findings):
        exc = SchemaViolation(f"{msg_code} violates its XSD: {summary}", rule="XSD")
    else:
        exc = RuleViolation(f"{msg_code} breaks iWlz rules: {summary}",
                            codes=list(dict.fromkeys(f.rule for f in findings)), rule=rules_of(findings))
    exc.__cause__ = IwlzFindings([c for f in findings for c in f.retour_codes()])
    return exc


class IwlzValidator:
    """Callable as the checker's validator: ``(kind, payload)``, raising a ``Rejected`` to refuse."""

    def __init__(self, schema_dir: Path | None) -> None:
        self.schema_dir = schema_dir

    def __call__(self, kind: Kind, payload: bytes) -> None:
        if self.schema_dir is None:
            raise ConfigError(f"kind {kind.name!r} needs the iWlz schemas but no schema_dir is configured")
        findings = check(self.schema_dir, kind.iwlz, payload)
        if findings:
            raise refusal(kind.iwlz, findings)
