"""Melden: the owner reports a new, changed or withdrawn record to its register.

Runs inside the batch's database transaction: the new version, the
notification sequence numbers and the audit records (including the
'delivered' records that are the outbox) commit together.

- Only the owner writes: the authorisation policy decides (``action = "write"``)
  and the decision is audited with its rule; a refused melding gets a receipt
  naming the rule, and nothing is written. After an effective Overdracht the
  new zorgkantoor keeps the bemiddeling's records: the versions it writes are
  stored as its own, the old zorgkantoor's versions stay as they were.
- Idempotent: a melding whose record equals the current version changes
  nothing and notifies no one.
- A record whose parent (a bemiddeling's indicatie, a zorglevering's
  toewijzing) is not there yet is held through the retry path, not lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from hub.catalogue.parties import Party
from hub.catalogue.schemas import load_json_schema
from hub.envelope import Delivery, Envelope
from hub.errors import Forbidden, Rejected, RetryLater
from hub.flows.network.notify import region_code
from hub.flows.network.registers import SUBJECTS, Record
from hub.formats import bsn as bsnlib
from hub.pipeline import outbox, record
from hub.pipeline.check import Checked
from hub.store.audit import AuditRecord
from hub.transports.base import Outgoing

if TYPE_CHECKING:
    from hub.flows.network import Network
    from hub.pipeline.context import HandlerContext

RECEIPT_KIND = outbox.RECEIPT_KIND
SCHEMAS = Path(__file__).resolve().parent / "schemas"  # this flow's schema folder


def validate_record(subject: str, data: dict[str, Any], action: str) -> None:
    spec = SUBJECTS.get(subject)
    if spec is None:
        raise Rejected(f"unknown subject {subject!r}; known: {', '.join(SUBJECTS)}", rule="SUBJECT")
    if action == "ingetrokken":
        if not data.get(spec.id_field):
            raise Rejected(f"{subject}: a withdrawal names the record by {spec.id_field}", rule="SCHEMA:required")
        return
    schema = load_json_schema(str(SCHEMAS / f"{subject}.schema.json"))
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if err is not None:
        where = "/" + "/".join(str(p) for p in err.absolute_path)
        raise Rejected(f"{subject}{where}: {bsnlib.redact(err.message)}", rule=f"SCHEMA:{err.validator}")


def reply_record(env: Envelope, party: Party, action: str, reason: str, client: str = "", subject: str = "",
                 record_id: str = "") -> AuditRecord:
    """The record of a message the hub sends ``party`` about ``env`` (a receipt, an answer, a notice)."""
    return record.by_hub(env, action, party.name, reason, client=client, record_type=subject, record_id=record_id)


def _next_owner(net: Network, party: Party, existing: Record | None) -> str:
    """The owner stored with the next version: the writer when it keeps the record (or it is new).

    After an Overdracht the new zorgkantoor keeps the bemiddeling's records, so
    the versions it writes are its own; earlier versions keep their owner.
    """
    if existing is None or net.authz.keeps(party, existing):
        return party.name
    return existing.owner


def apply(net: Network, ctx: HandlerContext, party: Party, env: Envelope, subject: str, action: str,
          data: dict[str, Any]) -> tuple[Record | None, list[Delivery], Outgoing]:
    """Write one melding; returns the new version (None when refused or unchanged), deliveries and a receipt."""
    validate_record(subject, data, action)
    spec = SUBJECTS[subject]
    record_id = str(data[spec.id_field])
    existing = net.registers.current(subject, record_id)
    if subject == "WlzIndicatie" and action != "ingetrokken" and not data.get("initieelVerantwoordelijkZorgkantoor"):
        code = region_code(data, net.regions)
        if code is None:
            raise Rejected("the client's address is not in the region table: no zorgkantoor", rule="REGION")
        data = {**data, "initieelVerantwoordelijkZorgkantoor": code}
    if action == "nieuw" and existing is not None and existing.data != data:
        raise Rejected(f"{subject} {record_id} exists already: report a change as 'gewijzigd'",
                       rule="RECORD_EXISTS")
    if action != "nieuw" and existing is None:
        raise Rejected(f"{subject} {record_id} is not in the register", rule="RECORD_UNKNOWN")
    if action == "ingetrokken":
        assert existing is not None
        data = {**existing.data, **data}
    # the client and, for dependent records, the parent
    parent_id = ""
    if spec.parent:
        field, parent_subject = spec.parent
        parent_id = str(data.get(field) or (existing.parent_id if existing else ""))
        parent = net.registers.current(parent_subject, parent_id)
        if parent is None:
            raise RetryLater(f"{subject} {record_id} refers to {parent_subject} {parent_id}, which the register "
                             "does not hold yet: held for a retry", rule="PARENT_UNKNOWN")
        client = parent.client
    else:
        bsn = str(data.get("bsn") or (existing.data.get("bsn") if existing else ""))
        if not bsnlib.is_valid(bsn):
            raise Rejected(f"{subject}: the client's BSN fails the elfproef", rule="INVALID_BSN")
        client = bsnlib.pseudonym(bsn, net.key)
    status = "ingetrokken" if action == "ingetrokken" else "actief"
    candidate = Record(subject, record_id, 0, spec.register, client, _next_owner(net, party, existing),
                       status, parent_id, data, "")
    decision = net.authz.decide(party, "write", candidate, existing)
    ctx.records.append(net.authz.record(decision, party, "write", candidate, env,
                                        purpose=f"melden {action} in {spec.register}"))
    if not decision.allowed:
        # the decision record above survives the raise; the write itself is rolled back and dead-lettered
        raise Forbidden(f"{party.name} may not write {subject} {record_id} to the {spec.register}: "
                        f"rule {decision.rule}", rule=decision.rule)
    if existing is not None and existing.data == data and existing.status == status:
        ctx.records.append(reply_record(env, party, "network.unchanged", f"{subject} {record_id} unchanged "
                                        f"(version {existing.version})", client, subject, record_id))
        return None, [], outbox.receipt(ctx.app.topology, env, "unchanged", "UNCHANGED",
                                        "the register already holds this version",
                                        subject=subject, recordID=record_id, version=existing.version)
    rec = net.registers.append(subject, record_id, client=client, owner=candidate.owner, status=status,
                               parent_id=parent_id, data=data, message_id=env.message_id)
    ctx.records.append(record.about(env, ",".join(party.roles), "network.write", client=client, record_type=subject,
                                    record_id=record_id, reason=f"{action}: {spec.register} version {rec.version}"))
    deliveries = net.notifier.notify(rec, action, party, env, net.policy.notify, ctx.records)
    for speak in net.speakers:
        deliveries = speak(net, ctx, rec, action, env, deliveries)
    return rec, deliveries, outbox.receipt(ctx.app.topology, env, "accepted", "OK",
                                           f"{subject} {record_id} version {rec.version}",
                                           subject=subject, recordID=record_id, version=rec.version)


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    from hub.flows.network import network_of

    net = network_of(ctx.app)
    env = checked.envelope
    party = ctx.app.parties.get(env.sender)
    doc = checked.document.json
    rec, deliveries, rcpt = apply(net, ctx, party, env, doc["subject"], doc["actie"], doc["record"])
    ctx.outgoing.append((rcpt, reply_record(env, party, "replied", f"melding receipt: {rcpt.headers['x-status']}",
                                           rec.client if rec else "", doc["subject"],
                                           rec.record_id if rec else "")))
    return deliveries
