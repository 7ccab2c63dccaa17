"""``zorghub ketenzorg``: the care group's claim totals."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.group(name="ketenzorg", help="ketenzorg (seed 004): chain-care claims")
def cli() -> None:
    """The ketenzorg flow's commands."""


@cli.command(help="monthly claim totals per insurer")
@click.option("--year", help="only this year")
@pass_settings
def claims(settings: Settings, year: str | None) -> None:
    from hub.app import HubApp
    from hub.flows.ketenzorg import handlers

    with HubApp.build(settings, create=False) as app:
        for t in handlers.totals(app.db, year):
            click.echo(f"{t['maand']}  {t['verzekeraar']:14s} {t['aantal']:5d} claim(s)  "
                       f"EUR {t['bedragCent'] / 100:12.2f}")
