"""The CapabilityStatement at ``/fhir/metadata``: what the FHIR part offers, derived from what it serves."""

from __future__ import annotations

from typing import Any

from hub.flows.network.fhir import SUBJECTS_BY_TYPE
from hub.http.webhooks.shapes import TOPIC, validated
from hub.store.audit import now_iso

_PATIENT = {"name": "patient", "type": "reference",
            "documentation": "the client, by BSN (system|value) or Patient/<id>; only the token's own client"}
_ID = {"name": "_id", "type": "token"}


def _resource(rtype: str) -> dict[str, Any]:
    return {"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [_ID, _PATIENT], "documentation": f"the register record {SUBJECTS_BY_TYPE[rtype]}"}


def capability_statement(base: str = "") -> dict[str, Any]:
    resources = [_resource(t) for t in sorted(SUBJECTS_BY_TYPE)]
    resources.append({"type": "AuditEvent", "interaction": [{"code": "search-type"}], "searchParam": [_PATIENT],
                      "documentation": "who received, read or was refused the client's data"})
    resources.append({
        "type": "Subscription",
        "interaction": [{"code": c} for c in ("create", "read", "update", "delete", "search-type")],
        "operation": [{"name": "status", "definition": "http://hl7.org/fhir/uv/subscriptions-backport/"
                                                       "OperationDefinition/backport-subscription-status"},
                      {"name": "events", "definition": "http://hl7.org/fhir/uv/subscriptions-backport/"
                                                       "OperationDefinition/backport-subscription-events"}],
        "documentation": f"rest-hook subscriptions to the topic {TOPIC}, handshake first, events numbered",
    })
    return validated({
        "resourceType": "CapabilityStatement", "status": "active", "date": now_iso(), "kind": "instance",
        "name": "ZorghubFhir", "title": "zorghub FHIR REST for PGO apps",
        "implementation": {"description": "zorghub registers as FHIR R4", "url": base or "/fhir"},
        "fhirVersion": "4.0.1", "format": ["application/fhir+json", "json"],
        "rest": [{"mode": "server",
                  "security": {"description": "OAuth2 bearer token (JWT); a patient-scoped token reads one client"},
                  "resource": resources}],
    })
