"""The operator's pages: the dashboard, the message browser, one message's path, dead letters, mappings.

Operators see pseudonyms, never a BSN (``hub.console.mask``); an auditor opening a message may reveal
its payloads with a reason (``hub.console.audit``). Every action goes through the same code as the CLI:
a requeue is ``hub.ops.requeue``, the "try it" box is the mapping itself, as ``zorghub mappings diff`` runs it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.console.base import OPERATORS, STAFF, Console
from hub.console.figures import Watch, gather
from hub.console.mask import payload_text, pseudonymise
from hub.errors import HubError
from hub.store import auditqueries
from hub.store.audit import AuditRecord

STAGES = {"received": "received", "checked": "checked", "routed": "routed", "delivered": "delivered",
          "rejected": "rejected", "dead_lettered": "dead-lettered", "retried": "retry", "requeued": "requeued"}


@dataclass
class Stage:
    record: AuditRecord
    label: str
    payload: str = ""
    shown: bool = False


@dataclass
class Path:
    message_id: str
    stages: list[Stage] = field(default_factory=list)
    caused: list[Any] = field(default_factory=list)
    client: str = ""
    kind: str = ""
    translated: bool = False


class Operate(Console):
    watch = Watch()

    async def dashboard(self, request: Request) -> Response:
        who = await self.require(request, OPERATORS, "dashboard")
        figures = await self.ctx.run(gather, self.hub, self.settings, self.watch)
        return self.page("dashboard.html", who, figures=figures)

    # ----- the message browser ----------------------------------------------------------
    async def messages(self, request: Request) -> Response:
        who = await self.require(request, STAFF, "messages")
        q = {k: request.query_params.get(k, "").strip() for k in
             ("id", "correlation", "kind", "party", "client", "since", "until")}
        error, client = "", q["client"]
        if client and not client.startswith("p-"):
            if who.role != "auditor":
                error, client = "operators search by pseudonym (p-...): only an auditor may search by BSN", ""
            else:
                from hub.auditor.search import client_pseudonym

                try:
                    client = client_pseudonym(client, self.key)
                except HubError as exc:
                    error, client = exc.reason, ""

        def find() -> list[Any]:
            ids = auditqueries.message_ids_from(self.hub.audit.db, q["id"], limit=200)
            if q["id"] and not ids:
                return []
            return auditqueries.inbound(self.hub.audit.db, message_ids=ids, correlation_id=q["correlation"],
                                        kind=q["kind"], party=q["party"], client=client, since=q["since"],
                                        until=q["until"], limit=100)

        rows = [] if error else await self.ctx.run(find)
        await self.viewed(who, "messages", client=client, reason=f"search {_described(q, client)}")
        return self.page("messages.html", who, q={**q, "client": "" if error else client}, rows=rows, error=error)

    async def message(self, request: Request) -> Response:
        who = await self.require(request, STAFF, "message")
        given = request.path_params["message_id"]
        found = await self.ctx.run(auditqueries.message_ids_from, self.hub.audit.db, given, 2)
        if len(found) != 1 and given not in found:
            return self.page("messages.html", who, q={"id": given}, rows=[], status=404,
                             error=f"no single message starts with {given!r}" if found else
                             f"no message {given!r} in the audit log")
        message_id = given if given in found else found[0]
        path = await self.ctx.run(self.path_of, message_id, False)
        await self.viewed(who, "message", message_id=message_id, client=path.client, kind=path.kind)
        return self.page("message.html", who, path=path, revealed=False)

    def path_of(self, message_id: str, reveal: bool) -> Path:
        """Every stage of one message, with the payload each stage holds (runs on the store's thread)."""
        records = self.hub.audit.for_message(message_id)
        path = Path(message_id, client=next((r.client for r in records if r.client), ""),
                    kind=next((r.kind for r in records if r.kind), ""))
        shown: set[str] = set()
        for rec in records:
            label = STAGES.get(rec.action, rec.action)
            if rec.mapping:
                label += f" via {rec.mapping}@{rec.mapping_version}"
                path.translated = True
            stage = Stage(rec, label)
            if rec.payload_sha256 and rec.payload_sha256 not in shown:
                shown.add(rec.payload_sha256)
                stage.payload = payload_text(self.hub.audit.payload(rec.payload_sha256), self.key, reveal=reveal)
                stage.shown = True
            path.stages.append(stage)
        path.caused = auditqueries.caused_by(self.hub.audit.db, message_id)
        return path

    # ----- dead letters -----------------------------------------------------------------
    async def dead_letters(self, request: Request) -> Response:
        who = await self.require(request, OPERATORS, "dead-letters")
        rule, sender = request.query_params.get("rule", ""), request.query_params.get("sender", "")
        show_all = request.query_params.get("all", "") == "1"

        def load() -> list[Any]:
            entries = self.hub.dead_letters.list(include_requeued=show_all)
            return [e for e in entries if (not rule or e.rule == rule) and (not sender or e.sender == sender)]

        entries = await self.ctx.run(load)
        counts = await self.ctx.run(self.hub.dead_letters.counts)
        await self.viewed(who, "dead-letters", reason=f"rule={rule or '*'} sender={sender or '*'}")
        return self.page("dead_letters.html", who, entries=[(e, pseudonymise(e.reason, self.key)) for e in entries],
                         counts=counts, rule=rule, sender=sender, show_all=show_all,
                         done=request.query_params.get("done", ""), error=request.query_params.get("error", ""))

    async def requeue(self, request: Request) -> Response:
        who = await self.require(request, OPERATORS, "dead-letters/requeue")
        form = await request.form()
        ids = tuple(str(v) for v in form.getlist("message_id"))
        reason = str(form.get("reason", "")).strip()
        if not ids:
            return RedirectResponse("/console/dead-letters?error=select+at+least+one+dead+letter", 303)
        if not reason:
            return RedirectResponse("/console/dead-letters?error=a+reason+is+required:+it+is+audited", 303)
        from hub.ops.requeue import Selection, requeue

        try:
            done = await self.ctx.run(lambda: requeue(self.settings, Selection(ids, "", "", False),
                                                      operator=who.name, reason=reason))
        except HubError as exc:
            return RedirectResponse(f"/console/dead-letters?error={_q(exc.reason)}", 303)
        return RedirectResponse(f"/console/dead-letters?all=1&done={_q(','.join(r.entry.message_id for r in done))}",
                                303)

    # ----- mappings ---------------------------------------------------------------------
    async def mappings(self, request: Request) -> Response:
        who = await self.require(request, OPERATORS, "mappings")
        registry = self.hub.translator.registry
        tried: dict[str, Any] = {}
        if request.method == "POST":
            form = await request.form()
            tried = self.try_mapping(str(form.get("mapping", "")), str(form.get("version", "")),
                                     str(form.get("other", "")), str(form.get("message", "")).encode())
            await self.record(who, "console.mapping_tried", "mappings", reason=tried.get("title", ""))
        golden = await self.ctx.run(_golden_status, registry)
        pins = [(p.name, name, version) for p in self.hub.parties for name, version in p.mappings]
        rows = [(m.spec, golden.get((m.spec.name, m.spec.version), (0, 0))) for m in registry.all()]
        return self.page("mappings.html", who, rows=rows, pins=pins, tried=tried)

    def try_mapping(self, name: str, version: str, other: str, message: bytes) -> dict[str, Any]:
        """Run a mapping version (and optionally a second one) on a pasted message; deploy nothing."""
        registry = self.hub.translator.registry
        out: dict[str, Any] = {"mapping": name, "version": version, "other": other,
                               "message": message.decode("utf-8", "replace")}
        try:
            first = registry.get(name, version or None)
            out["title"] = f"{name}@{first.spec.version}"
            out["result"] = pseudonymise(first.translate(message).decode("utf-8", "replace"), self.key)
            if other:
                second = registry.get(name, other)
                theirs = pseudonymise(second.translate(message).decode("utf-8", "replace"), self.key)
                out["title"] += f" against {name}@{second.spec.version}"
                out["diff"] = "\n".join(difflib.unified_diff(out["result"].splitlines(), theirs.splitlines(),
                                                             f"{name}@{first.spec.version}",
                                                             f"{name}@{second.spec.version}", lineterm=""))
        except HubError as exc:
            out["error"] = pseudonymise(exc.reason, self.key)
            out.setdefault("title", name)
        return out


def _golden_status(registry: Any) -> dict[tuple[str, str], tuple[int, int]]:
    """(name, version) -> (cases passing, cases), run now: the golden files pin a released version."""
    from hub.cli.golden import golden_cases, run_case

    status: dict[tuple[str, str], tuple[int, int]] = {}
    for case in golden_cases(registry):
        key = (case.mapping.spec.name, case.mapping.spec.version)
        ok, total = status.get(key, (0, 0))
        status[key] = (ok + int(run_case(case)[0]), total + 1)
    return status


def _described(q: dict[str, str], client: str) -> str:
    return " ".join(f"{k}={v}" for k, v in {**q, "client": client}.items() if v) or "all"


def _q(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text[:300])
