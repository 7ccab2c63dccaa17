"""Seed 001, NZa: DIS onderhanden-werk deliveries with a delivery calendar, and care-cluster results.

- ``nza.ohw``: a ZIP of CSV files with ``pakbon.json`` (see ``hub.formats.csvbatch``), by AMQP or through the
  watched-directory file adapter (``hub/ops/files.py``). Every row is validated. A clean delivery goes
  to the NZa and the sender gets an ``nza.ohw.ontvangstbevestiging`` (accepted, on time or late); a
  delivery with bad rows is refused as a whole and the receipt lists every bad row (file, line, column,
  reason; never a BSN).
- The delivery calendar (the flow's ``settings.toml``): a period's delivery is due by the ``due_day``
  of that month, every ``rhythm_months`` months. ``zorghub nza deliveries`` shows each provider's status per
  period: due, received, late or rejected.
- ``nza.zorgcluster``: questionnaire results (start, evaluation) are routed to the NZa and audited;
  ``nza.uitzorg`` (a client leaves care early) makes the evaluation due: the provider gets an
  ``nza.evaluatie.gevraagd``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.app import HubApp
from hub.envelope import Delivery
from hub.errors import Rejected
from hub.flows.support import flow_settings, iso, record, send, today
from hub.formats import csvbatch
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.store.db import Database
from hub.store.flows import nza as store

RECEIPT = "nza.ohw.ontvangstbevestiging"
MAX_LISTED = 1000


def install(app: HubApp) -> None:
    store.create(app.db)
    app.handlers["nza.ohw"] = handle_ohw
    app.handlers["nza.zorgcluster"] = handle_cluster
    app.handlers["nza.uitzorg"] = handle_left_care


# ----- the calendar ----------------------------------------------------------------------------
def _month_add(period: str, months: int) -> str:
    y, m = int(period[:4]), int(period[5:7]) - 1 + months
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def due_date(app: HubApp, period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), int(flow_settings(app, "nza").get("due_day", 15)))


def periods(app: HubApp, until: date) -> list[str]:
    """The scheduled delivery periods from ``first_period`` up to and including ``until``'s month."""
    cfg = flow_settings(app, "nza")
    step = max(int(cfg.get("rhythm_months", 1)), 1)
    last = f"{until.year:04d}-{until.month:02d}"
    out, p = [], str(cfg.get("first_period", last))
    while p <= last:
        out.append(p)
        p = _month_add(p, step)
    return out


def calendar(app: HubApp, db: Database, on: date | None = None,
             provider: str | None = None) -> list[dict[str, Any]]:
    """Each provider's status per scheduled period: due, received, late or rejected."""
    day = on or today()
    cfg = flow_settings(app, "nza")
    providers = [provider] if provider else list(cfg.get("providers", []))
    out = []
    for p in providers:
        for period in periods(app, day):
            rows = store.attempts(db, p, period)
            due = due_date(app, period)
            accepted = [r for r in rows if r[0] in ("received", "late")]
            if accepted:
                status, at, mid = accepted[0]
            elif rows:
                status, at, mid = "rejected", rows[-1][1], rows[-1][2]
            else:
                status, at, mid = ("late" if day > due else "due"), "", ""
            out.append({"provider": p, "period": period, "due": due.isoformat(), "status": status,
                        "received_at": at, "message_id": mid, "attempts": len(rows)})
    return out


# ----- the OHW delivery ------------------------------------------------------------------------
def _limits(app: HubApp) -> csvbatch.ZipLimits:
    """The zip-bomb guard's bounds, from the settings."""
    return csvbatch.ZipLimits(max_unpacked=app.settings.zip_max_unpacked_bytes,
                              max_ratio=app.settings.zip_max_ratio)


