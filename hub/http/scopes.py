"""The scopes a party's roles may hold (``zorghub tokens issue`` grants these by default).

They follow from the policy's query templates (which roles may use which template) and the kinds a
party may submit; see ``hub.http.authzen`` for their form.
"""

from __future__ import annotations

from hub.catalogue.parties import Party
from hub.http.authzen import scope_for


def default_scopes(party: Party) -> list[str]:
    from hub.flows.network.query import TEMPLATES

    out: list[str] = []
    for role in party.roles:
        out += [scope_for(role, "bevragen", t.name, "read") for t in TEMPLATES.values() if role in t.roles]
        out += [scope_for(role, "berichten", "*", "create"), scope_for(role, "notificaties", "notificatie", "create"),
                scope_for(role, "meldingen", "melding", "create")]
        out += [scope_for(role, "webhooks", "subscription", a) for a in ("create", "read", "update")]
        if role == "client":  # FHIR REST is for PGO apps
            out.append(scope_for(role, "fhir", "*", "read"))
    return out
