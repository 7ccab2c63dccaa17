"""The decision between the enforcement point (the routes) and the policy, as an AuthZEN evaluation.

The routes ask ``pdp.evaluate(request)`` with an AuthZEN 1.0 access evaluation request (``subject``,
``action``, ``resource``, ``context``) and get ``{"decision": bool, "context": {...}}`` back. The
built-in decision point maps the token's scopes onto the policy file's roles and query templates; an
external one (``http_pdp_url``) gets the same JSON at ``/access/v1/evaluation``.

Scopes, in the network's form ``organisaties/<role>/<resource>:<action>``:

- ``organisaties/<role>/bevragen/<template>:read`` (or ``.../bevragen/*:read``): a query template;
- ``organisaties/<role>/berichten/<kind>:create`` (or ``.../berichten/*:create``): submit a message;
- ``organisaties/<role>/notificaties/notificatie:create``, ``.../meldingen/melding:create``: the
  netwerkpunt's mutations.

A scope counts only for a role the party holds in the registry: a token cannot widen a party's roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import httpx

from hub.app import HubApp
from hub.settings import Settings


class DecisionPoint(Protocol):
    def evaluate(self, request: dict[str, Any]) -> dict[str, Any]: ...


def evaluation(party: str, roles: Iterable[str], scopes: Iterable[str], action: str, resource_type: str,
               resource_id: str, **context: Any) -> dict[str, Any]:
    """An AuthZEN access evaluation request."""
    return {"subject": {"type": "party", "id": party,
                        "properties": {"roles": sorted(roles), "scopes": sorted(scopes)}},
            "action": {"name": action},
            "resource": {"type": resource_type, "id": resource_id},
            "context": context}


def scope_for(role: str, resource_type: str, resource_id: str, action: str) -> str:
    return f"organisaties/{role}/{resource_type}/{resource_id}:{action}"


class LocalDecisionPoint:
    """Scopes against the registry's roles: the first role of the party whose scope grants it decides."""

    def __init__(self, hub: HubApp) -> None:
        self.hub = hub

    def evaluate(self, request: dict[str, Any]) -> dict[str, Any]:
        subject, action = request["subject"], request["action"]["name"]
        resource = request["resource"]
        party = self.hub.parties.get(subject["id"]) if subject["id"] in self.hub.parties else None
        if party is None:
            return _deny("UNKNOWN-PARTY", f"{subject['id']!r} is not a party of this hub")
        scopes = set(subject.get("properties", {}).get("scopes", ()))
        for role in party.roles:
            for rid in (resource["id"], "*"):
                scope = scope_for(role, resource["type"], rid, action)
                if scope in scopes:
                    return {"decision": True, "context": {"rule": f"SCOPE:{scope}", "role": role}}
        wanted = scope_for(party.roles[0] if party.roles else "<role>", resource["type"], resource["id"], action)
        return _deny("SCOPE", f"the token lacks the scope {wanted}")


class RemoteDecisionPoint:
    """An external AuthZEN PDP; any failure to get an answer is a deny (deny by default)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/access/v1/evaluation"
        self.client = httpx.Client(timeout=5.0)

    def evaluate(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.post(self.url, json=request)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return _deny("PDP-UNAVAILABLE", f"the decision point gave no answer: {exc.__class__.__name__}")
        if not isinstance(answer.get("decision"), bool):
            return _deny("PDP-ANSWER", "the decision point's answer has no boolean decision")
        return answer


def _deny(rule: str, reason: str) -> dict[str, Any]:
    return {"decision": False, "context": {"rule": rule, "reason_user": {"en": reason}}}


def reason_of(answer: dict[str, Any]) -> str:
    ctx = answer.get("context") or {}
    return str((ctx.get("reason_user") or {}).get("en") or ctx.get("rule") or "denied")


def decision_point(settings: Settings, hub: HubApp) -> DecisionPoint:
    return RemoteDecisionPoint(settings.http_pdp_url) if settings.http_pdp_url else LocalDecisionPoint(hub)
