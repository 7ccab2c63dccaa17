"""Terugmelden: a party reports an error in another party's record to its owner.

Like the iWlz IWLZFOUTMELDING, a terugmelding names the record (subject and
recordID) and a rule code, with a free-text explanation. Only a party allowed
to read the record may report on it. The hub stores it, routes it to the
record's owner (kind ``network.terugmelding``) and tracks its status:
``ingediend`` until the owner decides (kind ``network.terugmelding.besluit``):
``geaccepteerd`` (optionally with the corrected record, written and notified
as any melding) or ``afgewezen`` with a reason. The reporter is told the
outcome (kind ``network.terugmelding.uitkomst``); either side can query the
status (template ``terugmelding``).

The owner here is the party that keeps the record now (``Network.keeper``):
after an effective Overdracht that is the new zorgkantoor for the
bemiddeling's records, since only it can write the corrected version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from hub.catalogue.parties import Party
from hub.envelope import Delivery, Envelope
from hub.errors import Rejected
from hub.flows.network.melden import apply, reply_record
from hub.flows.network.query import answer_outgoing
from hub.flows.network.registers import SUBJECTS, Record
from hub.pipeline import outbox
from hub.pipeline.check import Checked
from hub.store.audit import AuditRecord, now_iso
from hub.store.db import Database
from hub.store.flows.network import TerugmeldingRows

if TYPE_CHECKING:
    from hub.flows.network import Network
    from hub.pipeline.context import HandlerContext

REPORT_KIND = "network.terugmelding"
OUTCOME_KIND = "network.terugmelding.uitkomst"
CONFIRM_KIND = "network.terugmelding.bevestiging"

@dataclass(frozen=True)
class Terugmelding:
    id: str
    reporter: str
    owner: str
    subject: str
    record_id: str
    version: int
    regelcode: str
    toelichting: str
    status: str
    reden: str
    correctie_version: int | None
    ts: str
    decided_ts: str

    def as_json(self) -> dict[str, Any]:
        return {"terugmeldingID": self.id, "subject": self.subject, "recordID": self.record_id,
                "version": self.version, "regelcode": self.regelcode, "toelichting": self.toelichting,
                "status": self.status, "reden": self.reden, "correctieVersie": self.correctie_version,
                "ingediend": self.ts, "besloten": self.decided_ts or None}


class Terugmeldingen:
    def __init__(self, db: Database, net: Network) -> None:
        self.db = db
        self.net = net
        self.rows = TerugmeldingRows(db)

    def get(self, tid: str) -> Terugmelding | None:
        r = self.rows.get(tid)
        if r is None:
            return None
        return Terugmelding(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), str(r[6]),
                            str(r[7]), str(r[8]), str(r[9]), None if r[10] is None else int(r[10]), str(r[11]),
                            str(r[12]))

    def all(self) -> list[Terugmelding]:
        return [t for t in map(self.get, self.rows.ids()) if t]

    # ----- reporting ---------------------------------------------------------------------
    def report(self, ctx: HandlerContext, party: Party, env: Envelope, doc: dict[str, Any]) -> None:
        net = self.net
        subject, record_id = str(doc["subject"]), str(doc["recordID"])
        rec = net.registers.current(subject, record_id) if subject in SUBJECTS else None
        if rec is None:
            raise Rejected(f"{subject} {record_id} is not in the register", rule="RECORD_UNKNOWN")
        decision = net.authz.decide(party, "terugmelden", rec)
        ctx.records.append(net.authz.record(decision, party, "terugmelden", rec, env, purpose="terugmelding"))
        if not decision.allowed:
            answer = {"status": "denied", "rule": decision.rule, "subject": subject, "recordID": record_id}
            self._reply(ctx, env, party, answer, rec)
            return
        tid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"terugmelding:{env.message_id}"))
        owner = net.keeper(rec)
        t = Terugmelding(tid, party.name, owner.name, subject, record_id, rec.version, str(doc["regelcode"]),
                         str(doc.get("toelichting", "")), "ingediend", "", None, now_iso(), "")
        self.rows.add((t.id, t.reporter, t.owner, t.subject, t.record_id, t.version, t.regelcode, t.toelichting,
                       t.status, t.reden, t.correctie_version, t.ts, t.decided_ts))
        to_owner = {**t.as_json(), "melderIDType": _id_type(party), "melderID": _melder_id(party)}
        self._send(ctx, env, owner, REPORT_KIND, to_owner, f"{tid}:owner", rec,
                   f"terugmelding {tid} to the owner {owner.name}")
        self._reply(ctx, env, party, {"status": "ingediend", **t.as_json()}, rec)

    # ----- deciding ---------------------------------------------------------------------
    def decide(self, ctx: HandlerContext, party: Party, env: Envelope, doc: dict[str, Any]) -> list[Delivery]:
        net = self.net
        t = self.get(str(doc["terugmeldingID"]))
        if t is None:
            raise Rejected("no such terugmelding", rule="UNKNOWN_TERUGMELDING")
        rec = net.registers.current(t.subject, t.record_id)
        assert rec is not None
        decision = net.authz.decide(party, "beoordelen", rec)
        ctx.records.append(net.authz.record(decision, party, "beoordelen", rec, env, purpose=f"terugmelding {t.id}"))
        if not decision.allowed:
            self._reply(ctx, env, party, {"status": "denied", "rule": decision.rule, "terugmeldingID": t.id}, rec)
            return []
        if t.status != "ingediend":
            raise Rejected(f"terugmelding {t.id} was decided already ({t.status})", rule="ALREADY_DECIDED")
        besluit = str(doc["besluit"])
        reden = str(doc.get("reden", ""))
        if besluit == "afgewezen" and not reden:
            raise Rejected("a rejected terugmelding needs a reason (reden)", rule="REDEN_REQUIRED")
        deliveries: list[Delivery] = []
        version: int | None = None
        correctie = doc.get("correctie")
        if besluit == "geaccepteerd" and correctie:
            new, deliveries, rcpt = apply(net, ctx, party, env, t.subject, "gewijzigd", dict(correctie))
            if new is None and orjson.loads(rcpt.body)["status"] == "rejected":
                raise Rejected(f"the correction was refused: {orjson.loads(rcpt.body)['reason']}",
                               rule=orjson.loads(rcpt.body)["rule"])
            version = new.version if new else rec.version
        self.rows.decide(t.id, besluit, reden, version, now_iso())
        done = self.get(t.id)
        assert done is not None
        reporter = net.parties.get(t.reporter)
        self._send(ctx, env, reporter, OUTCOME_KIND, done.as_json(), f"{t.id}:uitkomst", rec,
                   f"terugmelding {t.id} {besluit}: reporter {reporter.name} told")
        self._reply(ctx, env, party, {"status": besluit, **done.as_json()}, rec)
        return deliveries

    def status_answer(self, party: Party, tid: str, env: Any, records: list[AuditRecord]) -> dict[str, Any]:
        t = self.get(tid)
        allowed = t is not None and party.name in (t.reporter, t.owner)
        records.append(AuditRecord(action="network.query", actor=party.name, outcome="allow" if allowed else "deny",
                                   actor_role=",".join(party.roles), kind=getattr(env, "kind", "") or "",
                                   message_id=getattr(env, "message_id", "") or "",
                                   reason="template terugmelding: " + (
                                       "reporter or owner" if allowed else "rule TERUGMELDING-PARTIJ: not a party "
                                                                           "to this terugmelding")))
        if not allowed or t is None:
            return {"status": "denied", "rule": "TERUGMELDING-PARTIJ", "results": []}
        return {"status": "ok", "results": [t.as_json()]}

    # ----- messages ------------------------------------------------------------------------
    def _send(self, ctx: HandlerContext, env: Envelope, to: Party, kind: str, body: dict[str, Any], suffix: str,
              rec: Record, reason: str) -> None:
        # the terugmelding's own stable id, not the outbox's <origin>:notice:...: the messages of one
        # terugmelding are named by it whichever inbound message caused them
        out = outbox.notice(ctx.app.topology, env, to.name, kind, body, n=len(ctx.outgoing),
                            correlation_id=body.get("terugmeldingID"), headers={"x-sender": env.sender},
                            message_id_=str(uuid.uuid5(uuid.NAMESPACE_URL, suffix)))
        ctx.outgoing.append((out, reply_record(env, to, "delivered", reason, rec.client, rec.subject,
                                               rec.record_id)))

    def _reply(self, ctx: HandlerContext, env: Envelope, party: Party, answer: dict[str, Any], rec: Record) -> None:
        out = answer_outgoing(ctx.app, env, answer, kind=CONFIRM_KIND)
        ctx.outgoing.append((out, reply_record(env, party, "replied", f"terugmelding: {answer.get('status')}",
                                               rec.client, rec.subject, rec.record_id)))


def _id_type(party: Party) -> str:
    from hub.flows.network.notify import ID_TYPE

    return ID_TYPE.get(party.id_type, "OIN")


def _melder_id(party: Party) -> str:
    return "(client)" if party.id_type == "BSN" else party.id


def handle_report(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    from hub.flows.network import network_of

    net = network_of(ctx.app)
    env = checked.envelope
    net.terugmeldingen.report(ctx, ctx.app.parties.get(env.sender), env, checked.document.json)
    return []


def handle_decision(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    from hub.flows.network import network_of

    net = network_of(ctx.app)
    env = checked.envelope
    return net.terugmeldingen.decide(ctx, ctx.app.parties.get(env.sender), env, checked.document.json)
