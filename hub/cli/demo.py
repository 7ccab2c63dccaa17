"""``zorghub demo``: the seed walk-throughs, on the configured broker and store."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.command("demo")
@click.option("--seed", type=int, metavar="N", help="one seed; default: every seed in this build")
@click.option("--reset", is_flag=True, help="empty the named home or store first (default: a new home per run)")
@click.option("--http", "over_http", is_flag=True, help="seed 000 with every party over HTTP, printing each curl line")
@pass_settings
def cli(settings: Settings, seed: int | None, reset: bool, over_http: bool) -> int:
    """Run the walk-through(s) in a fresh state and verify the audit chain afterwards."""
    from hub.demo import load_demos, run_demo_command

    if over_http:
        from hub.plugins.registry import resolve

        # named, not imported: the HTTP part sits above the flows and the operations code
        return run_demo_command(settings, [0], reset=reset, demos={0: resolve("hub.http.demo:seed000", "demo")})
    demos = load_demos()
    if seed is not None and seed not in demos:
        known = ", ".join(str(n) for n in sorted(demos))
        raise click.BadParameter(f"no seed {seed} in this build (the seeds are {known})", param_hint="'--seed'")
    return run_demo_command(settings, [seed] if seed is not None else sorted(demos), reset=reset)
