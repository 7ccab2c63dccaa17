"""Who may use the auditor's tools, and the audit trail of their use.

Only a party with the ``auditor`` role may search, export or replay. Every use is
an audit record (action ``audit.<what>``), and so is every refusal: a refused
attempt is as interesting to a supervisor as a granted one.
"""

from __future__ import annotations

import difflib
from typing import Any

import orjson

from hub.catalogue.parties import Party, PartyRegistry
from hub.errors import Forbidden
from hub.store.audit import AuditLog, AuditRecord

AUDITOR_ROLE = "auditor"


class AccessDenied(Forbidden):
    code = "AUDIT_ACCESS_DENIED"


class UnknownParty(AccessDenied):
    """``--as`` names no party: refused (and recorded) like any other, never replaced by a default."""

    code = "AUDIT_UNKNOWN_PARTY"


class Gate:
    """Checks the acting party and writes the access records."""

    def __init__(self, log: AuditLog, parties: PartyRegistry, source: str = "") -> None:
        self.log = log
        self.parties = parties
        self.source = source or f"{log.source}/cli"

    def require(self, as_party: str, what: str, *, client: str = "", detail: dict[str, Any] | None = None,
                roles: tuple[str, ...] = (AUDITOR_ROLE,)) -> Party:
        """The party, when it holds one of ``roles``; otherwise record the refusal and raise."""
        party = self.parties.find(as_party)
        if party is None:
            why = f"unknown party {as_party!r}"
            self.record(what, as_party, outcome="failure", client=client, reason=f"refused: {why}", detail=detail,
                        role="")
            raise UnknownParty(f"refused: {why}{self._hint(as_party, roles)}", rule="AUDIT_ACCESS_DENIED")
        if any(r in party.roles for r in roles):
            return party
        why = f"party {as_party!r} lacks the {' or '.join(roles)} role"
        self.record(what, as_party, outcome="failure", client=client, reason=f"refused: {why}", detail=detail,
                    role=",".join(party.roles))
        raise AccessDenied(f"refused: {why}; {what} of the audit log is for the {' or '.join(roles)} role only",
                           rule="AUDIT_ACCESS_DENIED")

    def _hint(self, name: str, roles: tuple[str, ...]) -> str:
        """A "did you mean" among the parties that hold one of ``roles``, else their names."""
        allowed = [p.name for p in self.parties if any(r in p.roles for r in roles)]
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            return f"; did you mean {close[0]!r}?"
        if allowed:
            return f"; the parties with the {' or '.join(roles)} role are: {', '.join(sorted(allowed))}"
        return f"; no party holds the {' or '.join(roles)} role"

    def record(self, what: str, actor: str, *, outcome: str = "success", client: str = "", reason: str = "",
               detail: dict[str, Any] | None = None, role: str | None = None, recipient: str = "",
               message_id: str = "") -> AuditRecord:
        if role is None:
            party = self.parties.find(actor)
            role = ",".join(party.roles) if party else ""
        rec = AuditRecord(action=f"audit.{what}", actor=actor, actor_role=role, outcome=outcome, client=client,
                          recipient=recipient, message_id=message_id, reason=reason, source=self.source,
                          record_type="AuditLog",
                          detail=orjson.dumps(detail).decode() if detail else "")
        return self.log.append([rec])[0]
