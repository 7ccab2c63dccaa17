"""``zorghub jobs``: the beheer view of every flow's scheduled jobs, and running them."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings

TODAY = click.option("--today", help="evaluate as of this date (YYYY-MM-DD)")


@click.group(name="jobs", invoke_without_command=True,
             help="scheduled jobs: stale check, delivery calendar, retention (default: list them)")
@TODAY
@click.pass_context
def cli(ctx: click.Context, today: str | None) -> None:
    """Without a subcommand: the list."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_jobs, today=today)


@cli.command(name="list", help="each job's last run, outcome and next due time")
@TODAY
@pass_settings
def list_jobs(settings: Settings, today: str | None) -> None:
    from hub.flows.jobs import schedule
    from hub.flows.support import hub_on

    with hub_on(settings, today) as app:
        for s in schedule.states(app):
            click.echo(f"{s['name']:18s} last {s['last_run'] or 'never':21s} {s['outcome']:10s} runs {s['runs']:3d}  "
                       f"next {s['next_due']}  {s['result']}")


@cli.command(help="run the due jobs, the named ones, or --all")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="run every job, due or not")
@TODAY
@pass_settings
def run(settings: Settings, names: tuple[str, ...], run_all: bool, today: str | None) -> None:
    from hub.flows.jobs import schedule
    from hub.flows.support import hub_on

    with hub_on(settings, today) as app:
        known = schedule.all_jobs(app)
        unknown = [n for n in names if n not in known]
        if unknown:
            click.echo(f"zorghub: unknown job {unknown[0]!r} (known: {', '.join(known)})", err=True)
            click.get_current_context().exit(1)
        for name in names or [s["name"] for s in schedule.states(app) if s["due"] or run_all]:
            r = schedule.run(app, name)
            click.echo(f"{name:18s} {r['outcome']:8s} {r['result']}")
