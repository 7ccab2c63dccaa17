"""The retourbericht: the iWlz answer to every heenbericht, accepted or refused.

An accepted message gets the retour with "no remark" (``0200``) on every record (and the history
rules remember it); a message the iWlz validator or the history rules refused gets the retour
naming each failing rule's retourcode on its berichtklasse; a message the hub could not
deliver (no recipient for its ``Ontvanger``, no mapping to the recipient's format, an internal
error: any dead letter that is not the sender's mistake) gets the retour that rejects it whole
(``UNDELIVERABLE``). Any other refusal (wrong sender, too large, unparseable) gets the hub's JSON
receipt, as does a message too broken to echo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.catalogue.kinds import Kind
from hub.errors import HubError, Rejected, Unmapped
from hub.flows.iwlz.validate import IwlzFindings
from hub.pipeline.hooks import Answer
from mappings.retour import REJECTED, RETOUR, make_retour

if TYPE_CHECKING:
    from hub.flows.iwlz.history import History
    from hub.pipeline.check import Checked

#: The retourcode for a heenbericht the hub cannot deliver. COD910 (Retourcode, iWlz 2.2) has no
#: current code for an unknown or unreachable addressee: the codes that named one, ``1002``
#: "ZORGKANTOOR ontbreekt of is onjuist" and its ``(01)``/``(02)`` variants ``1300``/``1089``,
#: expired on 2018-04-01, before iWlz 2.2. What remains is ``0001`` "Bericht is afgekeurd om
#: technische redenen", set in the header: the message as a whole is not processed, and the retour
#: repeats the header only. The precise reason (rule ``NO_ROUTE``, ``REGION``, ``NO_MAPPING``...)
#: stays with the dead letter, where an operator finds it.
UNDELIVERABLE = REJECTED


class RetourHook:
    """The answer hook for one iWlz kind (``kind.iwlz`` is its message code, e.g. ``AW35``)."""

    def __init__(self, kind: Kind, history: History | None = None) -> None:
        self.kind = kind
        self.retour_kind = f"iwlz.{RETOUR[kind.iwlz][0]}"
        self.history = history

    def accepted(self, checked: Checked) -> Answer | None:
        if self.history is not None:  # delivered: the history rules remember it, in the batch's transaction
            self.history.record(checked)
        return Answer(self.retour_kind, make_retour(checked.envelope.payload, []))

    def rejected(self, kind: str, payload: bytes, error: HubError) -> Answer | None:
        codes = retour_codes(error)
        if codes is None:
            return None
        try:
            return Answer(self.retour_kind, make_retour(payload, codes))
        except Exception:  # too broken to echo in a retourbericht: the sender gets the JSON receipt
            return None


def retour_codes(error: HubError) -> list[str] | None:
    """The retourcodes answering ``error``, or None when the JSON receipt answers it.

    The validator's findings carry their own codes. A dead letter that is not the sender's mistake
    (``NoRoute``, a missing mapping, an internal error), or a mapping that cannot carry the data
    (``Unmapped``), comes after the message passed the iWlz checks: it is undeliverable.
    """
    findings = error.__cause__
    if isinstance(findings, IwlzFindings):
        return list(findings.codes)
    if isinstance(error, Unmapped) or not isinstance(error, Rejected):
        return [UNDELIVERABLE]
    return None
