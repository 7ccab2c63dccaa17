"""Seed 002, Zorgbeeld: capacity reports per location and treatment, confirmations, and the picture.

- ``zorgbeeld.rapport``: a hospital or clinic reports status, availability and waiting time. A report
  that changes something is a new report (kept in the history) and is sent to the subscribers
  (the flow's ``settings.toml``); an unchanged one counts as a confirmation.
- ``zorgbeeld.bevestiging``: "still true" for one location/treatment, or for all of the sender's reports.
- ``zorgbeeld.vraag``: the current picture, as ``zorgbeeld.beeld`` reply. A hospital sees its own ROAZ
  region; insurers and the LCPS see everything; the NZa sees everything, with history. A report not
  confirmed within the rhythm is returned with ``stale: true``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.app import HubApp
from hub.envelope import Delivery
from hub.errors import Forbidden, Rejected
from hub.flows.support import flow_settings, iso, now, parse_iso, reply
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.store.db import Database
from hub.store.flows import zorgbeeld as store


def install(app: HubApp) -> None:
    store.create(app.db)
    app.handlers["zorgbeeld.rapport"] = handle_report
    app.handlers["zorgbeeld.bevestiging"] = handle_confirmation
    app.handlers["zorgbeeld.vraag"] = handle_query
    app.handlers["zorgbeeld.csv"] = handle_csv


def region_of(app: HubApp, party: str) -> str | None:
    for name, region in flow_settings(app, "zorgbeeld").get("roaz", {}).items():
        if party in region.get("members", []):
            return str(name)
    return None


def rhythm(app: HubApp) -> timedelta:
    return timedelta(days=float(flow_settings(app, "zorgbeeld").get("confirm_rhythm_days", 7)))


def _reporter_region(ctx: HandlerContext) -> str:
    region = region_of(ctx.app, ctx.envelope.sender)
    if region is None:
        raise Forbidden(f"party {ctx.envelope.sender!r} is not a Zorgbeeld reporter in any ROAZ region",
                        rule="NOT_A_REPORTER")
    return region


def store_report(app: HubApp, db: Database, party: str, message_id: str, row: dict[str, Any]) -> bool:
    """Record one report; True when it changed the picture (a new report), False for a confirmation."""
    stamp = iso()
    location, treatment = str(row["locatie"]), str(row["behandeling"])
    values = (str(row["status"]), str(row["beschikbaar"]), int(row["wachttijdWeken"]))
    current = store.current_values(db, party, location, treatment)
    if current and tuple(current[0]) == values:
        store.confirm_one(db, party, location, treatment, stamp)
        return False
    store.add_report(db, message_id, party, location, treatment, values, stamp)
    return True


def subscribers(app: HubApp, reporter: str) -> list[tuple[str, str]]:
    region = region_of(app, reporter)
    found: dict[str, str] = {}
    for sub in flow_settings(app, "zorgbeeld").get("subscriber", []):
        for party in app.parties.with_role(sub["role"]):
            if party.name == reporter:
                continue
            if party.region and party.has_role("zorgverzekeraar") and party.region != region:
                continue  # an insurer that buys care in one region hears of that region only
            if sub.get("scope", "all") == "all" or region_of(app, party.name) == region:
                found.setdefault(party.name, f"subscriber ({sub['role']}, {sub.get('scope', 'all')})")
    return sorted(found.items())


def handle_report(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    _reporter_region(ctx)
    env = checked.envelope
    changed = store_report(ctx.app, ctx.db, env.sender, env.message_id, checked.document.json)
    if not changed:
        return []
    return [Delivery(name, env, why) for name, why in subscribers(ctx.app, env.sender)]


def handle_confirmation(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    _reporter_region(ctx)
    doc = checked.document.json
    sender = checked.envelope.sender
    location: str | None = None
    treatment: str | None = None
    if not doc.get("alle"):
        if not doc.get("locatie") or not doc.get("behandeling"):
            raise Rejected("a confirmation names locatie and behandeling, or sets alle: true", rule="CONFIRM_WHAT")
        location, treatment = doc["locatie"], doc["behandeling"]
    if not store.count_current(ctx.db, sender, location, treatment):
        raise Rejected("there is no current report to confirm; send a zorgbeeld.rapport first", rule="NO_REPORT")
    store.confirm(ctx.db, iso(), sender, location, treatment)
    return []


def picture(app: HubApp, db: Database, region: str | None = None) -> list[dict[str, Any]]:
    """The current reports, with region and the stale flag computed against the rhythm."""
    limit = now() - rhythm(app)
    out = []
    for row in store.current(db):
        party, location, treatment, status, available, wait, reported, confirmed, _ = row
        reg = region_of(app, party)
        if region is not None and reg != region:
            continue
        out.append({"aanbieder": party, "regio": reg, "locatie": location, "behandeling": treatment,
                    "status": status, "beschikbaar": available, "wachttijdWeken": int(wait),
                    "gemeldOp": reported, "bevestigdOp": confirmed, "stale": parse_iso(confirmed) < limit})
    return out


def history(db: Database) -> list[dict[str, Any]]:
    return [{"aanbieder": r[0], "locatie": r[1], "behandeling": r[2], "status": r[3], "beschikbaar": r[4],
             "wachttijdWeken": int(r[5]), "gemeldOp": r[6]}
            for r in store.history(db)]


def reader_region(app: HubApp, party: str, asked: str | None = None) -> str | None:
    """The region ``party`` may read (``None``: all), or ``Forbidden``: the rule for every reader.

    The NZa and the LCPS read any region; an insurer too, unless the registry gives it a ``region``
    (the ROAZ region it buys care in), which it then reads only; a hospital reads its own region.
    """
    sender = app.parties.get(party)
    if sender.has_role("nza") or sender.has_role("lcps"):
        return asked
    if sender.has_role("zorgverzekeraar"):
        if sender.region and asked and asked != sender.region:
            raise Forbidden(f"insurer {party!r} reads its own region ({sender.region}) only", rule="OTHER_REGION")
        return sender.region or asked
    own = region_of(app, party)
    if own is None:
        raise Forbidden(f"party {party!r} may not read Zorgbeeld", rule="NO_READ_ROLE")
    if asked and asked != own:
        raise Forbidden(f"a hospital reads its own ROAZ region ({own}) only", rule="OTHER_REGION")
    return own


def handle_query(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    doc = checked.document.json
    sender = ctx.app.parties.get(checked.envelope.sender)
    want_history = bool(doc.get("historie"))
    if want_history and not sender.has_role("nza"):
        raise Forbidden("only the NZa may read the report history", rule="HISTORY_NZA_ONLY")
    region = reader_region(ctx.app, sender.name, doc.get("regio"))
    reports = picture(ctx.app, ctx.db, region)
    if doc.get("behandeling"):
        reports = [r for r in reports if r["behandeling"] == doc["behandeling"]]
    body: dict[str, Any] = {"asOf": iso(), "regio": region or "*",
                            "rhythmDays": rhythm(ctx.app).days, "reports": reports}
    if want_history:
        body["history"] = history(ctx.db)
    reply(ctx, "zorgbeeld.beeld", body, action="query", record_type="zorgbeeld",
          reason=f"{len(reports)} report(s), region {region or 'all'}")
    return []


def mark_stale(app: HubApp, db: Database) -> int:
    """The stale-check job: flag current reports past the rhythm; returns how many are stale."""
    limit = iso(now() - rhythm(app))
    return store.mark_stale(db, limit)


def prune_history(app: HubApp, db: Database) -> int:
    """The retention job: drop report history older than the retention period (current rows stay)."""
    days = float(flow_settings(app, "zorgbeeld").get("history_retention_days", 730))
    limit = iso(now() - timedelta(days=days))
    return store.prune_history(db, limit)


def handle_csv(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    """Reports as CSV rows (``schemas/csv/zorgbeeld.row.schema.json``): all rows valid, or refused."""
    from hub.flows.support import send
    from hub.formats import csvbatch

    _reporter_region(ctx)
    env = checked.envelope
    report = csvbatch.validate_csv("zorgbeeld", env.payload)
    if not report.ok:
        listed = "; ".join(f"line {e.line} {e.column}: {e.reason}" for e in report.errors[:20])
        raise Rejected(f"{report.bad_rows or len(report.errors)} bad row(s): {listed}", rule="ROW_ERRORS")
    own = ctx.app.parties.get(env.sender).id
    # rows are streamed from the payload, twice, rather than decoded whole into memory
    for n, row in csvbatch.dict_rows(env.payload):
        if row["locatie_agb"] != own:
            raise Rejected(f"line {n}: locatie_agb is not the sender's AGB code", rule="OTHER_PROVIDER")
    for n, row in csvbatch.dict_rows(env.payload):
        item = {"locatie": row["locatie_id"], "behandeling": row["behandeling"], "beschikbaar": row["beschikbaar"],
                "wachttijdWeken": int(row["wachttijd_weken"]), "status": row["status"], "peildatum": row["peildatum"]}
        if store_report(ctx.app, ctx.db, env.sender, f"{env.message_id}:{n}", item):
            for name, why in subscribers(ctx.app, env.sender):
                send(ctx, name, "zorgbeeld.rapport", {**item, "aanbieder": env.sender}, action="delivered",
                     reason=why, headers={"x-sender": env.sender})
    return []


def job_stale(app: HubApp, db: Database) -> str:
    """The scheduled stale check."""
    return f"{mark_stale(app, db)} stale report(s)"


def job_retention(app: HubApp, db: Database) -> str:
    """The scheduled retention of the report history."""
    return f"{prune_history(app, db)} history row(s) pruned"
