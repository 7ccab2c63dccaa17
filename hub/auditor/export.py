"""Export the audit trail: a FHIR R4 AuditEvent Bundle (validated with fhir.resources R4B) or CSV.

One audit record is one AuditEvent, in NEN 7513 terms:
- event: ``type``/``subtype`` (DICOM code and the hub's action), ``action``, ``recorded``, ``outcome``;
- user: ``agent`` (the acting party with its roles, requestor; the party it acted for; the recipient);
- object: ``entity`` (client by pseudonym, register record, message with kind, mapping and payload hash);
- source: ``source`` (hub node and adapter), and the W3C trace id on the chain entity.
The chain position (seq, hash, prev_hash) travels along, so an export can be checked against the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from fhir.resources.R4B.auditevent import AuditEvent

from hub.catalogue.parties import PartyRegistry
from hub.store.audit import AuditRecord

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACTION_SYSTEM = "urn:zorghub:audit-action"
PARTY_SYSTEM = "urn:zorghub:party"
ROLE_SYSTEM = "urn:zorghub:party-role"
CLIENT_SYSTEM = "urn:zorghub:client-pseudonym"
MESSAGE_SYSTEM = "urn:zorghub:message-id"
RECORD_SYSTEM = "urn:zorghub:record"
CHAIN_SYSTEM = "urn:zorghub:audit-chain"

# action -> (DICOM event type code, display, FHIR action code)
EVENT_TYPES: dict[str, tuple[str, str, str]] = {
    "received": ("110107", "Import", "C"),
    "routed": ("110100", "Application Activity", "E"),
    "delivered": ("110106", "Export", "R"),
    "notified": ("110106", "Export", "R"),
    "replayed": ("110106", "Export", "R"),
    "replied": ("110106", "Export", "R"),
    "receipt": ("110106", "Export", "R"),
    "proposed": ("110106", "Export", "R"),
    "queried": ("110112", "Query", "E"),
    "query": ("110112", "Query", "E"),
    "network.query": ("110112", "Query", "E"),
    "authz.read": ("110110", "Patient Record", "R"),
    "authz.write": ("110110", "Patient Record", "U"),
    "network.write": ("110110", "Patient Record", "U"),
    "rejected": ("110107", "Import", "E"),
    "dead_lettered": ("110107", "Import", "E"),
    "deferred": ("110107", "Import", "E"),
    "checkpoint": ("110100", "Application Activity", "E"),
}
AUDIT_USE = ("110101", "Audit Log Used")
AUDIT_ACTIONS = {"search": "R", "who-has-seen": "R", "export": "R", "replay": "E", "dry-run": "E",
                 "prune": "D", "verify": "E"}


def _outcome(rec: AuditRecord) -> str:
    if rec.outcome in ("success", "allow"):
        return "0"
    if rec.action == "dead_lettered":
        return "8"
    return "4"


def _event_type(rec: AuditRecord) -> tuple[str, str, str]:
    if rec.action.startswith("audit."):
        return (*AUDIT_USE, AUDIT_ACTIONS.get(rec.action[len("audit."):], "E"))
    code, display, action = EVENT_TYPES.get(rec.action, ("110100", "Application Activity", "E"))
    if rec.action == "network.write":  # the register write: new, changed or deleted record
        reason = rec.reason.lower()
        action = "C" if reason.startswith("nieuw") else "D" if reason.startswith("verwijder") else "U"
    return code, display, action


def _recorded(ts: str) -> str:
    if not ts:
        return datetime.now(UTC).isoformat()
    return ts.replace("Z", "+00:00") if ts.endswith("Z") else ts


def _party_ref(name: str, parties: PartyRegistry | None) -> dict[str, Any]:
    party = parties.find(name) if parties is not None else None
    ref: dict[str, Any] = {"identifier": {"system": PARTY_SYSTEM, "value": name}}
    ref["display"] = party.label if party is not None else name  # a label never holds a BSN
    return ref


def audit_event(rec: AuditRecord, parties: PartyRegistry | None = None) -> dict[str, Any]:
    """The AuditEvent resource (as a dict) for one audit record."""
    code, display, action = _event_type(rec)
    requestor: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": _party_ref(rec.actor, parties),
        "requestor": True,
    }
    if rec.actor_role:
        requestor["role"] = [{"coding": [{"system": ROLE_SYSTEM, "code": r}]} for r in rec.actor_role.split(",")
                             if r]
    agents = [requestor]
    if rec.on_behalf_of:
        agents.append({"type": {"coding": [{"system": PARTICIPATION, "code": "RESP", "display": "responsible party"}]},
                       "who": _party_ref(rec.on_behalf_of, parties), "requestor": False})
    if rec.recipient:
        agents.append({"type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
                       "who": _party_ref(rec.recipient, parties), "requestor": False})
    entities: list[dict[str, Any]] = []
    if rec.client:
        entities.append({"what": {"identifier": {"system": CLIENT_SYSTEM, "value": rec.client}},
                         "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                         "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}})
    if rec.record_type or rec.record_id:
        entities.append({"what": {"identifier": {"system": RECORD_SYSTEM,
                                                 "value": f"{rec.record_type}/{rec.record_id}".strip("/")}},
                         "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                         "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
                         "name": rec.record_type or None})
    if rec.message_id:
        details = [("kind", rec.kind), ("correlation_id", rec.correlation_id), ("mapping", rec.mapping),
                   ("mapping_version", rec.mapping_version), ("payload_sha256", rec.payload_sha256)]
        entities.append({"what": {"identifier": {"system": MESSAGE_SYSTEM, "value": rec.message_id}},
                         "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                         "name": rec.kind or None,
                         "detail": [{"type": t, "valueString": v} for t, v in details if v] or None})
    chain = [("seq", str(rec.seq)), ("hash", rec.hash), ("prev_hash", rec.prev_hash), ("traceparent", rec.trace_id)]
    entities.append({"what": {"identifier": {"system": CHAIN_SYSTEM, "value": str(rec.seq)}},
                     "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                     "description": "position in the hub's hash-chained audit log",
                     "detail": [{"type": t, "valueString": v} for t, v in chain if v]})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"zorghub-{rec.seq}",
        "type": {"system": DCM, "code": code, "display": display},
        "subtype": [{"system": ACTION_SYSTEM, "code": rec.action}],
        "action": action,
        "recorded": _recorded(rec.ts),
        "outcome": _outcome(rec),
        "outcomeDesc": rec.reason or None,
        "agent": agents,
        "source": {"site": rec.source or None,
                   "observer": {"identifier": {"system": "urn:zorghub:node",
                                               "value": (rec.source or "zorghub").split("/")[0]},
                                "display": "zorghub"},
                   "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]},
        "entity": entities,
    }
    return _prune(event)


def _prune(value: Any) -> Any:
    """Drop None and empty values: FHIR forbids empty elements."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v not in ({}, [], "")}
    if isinstance(value, list):
        return [_prune(v) for v in value if v is not None]
    return value


def _full_url(rec: AuditRecord) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'zorghub-audit:{rec.seq}:{rec.hash}')}"


def write_bundle(records: Iterable[AuditRecord], out: IO[bytes], parties: PartyRegistry | None = None,
                 *, validate: bool = True) -> int:
    """Stream a Bundle of type ``collection``; each AuditEvent is validated by fhir.resources first."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    out.write(b'{"resourceType":"Bundle","id":"' + uuid.uuid4().hex.encode() + b'","type":"collection",'
              b'"timestamp":"' + stamp.encode() + b'","entry":[')
    n = 0
    for rec in records:
        event = audit_event(rec, parties)
        if validate:
            AuditEvent.model_validate(event)
        out.write((b"," if n else b"") + orjson.dumps({"fullUrl": _full_url(rec), "resource": event}))
        n += 1
    out.write(b"]}")
    return n


def bundle_bytes(records: Iterable[AuditRecord], parties: PartyRegistry | None = None) -> bytes:
    import io

    buf = io.BytesIO()
    write_bundle(records, buf, parties)
    return buf.getvalue()
