"""The FHIR part's paths as OpenAPI 3.1 (``paths(prefix)``), for the server's ``/openapi.json``.

The bodies are FHIR R4 JSON; the schemas here say only what every answer has (a ``resourceType``)
and which statuses a path can answer: the FHIR profiles themselves are the contract for the rest.
"""

from __future__ import annotations

from typing import Any

from hub.flows.network.authz import POLICY_PATH, Policy
from hub.flows.network.fhir import SUBJECTS_BY_TYPE
from hub.flows.network.notify import Notifier
from hub.http.webhooks.shapes import FILTER_EXT, TOPIC

FHIR_JSON = "application/fhir+json"
SEARCHABLE = sorted([*SUBJECTS_BY_TYPE, "AuditEvent", "Subscription"])

RESOURCE: dict[str, Any] = {"type": "object", "required": ["resourceType"],
                            "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}}}
OUTCOME: dict[str, Any] = {"type": "object", "required": ["resourceType", "issue"],
                           "properties": {"resourceType": {"const": "OperationOutcome"},
                                          "issue": {"type": "array", "items": {"type": "object"}}}}
BUNDLE: dict[str, Any] = {"type": "object", "required": ["resourceType", "type"],
                          "properties": {"resourceType": {"const": "Bundle"}, "type": {"type": "string"},
                                         "total": {"type": "integer", "minimum": 0},
                                         "entry": {"type": "array", "items": {"type": "object"}}}}


def subscription_body() -> dict[str, Any]:
    """What ``POST /fhir/Subscription`` takes: exactly the R4 Subscription shape the hub serves."""
    known = "|".join(Notifier.all_event_types(Policy.load(POLICY_PATH).notify))
    return {"type": "object", "required": ["resourceType", "reason", "criteria", "channel"],
            "additionalProperties": False, "properties": {
        "resourceType": {"const": "Subscription"},
        "status": {"enum": ["requested", "active", "error", "off"], "description": "ignored: a new one is requested"},
        "reason": {"type": "string", "pattern": "^[!-~][ -~]*$"},
        "criteria": {"const": TOPIC},
        "_criteria": {"type": "object", "required": ["extension"], "additionalProperties": False, "properties": {
            "extension": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["url", "valueString"], "additionalProperties": False,
                "properties": {"url": {"const": FILTER_EXT},
                               "valueString": {"type": "string", "pattern": f"^eventType=({known})(,({known}))*$"}}}}}},
        "channel": {"type": "object", "required": ["type", "endpoint"], "additionalProperties": False, "properties": {
            "type": {"const": "rest-hook"},
            "endpoint": {"type": "string",
                         "pattern": "^https?://[a-z0-9][a-z0-9.-]{0,60}(:[0-9]{1,5})?(/[A-Za-z0-9._~-]{0,40})*$"},
            "payload": {"const": "application/fhir+json"},
            "header": {"type": "array",
                       "items": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9-]{0,40}: [!-~]{1,200}$"}},
        }},
    }}


STATUS_BODY: dict[str, Any] = {"type": "object", "required": ["status"],
                               "properties": {"status": {"enum": ["requested", "off"]}}}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


def _answers(ok: dict[str, Any], ok_status: str = "200", *, auth: bool = True) -> dict[str, Any]:
    out = {ok_status: ok}
    refusals = {"400": "a parameter or body the part does not take", "404": "no such resource (type)",
                "503": "the store is busy or away: try again"}
    if auth:
        refusals |= {"401": "no valid access token", "403": "not allowed: scope, policy or another client",
                     "429": "over the party's request rate"}
    out |= {code: _body(OUTCOME, why) for code, why in refusals.items()}
    return out


def _with_body(answers: dict[str, Any]) -> dict[str, Any]:
    """A body too large is refused before any route, in the server's own error form."""
    return {**answers, "413": {"description": "the body is too large", "content": {"application/json": {
        "schema": {"type": "object", "required": ["status", "reason"]}}}}}


def _id(name: str = "id") -> dict[str, Any]:
    """A FHIR id (R4 ``id``: letters, digits, '-' and '.', at most 64)."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string",
                                                                       "pattern": "^[A-Za-z0-9.-]{1,64}$"}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def paths(prefix: str = "/fhir") -> dict[str, Any]:
    rtype = {"name": "type", "in": "path", "required": True, "schema": {"enum": SEARCHABLE}}
    patient = _query("patient", "the client: a BSN, bsn-system|BSN or Patient/<id>; only the token's own")
    sub = f"{prefix}/Subscription/{{id}}"
    number = {"type": "integer", "minimum": 1, "maximum": 2**62}
    events = [_query("eventsSinceNumber", "the first event number", number),
              _query("eventsUntilNumber", "the last event number", number)]
    return {
        f"{prefix}/metadata": {"get": {"summary": "the CapabilityStatement", "tags": ["fhir"],
                                       "operationId": "fhirMetadata",
                                       "responses": _answers(_body(RESOURCE, "CapabilityStatement"), auth=False)}},
        f"{prefix}/{{type}}": {"get": {
            "summary": "search: the token's client's records of this type, or its AuditEvents, or own Subscriptions",
            "tags": ["fhir"], "parameters": [rtype, patient, _query("_id", "record ids, comma-separated")],
            "operationId": "fhirSearch", "security": [{"bearer": []}],
            "responses": _answers(_body(BUNDLE, "a searchset Bundle"))}},
        f"{prefix}/{{type}}/{{id}}": {"get": {
            "summary": "read one resource", "tags": ["fhir"], "parameters": [rtype, _id()],
            "operationId": "fhirRead", "security": [{"bearer": []}],
            "responses": _answers(_body(RESOURCE, "the resource"))}},
        f"{prefix}/Subscription": {"post": {
            "summary": "a rest-hook Subscription (Backport style): requested until its endpoint answers the handshake",
            "tags": ["webhooks"],
            "requestBody": {"required": True, "content": {FHIR_JSON: {"schema": subscription_body()}}},
            "operationId": "fhirSubscriptionCreate", "security": [{"bearer": []}],
            "responses": _with_body(_answers(_body(RESOURCE, "the Subscription as stored"), "201"))}},
        sub: {
            "put": {"summary": "set status requested (restart) or off (end)", "tags": ["webhooks"],
                    "parameters": [_id()],
                    "requestBody": {"required": True, "content": {FHIR_JSON: {"schema": STATUS_BODY}}},
                    "operationId": "fhirSubscriptionUpdate", "security": [{"bearer": []}],
                    "responses": _with_body(_answers(_body(RESOURCE, "the Subscription")))},
            "delete": {"summary": "end the subscription (status off)", "tags": ["webhooks"], "parameters": [_id()],
                       "operationId": "fhirSubscriptionEnd", "security": [{"bearer": []}],
                       "responses": _answers(_body(RESOURCE, "the Subscription"))}},
        f"{sub}/$status": {"get": {"summary": "the SubscriptionStatus", "tags": ["webhooks"], "parameters": [_id()],
                                   "operationId": "fhirSubscriptionStatus", "security": [{"bearer": []}],
                                   "responses": _answers(_body(BUNDLE, "a Bundle with the status"))}},
        f"{sub}/$events": {"get": {"summary": "the subscription's events by number", "tags": ["webhooks"],
                                   "parameters": [_id(), *events],
                                   "operationId": "fhirSubscriptionEvents", "security": [{"bearer": []}],
                                   "responses": _answers(_body(BUNDLE, "a history Bundle of the events"))}},
    }
