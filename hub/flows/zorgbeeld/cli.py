"""``zorghub zorgbeeld``: the capacity picture."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.group(name="zorgbeeld", help="Zorgbeeld (seed 002): the capacity picture")
def cli() -> None:
    """The Zorgbeeld flow's commands."""


@cli.command(help="the current capacity picture, stale reports flagged")
@click.option("--region", help="only this ROAZ region")
@click.option("--today", help="evaluate as of this date (YYYY-MM-DD)")
@pass_settings
def capacity(settings: Settings, region: str | None, today: str | None) -> None:
    from hub.flows.support import hub_on
    from hub.flows.zorgbeeld import handlers

    with hub_on(settings, today) as app:
        rows = handlers.picture(app, app.db, region)
        for r in rows:
            click.echo(f"{r['aanbieder']:14s} {r['regio'] or '-':24s} {r['locatie']:8s} {r['behandeling']:10s} "
                       f"{r['status']:9s} {r['beschikbaar']:8s} {r['wachttijdWeken']:3d} wk  confirmed "
                       f"{r['bevestigdOp']}{'  STALE' if r['stale'] else ''}")
        click.echo(f"{len(rows)} report(s), {sum(r['stale'] for r in rows)} stale "
                   f"(rhythm {handlers.rhythm(app).days} days)", err=True)
