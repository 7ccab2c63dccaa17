"""``zorghub nza``: the OHW delivery calendar."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.group(name="nza", help="NZa (seed 001): the OHW delivery calendar")
def cli() -> None:
    """The NZa flow's commands."""


@cli.command(help="each provider's OHW delivery status per period")
@click.option("--provider", help="only this provider")
@click.option("--today", help="evaluate as of this date (YYYY-MM-DD)")
@click.option("--rhythm", type=click.Choice(["1", "2"]), help="override the rhythm in months")
@pass_settings
def deliveries(settings: Settings, provider: str | None, today: str | None, rhythm: str | None) -> None:
    from hub.flows.nza import handlers
    from hub.flows.support import flow_settings, hub_on

    with hub_on(settings, today) as app:
        if rhythm:
            flow_settings(app, "nza")["rhythm_months"] = int(rhythm)
        rows = handlers.calendar(app, app.db, provider=provider)
        click.echo(f"{'provider':14s} {'period':8s} {'due':10s} {'status':9s} {'received':21s} attempts")
        for r in rows:
            click.echo(f"{r['provider']:14s} {r['period']:8s} {r['due']:10s} {r['status']:9s} "
                       f"{r['received_at'] or '-':21s} {r['attempts']}")
