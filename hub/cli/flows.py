"""``zorghub deliveries``, ``capacity``, ``jobs``, ``communication``, ``claims`` and ``watch``: seeds 001-004."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from hub.settings import Settings

if TYPE_CHECKING:
    from hub.app import HubApp


def _app(args: argparse.Namespace, settings: Settings) -> HubApp:
    """The hub, on the day ``--today`` names (if given): the calendars are read against it."""
    from hub.app import HubApp
    from hub.flows import support as common

    if getattr(args, "today", None):
        moment = datetime.combine(date.fromisoformat(args.today), datetime.min.time(), UTC).replace(hour=12)
        common.set_clock(lambda: moment)
    return HubApp.build(settings)


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from hub.flows import nza
    from hub.flows import support as common

    with _app(args, settings) as app:
        if args.rhythm:
            common.config(app).nza["rhythm_months"] = args.rhythm
        rows = nza.calendar(app, app.db, provider=args.provider)
        print(f"{'provider':14s} {'period':8s} {'due':10s} {'status':9s} {'received':21s} attempts")
        for r in rows:
            print(f"{r['provider']:14s} {r['period']:8s} {r['due']:10s} {r['status']:9s} "
                  f"{r['received_at'] or '-':21s} {r['attempts']}")
    return 0


def cmd_capacity(args: argparse.Namespace, settings: Settings) -> int:
    from hub.flows import zorgbeeld

    with _app(args, settings) as app:
        rows = zorgbeeld.picture(app, app.db, args.region)
        for r in rows:
            print(f"{r['aanbieder']:14s} {r['regio'] or '-':24s} {r['locatie']:8s} {r['behandeling']:10s} "
                  f"{r['status']:9s} {r['beschikbaar']:8s} {r['wachttijdWeken']:3d} wk  confirmed {r['bevestigdOp']}"
                  f"{'  STALE' if r['stale'] else ''}")
        print(f"{len(rows)} report(s), {sum(r['stale'] for r in rows)} stale "
              f"(rhythm {zorgbeeld.rhythm(app).days} days)", file=sys.stderr)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from hub.flows import jobs

    with _app(args, settings) as app:
        if args.action == "run":
            names = args.names or [s["name"] for s in jobs.states(app) if s["due"] or args.all]
            for name in names:
                if name not in jobs.JOBS:
                    print(f"zorghub: unknown job {name!r} (known: {', '.join(jobs.JOBS)})", file=sys.stderr)
                    return 1
                r = jobs.run(app, name)
                print(f"{name:18s} {r['outcome']:8s} {r['result']}")
            return 0
        for s in jobs.states(app):
            print(f"{s['name']:18s} last {s['last_run'] or 'never':21s} {s['outcome']:10s} runs {s['runs']:3d}  "
                  f"next {s['next_due']}  {s['result']}")
    return 0


def cmd_communication(args: argparse.Namespace, settings: Settings) -> int:
    """Beheer: per party, messages sent and received through the hub, with failures."""
    from hub.store.audit import AuditLog
    from hub.store.db import Database

    db = Database.open_existing(settings.effective_store_url)
    log = AuditLog(db, settings.key_bytes(create=False))
    where, params = ("WHERE actor = ? OR recipient = ?", (args.party, args.party)) if args.party else ("", ())
    rows = log.db.execute(f"SELECT actor, recipient, action, outcome, COUNT(*) FROM audit {where} "
                          "GROUP BY actor, recipient, action, outcome", params)
    stats: dict[str, dict[str, int]] = {}
    for actor, recipient, action, outcome, n in rows:
        if action == "received":
            key = "sent" if outcome == "success" else "sent_failed"
            stats.setdefault(actor, {}).setdefault(key, 0)
            stats[actor][key] += int(n)
        elif recipient and action in ("delivered", "notified", "replied", "query", "receipt", "rejected",
                                      "proposed", "evaluation_requested"):
            key = "rejections" if action == "rejected" else "received"
            stats.setdefault(recipient, {}).setdefault(key, 0)
            stats[recipient][key] += int(n)
    print(f"{'party':16s} {'sent':>6s} {'failed':>6s} {'received':>8s} {'rejections':>10s}")
    for party in sorted(stats):
        if args.party and party != args.party:
            continue
        s = stats[party]
        print(f"{party:16s} {s.get('sent', 0):6d} {s.get('sent_failed', 0):6d} {s.get('received', 0):8d} "
              f"{s.get('rejections', 0):10d}")
    db.close()
    return 0


def cmd_claims(args: argparse.Namespace, settings: Settings) -> int:
    from hub.flows import ketenzorg

    with _app(args, settings) as app:
        for t in ketenzorg.totals(app.db, args.year):
            print(f"{t['maand']}  {t['verzekeraar']:14s} {t['aantal']:5d} claim(s)  EUR {t['bedragCent'] / 100:12.2f}")
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.client import HubClient
    from hub.ops.files import FileDropAdapter
    from hub.transports import open_transport

    PartyRegistry.load(settings.parties_path).get(args.as_party)
    url = settings.broker_url
    if args.password:
        from hub.transports import with_credentials

        url = with_credentials(url, args.as_party, args.password)
    transport = open_transport(url)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    kinds = dict(item.split("=", 1) for item in args.kind)
    adapter = FileDropAdapter(args.directory, HubClient(transport, topology, args.as_party), kinds,
                              settle_seconds=args.settle)
    try:
        if args.once:
            for name, mid in adapter.scan_once():
                print(f"{name} -> {mid}")
        else:
            adapter.watch(threading.Event(), args.interval)
    finally:
        transport.close()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("deliveries", help="NZa OHW delivery calendar: each provider's status per period")
    p.add_argument("--provider")
    p.add_argument("--today", help="evaluate as of this date (YYYY-MM-DD)")
    p.add_argument("--rhythm", type=int, choices=(1, 2), help="override the rhythm in months")
    p.set_defaults(func=cmd_deliveries)

    p = sub.add_parser("capacity", help="Zorgbeeld: the current capacity picture, stale reports flagged")
    p.add_argument("--region")
    p.add_argument("--today")
    p.set_defaults(func=cmd_capacity)

    p = sub.add_parser("jobs", help="scheduled jobs: stale check, delivery calendar, retention")
    p.add_argument("action", nargs="?", choices=("list", "run"), default="list")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="run every job, due or not")
    p.add_argument("--today")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("communication", help="beheer: messages per party (sent, failed, received, rejections)")
    p.add_argument("--party")
    p.set_defaults(func=cmd_communication)

    p = sub.add_parser("claims", help="ketenzorg: monthly claim totals per insurer")
    p.add_argument("--year")
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("watch", help="publish files dropped in a directory as a party")
    p.add_argument("directory")
    p.add_argument("--as", dest="as_party", required=True)
    p.add_argument("--kind", action="append", default=[], metavar="SUFFIX=KIND",
                   help="e.g. .zip=nza.ohw (repeatable)")
    p.add_argument("--password", help="the party's broker password (amqp only)")
    p.add_argument("--once", action="store_true", help="scan once and exit")
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=2.0, help="seconds a file must be unchanged")
    p.set_defaults(func=cmd_watch)
