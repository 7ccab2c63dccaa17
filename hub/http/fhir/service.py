"""FHIR read and search over the registers, for PGO apps: one client per token, every read audited.

A reader is a party and the client its token is scoped to: the token's patient (the client's
BSN, also when a representative holds it), else a client party's own BSN. A token scoped to no
client reads nothing here. Every read and search is a network query (``QueryService``), so the
same policy decides per record and attribute and each decision is an audit record, as over AMQP.
A search for another client than the token's answers an empty Bundle and a read of another
client's record 403; both are audited as refusals. ``AuditEvent`` answers "who saw my data": the
access records about the reader's client (``hub.auditor.search.access_records``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hub.auditor.export import audit_event
from hub.auditor.search import access_records
from hub.catalogue.parties import Party
from hub.errors import Forbidden, Rejected
from hub.flows.network import Network
from hub.flows.network.fhir import BSN, RESOURCE_TYPES, SUBJECTS_BY_TYPE, to_fhir
from hub.flows.network.query import ALL_ROLES, Template
from hub.flows.network.registers import Record
from hub.formats import bsn as bsnlib
from hub.http.webhooks.shapes import validated
from hub.pipeline import record
from hub.store.audit import AuditLog, AuditRecord, now_iso

PATIENT_PARAMS = ("patient", "subject", "beneficiary", "identifier")
SEARCH_PARAMS = ("_id", *PATIENT_PARAMS, "_count", "_format")
SCOPE_RULE = "FHIR-PATIENT-SCOPE"


class NotFound(Rejected):
    """No such resource: nothing to retry."""


@dataclass(frozen=True)
class Call:
    """What the audit records of one HTTP request take from it (the fields ``hub.pipeline.record`` reads)."""

    kind: str
    message_id: str
    correlation_id: str = ""
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reader:
    party: Party
    patient: str = ""  # the BSN the token is scoped to; '' = the party's own, when it is a client


class FhirService:
    def __init__(self, net: Network, audit: AuditLog, base: str = "") -> None:
        self.net = net
        self.audit = audit
        self.base = base

    # ----- who may see whom ---------------------------------------------------------
    def client_of(self, reader: Reader) -> str:
        """The pseudonym of the one client this reader may see (``Forbidden`` when it is scoped to none)."""
        bsn = reader.patient or (reader.party.id if reader.party.id_type == "BSN" else "")
        if not bsnlib.is_valid(bsn):
            raise Forbidden("FHIR reads need a token scoped to one client (patient)", rule=SCOPE_RULE)
        return bsnlib.pseudonym(bsn, self.net.key)

    def _requested_client(self, reader: Reader, params: dict[str, str]) -> str:
        """The client a search names (by BSN or ``Patient/<id>``), else the reader's own."""
        own = self.client_of(reader)
        for name in PATIENT_PARAMS:
            value = params.get(name) or params.get(f"{name}:identifier") or ""
            if not value:
                continue
            if value.startswith("Patient/"):
                rec = self.net.registers.current("Clientgegevens", value[len("Patient/"):])
                return rec.client if rec else "(unknown)"
            system, _, bsn = value.rpartition("|")
            if system and system != BSN:
                raise Rejected(f"only BSN identifiers ({BSN}) name a client", rule="FHIR-SEARCH-PARAM")
            if not bsnlib.is_valid(bsn):
                raise Rejected(f"search parameter {name} must be a BSN that passes the elfproef", rule="INVALID_BSN")
            return bsnlib.pseudonym(bsn, self.net.key)
        return own

    def _refuse(self, reader: Reader, call: Call, client: str, what: str, rec: Record | None = None) -> AuditRecord:
        return record.new(call, action="authz.read", actor=reader.party.name, outcome="deny",
                          actor_role=",".join(reader.party.roles), client=client,
                          record_type=rec.subject if rec else "", record_id=rec.record_id if rec else "",
                          reason=f"rule {SCOPE_RULE}: deny read for {what} (another client than the token's)")

    def _write(self, records: list[AuditRecord]) -> None:
        if records:
            self.audit.append(record.stamp(records, record.source(self.audit.source, "http")))

    # ----- read and search ----------------------------------------------------------
    @staticmethod
    def subject_of(resource_type: str) -> str:
        subject = SUBJECTS_BY_TYPE.get(resource_type)
        if subject is None:
            raise NotFound(f"resource type {resource_type} is not offered; see /fhir/metadata", rule="NOT_SUPPORTED")
        return subject

    def read(self, reader: Reader, resource_type: str, rid: str, call: Call) -> dict[str, Any]:
        subject = self.subject_of(resource_type)
        own = self.client_of(reader)
        rec = self.net.registers.current(subject, rid)
        if rec is not None and rec.client != own:
            self._write([self._refuse(reader, call, rec.client, f"fhir read {resource_type}", rec)])
            raise Forbidden(f"{resource_type}/{rid} is not about the client this token is for", rule=SCOPE_RULE)
        found = self._query(reader, Template("fhir.read", ALL_ROLES, (), lambda *_: [rec] if rec else [],
                                             f"FHIR read {resource_type}"), {"id": rid}, call)
        if found:
            return found[0]
        if rec is None:
            raise NotFound(f"{resource_type}/{rid} is not known", rule="NOT_FOUND")
        raise Forbidden(f"{resource_type}/{rid}: the policy does not allow this read", rule="POLICY")

    def search(self, reader: Reader, resource_type: str, params: dict[str, str], call: Call) -> dict[str, Any]:
        unknown = sorted(set(params) - set(SEARCH_PARAMS) - {f"{p}:identifier" for p in PATIENT_PARAMS})
        if unknown:
            raise Rejected(f"search parameter {unknown[0]!r} is not supported; supported: {', '.join(SEARCH_PARAMS)}",
                           rule="FHIR-SEARCH-PARAM")
        if resource_type == "AuditEvent":
            return self.audit_events(reader, params, call)
        subject = self.subject_of(resource_type)
        own = self.client_of(reader)
        client = self._requested_client(reader, params)
        if client != own:
            self._write([self._refuse(reader, call, client if client.startswith("p-") else "",
                                      f"fhir search {resource_type}")])
            return self._bundle(resource_type, [])
        wanted = {i for i in (params.get("_id") or "").split(",") if i}
        tpl = Template("fhir.search", ALL_ROLES, (),
                       lambda net, _party, _params: [r for r in net.registers.for_client(client, (subject,))
                                                     if not wanted or r.record_id in wanted],
                       f"FHIR search {resource_type}")
        return self._bundle(resource_type, self._query(reader, tpl, dict(params), call))

    def _query(self, reader: Reader, tpl: Template, params: dict[str, Any], call: Call) -> list[dict[str, Any]]:
        records: list[AuditRecord] = []
        answer = self.net.query.run_template(reader.party, tpl, params, call, records)
        self._write(records)
        out = []
        for r in answer.get("results", []):
            rec = self.net.registers.current(r["subject"], r["recordID"])
            if rec is not None:
                out.append(self._render(dataclasses.replace(rec, data=r["data"])))
        return out

    @staticmethod
    def _render(rec: Record) -> dict[str, Any]:
        try:
            return to_fhir(rec)
        except (KeyError, ValueError) as exc:  # the policy left out a field the resource cannot do without
            raise Forbidden(f"{RESOURCE_TYPES[rec.subject]}/{rec.record_id}: the fields this party may see "
                            "do not make a valid resource", rule="POLICY-FIELDS") from exc

    def _bundle(self, resource_type: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
        return validated({
            "resourceType": "Bundle", "type": "searchset", "total": len(resources), "timestamp": now_iso(),
            "link": [{"relation": "self", "url": f"{self.base}{resource_type}"}],
            "entry": [{"fullUrl": f"{self.base}{res['resourceType']}/{res['id']}", "resource": res,
                       "search": {"mode": "match"}} for res in resources],
        })

    # ----- who saw my data ----------------------------------------------------------
    def audit_events(self, reader: Reader, params: dict[str, str], call: Call) -> dict[str, Any]:
        """The access records about the reader's client: who received or read its data, and who was refused."""
        own = self.client_of(reader)
        client = self._requested_client(reader, params)
        if client != own:
            self._write([self._refuse(reader, call, client if client.startswith("p-") else "",
                                      "fhir search AuditEvent")])
            return self._bundle("AuditEvent", [])
        events = [validated(audit_event(r, self.net.parties)) for r in access_records(self.audit, own)]
        self._write([record.new(call, action="network.query", actor=reader.party.name, outcome="allow",
                                actor_role=",".join(reader.party.roles), client=own,
                                reason=f"template fhir.auditevent: {len(events)} access record(s) of the client")])
        return self._bundle("AuditEvent", events)
