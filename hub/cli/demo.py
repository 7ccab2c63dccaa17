"""``zorghub demo``: the seed walk-throughs, on the configured broker and store."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.command("demo")
@click.option("--seed", type=int, metavar="N", help="one seed; default: every seed in this build")
@click.option("--reset", is_flag=True, help="empty the named home or store first (default: a new home per run)")
@pass_settings
def cli(settings: Settings, seed: int | None, reset: bool) -> int:
    """Run the walk-through(s) in a fresh state and verify the audit chain afterwards."""
    from hub.demo import load_demos, run_demo_command

    demos = load_demos()
    if seed is not None and seed not in demos:
        known = ", ".join(str(n) for n in sorted(demos))
        raise click.BadParameter(f"no seed {seed} in this build (the seeds are {known})", param_hint="'--seed'")
    return run_demo_command(settings, [seed] if seed is not None else sorted(demos), reset=reset)
