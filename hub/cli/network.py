"""``zorghub`` commands for the network model: subscriptions, queries, terugmeldingen, FHIR.

They work on the hub's store directly (the configured ``--store``), so an
operator can look without a broker. A query from the command line goes
through the same templates and authorisation as one over AMQP, and is audited
the same way (the kind is ``cli.bevragen``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.settings import Settings


@dataclass(frozen=True)
class _CliEnvelope:
    kind: str = "cli.bevragen"
    message_id: str = ""
    correlation_id: str = ""


@contextlib.contextmanager
def _network(settings: Settings) -> Iterator[tuple[Any, Any]]:
    """The hub and its network model, closed when the command is done."""
    from hub.app import HubApp
    from hub.flows.network import network_of

    with HubApp.build(settings) as app:
        yield app, network_of(app)


def cmd_subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    with _network(settings) as (app, net):
        for s in net.notifier.subscriptions(args.party):
            events = ",".join(s.event_types) if len(s.event_types) <= 4 else f"{len(s.event_types)} event types"
            print(f"{s.id:38s} {s.party:14s} {s.status:10s} #{s.last_seq:<5d} {events or '(verplicht)'}"
                  f"{' filter ' + ','.join(sorted(s.filter)) if s.filter else ''}")
        if args.sent:
            for n in net.notifier.sent(args.party):
                print(f"  {n['ts']} {n['party']:14s} #{n['volgnummer']:<4d} {n['eventType']:45s} "
                      f"{n['subject']}/{n['recordID']}")
    return 0


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from hub.envelope import new_id

    with _network(settings) as (app, net):
        party = app.parties.get(args.as_party)
        params = dict(p.split("=", 1) for p in args.params)
        records: list[Any] = []
        env = _CliEnvelope(message_id=new_id())
        answer = net.query.run(party, args.template, params, env, records)
        app.audit.append(records)
        json.dump(answer, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0 if answer.get("status") == "ok" else 1


def cmd_terugmeldingen(args: argparse.Namespace, settings: Settings) -> int:
    with _network(settings) as (app, net):
        for t in net.terugmeldingen.all():
            print(f"{t.id}  {t.status:12s} {t.reporter:14s} -> {t.owner:14s} {t.subject}/{t.record_id} "
                  f"{t.regelcode}{': ' + t.reden if t.reden else ''}")
    return 0


def cmd_fhir(args: argparse.Namespace, settings: Settings) -> int:
    from hub.flows.network.fhir import to_fhir

    with _network(settings) as (app, net):
        rec = net.registers.find(args.record_id)
        if rec is None:
            print(f"zorghub: no record {args.record_id}", file=sys.stderr)
            return 1
        json.dump(to_fhir(rec), sys.stdout, indent=2, ensure_ascii=False)
        print()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("subscriptions", help="network model: list subscriptions (and sent notifications)")
    p.add_argument("--party", help="only this party's")
    p.add_argument("--sent", action="store_true", help="also list the numbered notifications sent")
    p.set_defaults(func=cmd_subscriptions)

    p = sub.add_parser("query", help="network model: run a query template as a party (audited)")
    p.add_argument("template", help="e.g. wlzIndicatie, clientOverzicht, eigenBijdrage, terugmelding")
    p.add_argument("params", nargs="*", help="name=value parameters")
    p.add_argument("--as", dest="as_party", required=True, help="the querying party's name")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("terugmeldingen", help="network model: list terugmeldingen and their status")
    p.set_defaults(func=cmd_terugmeldingen)

    p = sub.add_parser("fhir", help="network model: one register record as a FHIR R4 resource")
    p.add_argument("record_id")
    p.set_defaults(func=cmd_fhir)
