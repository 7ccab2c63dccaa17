"""The retourbericht: the iWlz answer to every heenbericht, accepted or refused.

An accepted message gets the retour with "no remark" (``0200``) on every record; a message the
iWlz validator refused gets the retour naming its retourcodes. Any other refusal (wrong sender,
too large, unparseable) gets the hub's JSON receipt, as does a message too broken to echo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.catalogue.kinds import Kind
from hub.errors import HubError
from hub.flows.iwlz.validate import IwlzFindings
from hub.pipeline.hooks import Answer
from mappings.retour import RETOUR, make_retour

if TYPE_CHECKING:
    from hub.pipeline.check import Checked


class RetourHook:
    """The answer hook for one iWlz kind (``kind.iwlz`` is its message code, e.g. ``AW35``)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.retour_kind = f"iwlz.{RETOUR[kind.iwlz][0]}"

    def accepted(self, checked: Checked) -> Answer | None:
        return Answer(self.retour_kind, make_retour(checked.envelope.payload, []))

    def rejected(self, kind: str, payload: bytes, error: HubError) -> Answer | None:
        findings = error.__cause__
        if not isinstance(findings, IwlzFindings):
            return None
        try:
            return Answer(self.retour_kind, make_retour(payload, findings.codes))
        except Exception:  # too broken to echo in a retourbericht: the sender gets the JSON receipt
            return None
