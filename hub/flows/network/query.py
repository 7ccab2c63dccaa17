"""Bevragen: role-scoped query templates, answered under the authorisation policy.

A query names a template and its parameters. The template fixes which roles
may use it and which records it can reach (a zorgaanbieder asks for a
bemiddelingspecificatie by id *and* its own AGB; a zorgkantoor for the
indicaties of clients it is responsible for; the CAK for what the eigen
bijdrage needs; a client, through the PGO, for everything about itself). The
authorisation service then decides per record and per attribute, and every
decision is audited.

The same service answers AMQP requests (kind ``network.bevragen``: the reply,
kind ``network.antwoord``, goes to the requester's own inbox with the
request's correlation id) and in-process callers (the CLI, tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.catalogue.parties import Party
from hub.envelope import Delivery, Envelope
from hub.flows.network.melden import reply_record
from hub.flows.network.registers import SUBJECTS, Record
from hub.formats import bsn as bsnlib
from hub.pipeline import outbox, record
from hub.pipeline.check import Checked
from hub.store.audit import AuditRecord
from hub.transports.base import Outgoing

if TYPE_CHECKING:
    from hub.flows.network import Network
    from hub.pipeline.context import HandlerContext

ANSWER_KIND = "network.antwoord"
ALL_ROLES = ("indicatieorgaan", "zorgkantoor", "zorgaanbieder", "cak", "client")

Finder = Callable[["Network", Party, dict[str, Any]], list[Record]]


@dataclass(frozen=True)
class Template:
    name: str
    roles: tuple[str, ...]
    params: tuple[str, ...]
    find: Finder
    description: str = ""
    history: bool = False


def _p(params: dict[str, Any], name: str) -> str:
    return str(params.get(name) or "")


def _by_id(subject: str, param: str) -> Finder:
    def find(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
        rec = net.registers.current(subject, _p(params, param))
        return [rec] if rec else []
    return find


def _spec_for_provider(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
    rec = net.registers.current("Bemiddelingspecificatie", _p(params, "bemiddelingspecificatieID"))
    if rec is None:
        return []
    if party.has_role("zorgaanbieder") and str(rec.data.get("instelling", "")) != party.id:
        return []  # the template is "by id plus the provider's own AGB": another provider's is not found
    return [rec]


def _indicaties_zorgkantoor(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
    """Indicaties of clients this zorgkantoor is responsible for (initially, by bemiddeling, by Overdracht).

    What the records state finds the candidates; the responsible zorgkantoor
    (an effective Overdracht first) then decides, so after a transfer the new
    zorgkantoor finds every indicatie of the client and the old one none.
    """
    resp = net.authz.responsibility
    found = {r.record_id: r for r in net.registers.where("WlzIndicatie", "initieelVerantwoordelijkZorgkantoor",
                                                         party.id)}
    for bem in net.registers.where("Bemiddeling", "verantwoordelijkZorgkantoor", party.id):
        ind = net.registers.current("WlzIndicatie", str(bem.data.get("wlzIndicatieID", "")))
        if ind:
            found.setdefault(ind.record_id, ind)
    for client in sorted({o.client for o in net.registers.where("Overdracht", "verantwoordelijkZorgkantoor",
                                                                party.id)}):
        if resp.moved_to(client) == party.id:
            for ind in net.registers.for_client(client, ("WlzIndicatie",)):
                found.setdefault(ind.record_id, ind)
    wanted = _p(params, "wlzindicatieID")
    return [r for r in found.values()
            if (not wanted or r.record_id == wanted) and resp.zorgkantoor(r, party.id) == party.id]


def _client_records(subjects: tuple[str, ...]) -> Finder:
    def find(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
        bsn = _p(params, "bsn") or (party.id if party.id_type == "BSN" else "")
        if not bsnlib.is_valid(bsn):
            return []
        return net.registers.for_client(bsnlib.pseudonym(bsn, net.key), subjects)
    return find


def _record(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
    subject, record_id = _p(params, "subject"), _p(params, "recordID")
    rec = net.registers.current(subject, record_id) if subject in SUBJECTS else net.registers.find(record_id)
    return [rec] if rec else []


def _history(net: Network, party: Party, params: dict[str, Any]) -> list[Record]:
    rec = _record(net, party, params)
    return net.registers.history(rec[0].subject, rec[0].record_id) if rec else []


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("wlzIndicatie", ALL_ROLES, ("wlzindicatieID",), _by_id("WlzIndicatie", "wlzindicatieID"),
             "one indicatie by id"),
    Template("wlzIndicatiesZorgkantoor", ("zorgkantoor",), (), _indicaties_zorgkantoor,
             "the indicaties of the clients this zorgkantoor is responsible for"),
    Template("bemiddeling", ("zorgkantoor", "zorgaanbieder", "client"), ("bemiddelingID",),
             _by_id("Bemiddeling", "bemiddelingID"), "one bemiddeling by id"),
    Template("bemiddelingspecificatie", ("zorgaanbieder", "zorgkantoor"), ("bemiddelingspecificatieID",),
             _spec_for_provider, "a zorgtoewijzing by id; a provider finds only its own AGB's"),
    Template("eigenBijdrage", ("cak",), ("bsn",),
             _client_records(("WlzIndicatie", "Bemiddelingspecificatie", "Zorglevering")),
             "what the CAK needs for the eigen bijdrage of one client"),
    Template("clientOverzicht", ("client",), (), _client_records(tuple(SUBJECTS)),
             "everything the registers hold about the client itself"),
    Template("record", ALL_ROLES, ("recordID",), _record, "one record by id (and optionally subject)"),
    Template("historie", ALL_ROLES, ("recordID",), _history, "every version of one record", history=True),
)}

SPECIAL = ("terugmelding", "abonnementen")


class QueryService:
    def __init__(self, net: Network) -> None:
        self.net = net

    def run(self, party: Party, template: str, params: dict[str, Any], env: Any,
            records: list[AuditRecord]) -> dict[str, Any]:
        """Answer one query; audit records for the query and every decision go to ``records``."""
        net = self.net
        answer: dict[str, Any] = {"template": template, "params": _redacted(params)}
        if template == "terugmelding":
            return {**answer, **net.terugmeldingen.status_answer(party, _p(params, "terugmeldingID"), env,
                                                                    records)}
        if template == "abonnementen":
            subs = net.notifier.subscriptions(party.name)
            return {**answer, "status": "ok", "results": [s.as_json() for s in subs]}
        tpl = TEMPLATES.get(template)
        if tpl is None:
            records.append(self._audit(party, env, template, "deny", "unknown template"))
            return {**answer, "status": "error", "rule": "UNKNOWN_TEMPLATE",
                    "reason": f"unknown template; known: {', '.join([*TEMPLATES, *SPECIAL])}"}
        return self.run_template(party, tpl, params, env, records)

    def run_template(self, party: Party, tpl: Template, params: dict[str, Any], env: Any,
                     records: list[AuditRecord]) -> dict[str, Any]:
        """Answer one query of a template that need not be published (the FHIR views make their own)."""
        net = self.net
        template = tpl.name
        answer: dict[str, Any] = {"template": template, "params": _redacted(params)}
        if not any(party.has_role(r) for r in tpl.roles):
            rule = f"TEMPLATE-ROLE:{template}"
            records.append(self._audit(party, env, template, "deny", f"rule {rule}: role not allowed"))
            return {**answer, "status": "denied", "rule": rule, "results": [], "denied": []}
        missing = [p for p in tpl.params if not params.get(p)]
        if missing:
            return {**answer, "status": "error", "rule": "PARAMS", "reason": f"missing parameter {missing[0]!r}"}
        with net.authz.responsibility.remembered():  # a query writes nothing: one Overdracht state for all
            return {**answer, **self._answer(party, template, tpl, params, env, records)}

    def _answer(self, party: Party, template: str, tpl: Any, params: dict[str, Any], env: Any,
                records: list[AuditRecord]) -> dict[str, Any]:
        net = self.net
        results, denied = [], []
        for rec in tpl.find(net, party, params):
            decision = net.authz.decide(party, "read", rec)
            records.append(net.authz.record(decision, party, "read", rec, env, purpose=f"bevragen {template}"))
            if decision.allowed:
                results.append({"subject": rec.subject, "recordID": rec.record_id, "version": rec.version,
                                "status": rec.status, "register": rec.register, "data": decision.filter(rec.data)})
            else:
                denied.append({"subject": rec.subject, "recordID": rec.record_id, "rule": decision.rule})
        status = "ok" if results or not denied else "denied"
        records.append(self._audit(party, env, template, "allow" if status == "ok" else "deny",
                                   f"{len(results)} result(s), {len(denied)} denied"))
        answer: dict[str, Any] = {"status": status, "results": results, "denied": denied}
        if denied and not results:
            answer["rule"] = denied[0]["rule"]
        return answer

    @staticmethod
    def _audit(party: Party, env: Any, template: str, outcome: str, reason: str) -> AuditRecord:
        return record.new(env, action="network.query", actor=party.name,
                          outcome=outcome, actor_role=",".join(party.roles), reason=f"template {template}: {reason}")


def _redacted(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("*********" if k == "bsn" else v) for k, v in params.items()}


def answer_outgoing(app: Any, env: Envelope, answer: dict[str, Any], kind: str = ANSWER_KIND) -> Outgoing:
    """The reply to a request: to the requester's own inbox, correlated to the request."""
    return outbox.reply(app.topology, env, kind, answer)


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    from hub.flows.network import network_of

    net = network_of(ctx.app)
    env = checked.envelope
    party = ctx.app.parties.get(env.sender)
    doc = checked.document.json
    answer = net.query.run(party, doc["template"], dict(doc.get("params") or {}), env, ctx.records)
    out = answer_outgoing(ctx.app, env, answer)
    ctx.outgoing.append((out, reply_record(env, party, "replied", f"antwoord {doc['template']}: "
                                           f"{answer.get('status')}")))
    return []
