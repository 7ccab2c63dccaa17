"""``zorghub inkoop``: the naleving dashboard, as a party sees it."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.group(name="inkoop", help="Zorginkoopportaal (seed 003): contracts and delivery requests")
def cli() -> None:
    """The Zorginkoopportaal flow's commands."""


@cli.command(help="the delivery requests of a party's contracts: in, open or missing")
@click.argument("party")
@click.option("--today", help="evaluate as of this date (YYYY-MM-DD)")
@pass_settings
def dashboard(settings: Settings, party: str, today: str | None) -> None:
    from hub.flows.inkoop import handlers
    from hub.flows.support import hub_on

    with hub_on(settings, today) as app:
        app.parties.get(party)
        items = handlers.dashboard(app.db, party)
        for i in items:
            click.echo(f"{i['verzoekId']:14s} {i['verzekeraar']:12s} -> {i['aanbieder']:12s} due {i['uiterlijk']}  "
                       f"{i['status']:9s} {i['onderwerp']}")
        click.echo(f"{len(items)} request(s), {sum(i['status'] == 'ontbreekt' for i in items)} missing", err=True)
