"""The flows' scheduled jobs: each flow declares its own (``Flow.jobs``); this runs and records them.

Each run is recorded (``flow_jobs``: last run, outcome, result) and audited, so the beheer view
(``zorghub jobs``) shows what ran, when, and what it found. ``zorghub jobs run`` runs the due ones
(or one by name); a cron entry or systemd timer calls it. How often each runs is this flow's
``settings.toml``, which also orders the list.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.app import HubApp
from hub.errors import ConfigError
from hub.flows.base import Job
from hub.flows.support import flow_settings, iso, now, parse_iso
from hub.plugins.registry import jobs as declared_jobs
from hub.store.audit import AuditRecord
from hub.store.flows import jobs as store


def all_jobs(app: HubApp) -> dict[str, Job]:
    """Every installed flow's jobs: those this flow's settings schedule first, in that order."""
    found = {name: job for name, (_, job) in declared_jobs(app.flows).items()}
    order = [n for n in _schedule(app) if n in found]
    return {name: found[name] for name in [*order, *(n for n in found if n not in order)]}


def _schedule(app: HubApp) -> dict[str, Any]:
    return dict(flow_settings(app, "jobs").get("job", {})) if "jobs" in app.flow_settings else {}


def install(app: HubApp) -> None:
    store.create(app.db)


def run(app: HubApp, name: str) -> dict[str, Any]:
    db = app.db
    known = all_jobs(app)
    if name not in known:
        raise ConfigError(f"unknown job {name!r} (known: {', '.join(known)})")
    try:
        result, outcome = known[name](app, db), "success"
    except Exception as exc:  # a job's failure is shown in beheer, not raised into the scheduler
        result, outcome = f"{exc.__class__.__name__}: {exc}", "failure"
    stamp = iso()
    store.record_run(db, name, stamp, outcome, result)
    app.audit.append([AuditRecord(action="job", actor="zorghub", actor_role="scheduler", outcome=outcome,
                                  kind=f"job.{name}", record_type="job", record_id=name, reason=result,
                                  source=f"{app.audit.source}/jobs")])
    return {"name": name, "last_run": stamp, "outcome": outcome, "result": result}


def states(app: HubApp) -> list[dict[str, Any]]:
    rows = {r[0]: r for r in store.runs(app.db)}
    out = []
    schedule = _schedule(app)
    for name in all_jobs(app):
        every = timedelta(minutes=float(schedule.get(name, {}).get("every_minutes", 1440)))
        r = rows.get(name)
        next_due = iso(parse_iso(r[1]) + every) if r else iso()
        out.append({"name": name, "last_run": r[1] if r else "", "outcome": r[2] if r else "never run",
                    "result": r[3] if r else "", "runs": int(r[4]) if r else 0, "next_due": next_due,
                    "due": not r or parse_iso(r[1]) + every <= now()})
    return out


def run_due(app: HubApp) -> list[dict[str, Any]]:
    return [run(app, s["name"]) for s in states(app) if s["due"]]
