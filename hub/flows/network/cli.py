"""``zorghub network``: subscriptions, queries, terugmeldingen and FHIR views of the network model.

They work on the hub's store directly (the configured ``--store``), so an operator can look without a
broker. A query from the command line goes through the same templates and authorisation as one over
AMQP, and is audited the same way (the kind is ``cli.bevragen``).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from hub.cli.kit import pass_settings
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

    with HubApp.build(settings, create=False) as app:
        yield app, network_of(app)


@click.group(name="network", help="the iWlz network model (seed 000): subscriptions, queries, terugmeldingen")
def cli() -> None:
    """The network flow's commands."""


@cli.command(help="list subscriptions (and the numbered notifications sent)")
@click.option("--party", help="only this party's")
@click.option("--sent", is_flag=True, help="also list the numbered notifications sent")
@pass_settings
def subscriptions(settings: Settings, party: str | None, sent: bool) -> None:
    with _network(settings) as (_, net):
        for s in net.notifier.subscriptions(party):
            events = ",".join(s.event_types) if len(s.event_types) <= 4 else f"{len(s.event_types)} event types"
            click.echo(f"{s.id:38s} {s.party:14s} {s.status:10s} #{s.last_seq:<5d} {events or '(verplicht)'}"
                       f"{' filter ' + ','.join(sorted(s.filter)) if s.filter else ''}")
        if sent:
            for n in net.notifier.sent(party):
                click.echo(f"  {n['ts']} {n['party']:14s} #{n['volgnummer']:<4d} {n['eventType']:45s} "
                           f"{n['subject']}/{n['recordID']}")


@cli.command(help="run a query template as a party (audited)")
@click.argument("template")
@click.argument("params", nargs=-1)
@click.option("--as", "as_party", required=True, help="the querying party's name")
@pass_settings
def query(settings: Settings, template: str, params: tuple[str, ...], as_party: str) -> None:
    """TEMPLATE is e.g. wlzIndicatie, clientOverzicht, eigenBijdrage, terugmelding; PARAMS are name=value."""
    from hub.envelope import new_id

    with _network(settings) as (app, net):
        party = app.parties.get(as_party)
        values = dict(p.split("=", 1) for p in params)
        records: list[Any] = []
        answer = net.query.run(party, template, values, _CliEnvelope(message_id=new_id()), records)
        app.audit.append(records)
        json.dump(answer, sys.stdout, indent=2, ensure_ascii=False)
        click.echo()
        if answer.get("status") != "ok":
            click.get_current_context().exit(1)


@cli.command(help="list terugmeldingen and their status")
@pass_settings
def terugmeldingen(settings: Settings) -> None:
    with _network(settings) as (_, net):
        for t in net.terugmeldingen.all():
            click.echo(f"{t.id}  {t.status:12s} {t.reporter:14s} -> {t.owner:14s} {t.subject}/{t.record_id} "
                       f"{t.regelcode}{': ' + t.reden if t.reden else ''}")


@cli.command(help="one register record as a FHIR R4 resource")
@click.argument("record_id")
@pass_settings
def fhir(settings: Settings, record_id: str) -> None:
    from hub.flows.network.fhir import to_fhir

    with _network(settings) as (_, net):
        rec = net.registers.find(record_id)
        if rec is None:
            click.echo(f"zorghub: no record {record_id}", err=True)
            click.get_current_context().exit(1)
        json.dump(to_fhir(rec), sys.stdout, indent=2, ensure_ascii=False)
        click.echo()