def handle_ohw(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env = checked.envelope
    sender = ctx.app.parties.get(env.sender)
    # a broken or dangerous archive raises a Rejected with its rule (ZIP_CRC, ZIP_TOO_LARGE, CSV_ENCODING, ...)
    report = csvbatch.validate_csv("dis-ohw", env.payload, limits=_limits(ctx.app))
    pakbon = report.pakbon
    period = str(pakbon.get("periode", ""))
    errors = [{"file": e.file, "line": e.line, "column": e.column, "reason": e.reason}
              for e in report.errors[:MAX_LISTED]]
    if report.ok and pakbon.get("zorgaanbieder_agb") != sender.id:
        errors.append({"file": "pakbon.json", "line": 0, "column": "zorgaanbieder_agb",
                       "reason": "the AGB code in the pakbon is not the sender's"})
    filename = str(env.headers.get("x-filename", ""))
    body: dict[str, Any] = {"messageId": env.message_id, "kind": env.kind, "file": filename, "period": period,
                            "okRows": report.ok_rows, "badRows": report.bad_rows}
    if errors:
        store.add_rejected(ctx.db, env.message_id, env.sender, period, iso(), report.ok_rows, report.bad_rows)
        body.update(status="rejected", rule="ROW_ERRORS" if report.bad_rows else "FILE_ERRORS",
                    errorCount=len(report.errors), errors=errors)
        send(ctx, env.sender, RECEIPT, body, action="rejected", outcome="failure", record_type="nza.ohw",
             record_id=period, reason=f"{report.bad_rows} bad row(s), {len(report.errors)} error(s)")
        # nothing goes to the NZa; the delivery is parked with the receipt's rule, the calendar keeps the attempt
        ctx.refuse(Rejected(f"{report.bad_rows} bad row(s), {len(report.errors)} error(s) in the OHW delivery",
                            rule=body["rule"]))
        return []
    due = due_date(ctx.app, period)
    status = "late" if today() > due else "received"
    store.add_accepted(ctx.db, env.message_id, env.sender, period, iso(), status, report.ok_rows)
    recipient = str(flow_settings(ctx.app, "nza").get("recipient", "nza"))
    send(ctx, recipient, env.kind, env.payload, action="delivered", content_type="application/zip",
         record_type="nza.ohw", record_id=period,
         headers={"x-sender": env.sender, "x-sender-id-type": sender.id_type, "x-sender-id": sender.id,
                  "x-filename": filename, "x-period": period})
    body.update(status="accepted", onTime=status == "received", due=due.isoformat(), errors=[])
    send(ctx, env.sender, RECEIPT, body, action="receipt", record_type="nza.ohw", record_id=period,
         reason=f"{status}: {report.ok_rows} row(s)")
    return []


# ----- care clusters ---------------------------------------------------------------------------
def _nza(ctx: HandlerContext, checked: Checked, why: str) -> list[Delivery]:
    return [Delivery(str(flow_settings(ctx.app, "nza").get("recipient", "nza")), checked.envelope, why)]


def handle_cluster(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    key = (env.sender, doc["trajectId"])
    row = store.trajectory_client(ctx.db, *key)
    if doc["moment"] == "start":
        if row:
            raise Rejected("this trajectory has a start questionnaire already", rule="ALREADY_STARTED")
        store.start_trajectory(ctx.db, *key, env.client_key or "", int(doc["zorgcluster"]), doc["datum"],
                               doc.get("evaluatieDatum", ""))
    else:
        if not row:
            raise Rejected("an evaluation needs a start questionnaire for the trajectory", rule="NO_START")
        if row[0][0] != (env.client_key or ""):
            raise Rejected("the client does not match the trajectory's client", rule="OTHER_CLIENT")
        store.evaluate_trajectory(ctx.db, *key, doc["datum"], int(doc["zorgcluster"]))
    ctx.records.append(record(ctx, f"cluster_{doc['moment']}", record_type="nza.traject", record_id=doc["trajectId"]))
    return _nza(ctx, checked, f"care-cluster questionnaire ({doc['moment']})")


def handle_left_care(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env, doc = checked.envelope, checked.document.json
    key = (env.sender, doc["trajectId"])
    row = store.trajectory_state(ctx.db, *key)
    if not row:
        raise Rejected("unknown trajectory: send the start questionnaire first", rule="UNKNOWN_TRAJECTORY")
    client, started, evaluated = row[0]
    if client != (env.client_key or ""):
        raise Rejected("the client does not match the trajectory's client", rule="OTHER_CLIENT")
    store.leave_care(ctx.db, *key, doc["datum"])
    if not evaluated or evaluated <= started:
        send(ctx, env.sender, "nza.evaluatie.gevraagd",
             {"trajectId": doc["trajectId"], "reden": "client left care early", "uiterlijk": doc["datum"],
              "vragenlijst": "evaluatie"},
             action="evaluation_requested", record_type="nza.traject", record_id=doc["trajectId"])
    return _nza(ctx, checked, "client left care")


def overdue(app: HubApp, db: Database, on: date | None = None) -> list[dict[str, Any]]:
    """The delivery-calendar job: scheduled deliveries past their due date with nothing accepted."""
    return [c for c in calendar(app, db, on) if c["status"] == "late" and not c["received_at"]]


def job_calendar(app: HubApp, db: Database) -> str:
    """The scheduled delivery-calendar job: which deliveries are overdue."""
    late = overdue(app, db)
    names = ", ".join(f"{c['provider']} {c['period']}" for c in late)
    return f"{len(late)} overdue deliver(y/ies)" + (f": {names}" if names else "")
