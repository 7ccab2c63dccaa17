"""The iWlz check at the door: the official XSD, then the business rules (the official XSLT).

Registered by the iWlz flow as the checker's validator for every kind with an ``iwlz`` message
code. A failure raises the core's ``SchemaViolation`` or ``RuleViolation``, caused by an
``IwlzFindings`` that carries the retourcodes, so the answer hook can name them in the
retourbericht without the core knowing what a retourcode is.
"""

from __future__ import annotations

from pathlib import Path

from hub.catalogue.kinds import Kind
from hub.errors import ConfigError, HubError, RuleViolation, SchemaViolation
from hub.formats.iwlz import Validator


class IwlzFindings(Exception):
    """The retourcodes of a refused iWlz message (``code`` or ``code@location``), as the cause of the refusal."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


class IwlzValidator:
    """Callable as the checker's validator: ``(kind, payload)``, raising a ``Rejected`` to refuse."""

    def __init__(self, schema_dir: Path | None) -> None:
        self.schema_dir = schema_dir

    def __call__(self, kind: Kind, payload: bytes) -> None:
        if self.schema_dir is None:
            raise ConfigError(f"kind {kind.name!r} needs the iWlz schemas but no schema_dir is configured")
        issues, codes = Validator(self.schema_dir).check_for_retour(kind.iwlz, payload)
        if not issues:
            return
        summary = "; ".join(f"{code}: {msg}" for code, msg in issues[:5])
        exc: HubError
        if any(code == "XSD" for code, _ in issues):
            exc = SchemaViolation(f"{kind.iwlz} violates its XSD: {summary}", rule="XSD")
        else:
            exc = RuleViolation(f"{kind.iwlz} breaks iWlz rules: {summary}", codes=[c for c, _ in issues])
        raise exc from IwlzFindings(codes or ["0001"])
