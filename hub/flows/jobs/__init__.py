"""Scheduled jobs of the flows: the Zorgbeeld stale check, the NZa delivery calendar and retention.

Each run is recorded (``flow_jobs``: last run, outcome, result) and audited, so the beheer view
(``zorghub jobs``) shows what ran, when, and what it found. ``zorghub jobs run`` runs the due ones
(or one by name); a cron entry or systemd timer calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hub.app import HubApp
from hub.flows import nza, zorgbeeld
from hub.flows.support import config, iso, now, parse_iso
from hub.store.audit import AuditRecord
from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS flow_jobs (
    name TEXT PRIMARY KEY, last_run TEXT NOT NULL, outcome TEXT NOT NULL, result TEXT NOT NULL,
    runs BIGINT NOT NULL
)
"""


def _stale(app: HubApp, db: Database) -> str:
    return f"{zorgbeeld.mark_stale(app, db)} stale report(s)"


def _calendar(app: HubApp, db: Database) -> str:
    late = nza.overdue(app, db)
    names = ", ".join(f"{c['provider']} {c['period']}" for c in late)
    return f"{len(late)} overdue deliver(y/ies)" + (f": {names}" if names else "")


def _retention(app: HubApp, db: Database) -> str:
    return f"{zorgbeeld.prune_history(app, db)} history row(s) pruned"


JOBS: dict[str, Callable[[HubApp, Database], str]] = {
    "stale-check": _stale,
    "delivery-calendar": _calendar,
    "retention": _retention,
}


def install(app: HubApp) -> None:
    app.db.script(DDL)


def run(app: HubApp, name: str) -> dict[str, Any]:
    db = app.db
    try:
        result, outcome = JOBS[name](app, db), "success"
    except Exception as exc:  # a job's failure is shown in beheer, not raised into the scheduler
        result, outcome = f"{exc.__class__.__name__}: {exc}", "failure"
    stamp = iso()
    with db.transaction():
        db.execute("INSERT INTO flow_jobs (name, last_run, outcome, result, runs) VALUES (?, ?, ?, ?, 1) "
                   "ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run, outcome = excluded.outcome, "
                   "result = excluded.result, runs = flow_jobs.runs + 1", (name, stamp, outcome, result))
    app.audit.append([AuditRecord(action="job", actor="zorghub", actor_role="scheduler", outcome=outcome,
                                  kind=f"job.{name}", record_type="job", record_id=name, reason=result,
                                  source=f"{app.audit.source}/jobs")])
    return {"name": name, "last_run": stamp, "outcome": outcome, "result": result}


def states(app: HubApp) -> list[dict[str, Any]]:
    rows = {r[0]: r for r in app.db.execute("SELECT name, last_run, outcome, result, runs FROM flow_jobs")}
    out = []
    for name in JOBS:
        every = timedelta(minutes=float(config(app).jobs.get("job", {}).get(name, {}).get("every_minutes", 1440)))
        r = rows.get(name)
        next_due = iso(parse_iso(r[1]) + every) if r else iso()
        out.append({"name": name, "last_run": r[1] if r else "", "outcome": r[2] if r else "never run",
                    "result": r[3] if r else "", "runs": int(r[4]) if r else 0, "next_due": next_due,
                    "due": not r or parse_iso(r[1]) + every <= now()})
    return out


def run_due(app: HubApp) -> list[dict[str, Any]]:
    return [run(app, s["name"]) for s in states(app) if s["due"]]
