"""The auditor's pages: search, who-has-seen, revealing a payload, exports, verify, and dry-run replays.

Every one of them is itself an audit record: the search and its filter (a pseudonym, never a BSN), the
client whose sightings were listed, the payload revealed with its reason, the export, the job started
or cancelled. A dry-run job runs on a thread and a store connection of its own, so that the pages stay
served; its progress and its differences are read from the page while it runs.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.auditor.progress import Cancel, Progress
from hub.auditor.search import AuditFilter, client_pseudonym, search, who_has_seen
from hub.console.base import AUDITORS, Console
from hub.console.operate import Operate
from hub.errors import HubError

FILTER_FIELDS = ("client", "party", "kind", "outcome", "since", "until", "message_id")


@dataclass
class DryRunJob:
    id: str
    by: str
    selection: dict[str, str]
    progress: Progress
    cancel: Cancel = field(default_factory=Cancel)
    state: str = "running"
    summary: str = ""
    diffs: list[Any] = field(default_factory=list)
    error: str = ""


class _Quiet:
    """Progress writes nowhere: the page reads ``done`` and ``total`` instead."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Audit(Console):
    jobs: dict[str, DryRunJob] = {}

    def _filter(self, params: Any) -> tuple[AuditFilter, dict[str, str]]:
        given = {k: str(params.get(k, "")).strip() for k in FILTER_FIELDS}
        client = client_pseudonym(given["client"], self.key) if given["client"] else ""
        flt = AuditFilter(client=client, party=given["party"], kind=given["kind"], outcome=given["outcome"],
                          since=given["since"], until=given["until"], message_id=given["message_id"])
        return flt, {**given, "client": client}

    async def search(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit")
        try:
            flt, shown = self._filter(request.query_params)
        except HubError as exc:
            return self.page("audit.html", who, q={}, rows=[], error=exc.reason, verified=None)
        searched = any(shown.values())
        rows = await self.ctx.run(lambda: search(self.hub.audit, flt, limit=200)) if searched else []
        await self.viewed(who, "audit", client=flt.client, reason=f"search {flt.describe() or 'none'}")
        return self.page("audit.html", who, q=shown, rows=rows, error="", verified=None)

    async def verify(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit/verify")
        result = await self.ctx.run(self.hub.audit.verify)
        await self.viewed(who, "audit/verify", reason=f"verify: {result.checked} records, "
                                                     f"{'intact' if result.ok else 'BROKEN'}")
        return self.page("audit.html", who, q={}, rows=[], error="", verified=result)

    async def who_has_seen(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit/who-has-seen")
        given = request.query_params.get("client", "").strip()
        if not given:
            return self.page("who.html", who, client="", seen=None, error="")
        try:
            client = client_pseudonym(given, self.key)
        except HubError as exc:
            return self.page("who.html", who, client="", seen=None, error=exc.reason)
        seen = await self.ctx.run(who_has_seen, self.hub.audit, client)
        await self.viewed(who, "audit/who-has-seen", client=client, reason="who has seen")
        return self.page("who.html", who, client=client, seen=seen, error="")

    async def reveal(self, request: Request) -> Response:
        """The clear payloads of one message, for an auditor who gives a reason; audited before shown."""
        who = await self.require(request, AUDITORS, "message/reveal")
        form = await request.form()
        message_id = request.path_params["message_id"]
        reason = str(form.get("reason", "")).strip()
        path = await self.ctx.run(Operate(self.ctx).path_of, message_id, bool(reason))
        if not reason:
            return self.page("message.html", who, path=path, revealed=False, status=400,
                             error="a reason is required to reveal a payload: it is audited")
        await self.record(who, "console.reveal", "message/reveal", message_id=message_id, client=path.client,
                          kind=path.kind, reason=reason)
        return self.page("message.html", who, path=path, revealed=True)

    async def export(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit/export")
        fmt = request.query_params.get("format", "fhir")
        try:
            flt, _ = self._filter(request.query_params)
        except HubError as exc:
            return self.page("audit.html", who, q={}, rows=[], error=exc.reason, verified=None, status=400)

        def build() -> tuple[bytes, int]:
            records = search(self.hub.audit, flt, limit=None)
            if fmt == "csv":
                import io

                from hub.auditor.search import write_csv

                text = io.StringIO()
                write_csv(records, text)
                return text.getvalue().encode(), len(records)
            from hub.auditor.export import bundle_bytes

            return bundle_bytes(records, self.hub.parties), len(records)

        body, n = await self.ctx.run(build)
        await self.record(who, "console.export", "audit/export", client=flt.client,
                          reason=f"export {fmt} of {n} record(s): {flt.describe() or 'all'}")
        kind, ext = ("text/csv", "csv") if fmt == "csv" else ("application/fhir+json", "json")
        return Response(body, media_type=kind,
                        headers={"Content-Disposition": f'attachment; filename="audit-export.{ext}"'})

    # ----- dry-run jobs -----------------------------------------------------------------
    async def job_list(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit/jobs")
        if request.method == "POST":
            form = await request.form()
            try:
                flt, shown = self._filter(form)
            except HubError as exc:
                return self.page("jobs.html", who, jobs=self._jobs(), error=exc.reason)
            job = await self.ctx.run(self._start, who.name, flt, shown)
            await self.record(who, "console.dry_run", "audit/jobs", client=flt.client,
                              reason=f"dry run {job.id} started: {flt.describe() or 'all'}")
            return RedirectResponse(f"/console/audit/jobs/{job.id}", 303)
        return self.page("jobs.html", who, jobs=self._jobs(), error="")

    async def job(self, request: Request) -> Response:
        who = await self.require(request, AUDITORS, "audit/job")
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self.page("jobs.html", who, jobs=self._jobs(), error="no such job", status=404)
        if request.method == "POST" and job.state == "running":
            job.cancel.set()
            await self.record(who, "console.dry_run_cancelled", "audit/job", reason=f"dry run {job.id} cancelled")
            return RedirectResponse(f"/console/audit/jobs/{job.id}", 303)
        return self.page("job.html", who, job=job)

    def _jobs(self) -> list[DryRunJob]:
        return sorted(self.jobs.values(), key=lambda j: j.id)

    def _start(self, by: str, flt: AuditFilter, shown: dict[str, str]) -> DryRunJob:
        import dataclasses

        from hub.auditor.search import count

        flt = dataclasses.replace(flt, actions=("delivered",))
        job = DryRunJob(uuid.uuid4().hex[:8], by, {k: v for k, v in shown.items() if v},
                        Progress(count(self.hub.audit, flt), out=_Quiet()))  # type: ignore[arg-type]
        self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, flt), name=f"dry-run-{job.id}", daemon=True).start()
        return job

    def _run(self, job: DryRunJob, flt: AuditFilter) -> None:
        from hub.auditor.replay import dry_run
        from hub.store import payloads
        from hub.store.audit import AuditLog
        from hub.store.db import Database

        db = Database(self.settings.effective_store_url, create=False)
        try:
            payloads.attach(db, self.settings.kek_source)  # the stored payloads are sealed
            result = dry_run(AuditLog(db, self.key), self.hub.translator.registry, flt, progress=job.progress,
                             cancel=job.cancel, chunk=200)
            job.diffs = [*result.failures, *result.changed][:20]
            job.summary = (f"{result.checked} delivered message(s) checked: {result.identical} identical, "
                           f"{result.passthrough} passed through, {result.generated} built by a handler, "
                           f"{len(result.failures)} failure(s), {len(result.gone)} without payload")
            job.state = "cancelled" if job.cancel.requested else "done"
        except HubError as exc:
            job.state, job.error = "failed", exc.reason
        except Exception as exc:  # a job that dies says why on its page, not only in the log
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            db.close()
