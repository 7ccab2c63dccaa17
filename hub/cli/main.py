"""The ``zorghub`` command: one command table, the flows' own groups, and one error boundary.

As pip's ``commands/``: each entry names the module of one command or group (``"module:cli"``),
imported only when that command runs (or ``--help`` lists it). Each installed flow adds its own group
(``zorghub ketenzorg claims``) through ``Flow.cli``. Every failure is one line on stderr and an
``ExitStatus`` (``hub/cli/status.py``, listed at the end of ``zorghub --help``).
"""

from __future__ import annotations

import difflib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

import click

from hub import logs
from hub.cli import boundary
from hub.cli.kit import CliState, pass_state
from hub.cli.status import epilog
from hub.errors import ConfigError, HubError

log = logging.getLogger("zorghub.cli")

#: command name -> "module:attribute" of its click command or group
COMMANDS: dict[str, str] = {
    "audit": "hub.cli.audit:cli",
    "communication": "hub.cli.communication:cli",
    "demo": "hub.cli.demo:cli",
    "dlq": "hub.cli.dlq:cli",
    "http": "hub.http.cli:http",
    "mappings": "hub.cli.mappings:cli",
    "metrics": "hub.cli.serve:metrics",
    "parties": "hub.cli.parties:cli",
    "send": "hub.cli.send:cli",
    "serve": "hub.cli.serve:serve",
    "status": "hub.cli.overview:cli",
    "tokens": "hub.http.cli:tokens",
    "watch": "hub.cli.watch:cli",
    "worker": "hub.cli.serve:worker",
}

def flow_commands() -> dict[str, str]:
    """Each installed flow's command group: flow name -> ``FLOW.cli`` ("module:attribute").

    Entry points are loaded one by one, so that one broken flow is named and skipped here (the hub
    itself refuses to start with it) while ``--help`` and every other command still work.
    """
    from hub.plugins.registry import GROUP, load_flows

    refs: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        try:
            flows = load_flows([ep])
        except HubError as exc:
            log.warning("%s", exc.reason)
            continue
        for flow in flows:
            if flow.cli:
                refs.setdefault(flow.name, flow.cli)
    return refs


def load(ref: str, name: str) -> click.Command:
    """The click command a ``"module:attribute"`` reference names."""
    from hub.plugins.registry import resolve

    command = resolve(ref, f"command {name!r}")
    if not isinstance(command, click.Command):
        raise ConfigError(f"command {name!r} ({ref}) is not a click command")
    return command


class HubGroup(click.Group):
    """The top level: the command table, then the flows' groups, then the argparse verbs still to move."""

    @staticmethod
    def flows(ctx: click.Context) -> dict[str, str]:
        """The flows' groups, looked up once per command line (not per process: tests install flows)."""
        meta = ctx.find_root().meta
        if "zorghub.flows" not in meta:
            meta["zorghub.flows"] = {n: r for n, r in flow_commands().items() if n not in COMMANDS}
        return dict(meta["zorghub.flows"])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.flows(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return load(COMMANDS[cmd_name], cmd_name)
        if cmd_name in self.flows(ctx):
            return load(self.flows(ctx)[cmd_name], cmd_name)
        return None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.exceptions.NoSuchCommand(name, possibilities=difflib.get_close_matches(
                name, self.list_commands(ctx), n=3), ctx=ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Core commands, then each flow's group: the owner shows in the listing."""
        sections = (("Commands", sorted(COMMANDS)), ("Flows", sorted(self.flows(ctx))))
        for title, names in sections:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=300)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=HubGroup, epilog=epilog(), context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="FILE", help="TOML settings file (default: $ZORGHUB_CONFIG)")
@click.option("--broker", metavar="URL", help="broker URL: memory:// (default) or amqp://user:pass@host:5672/vhost")
@click.option("--store", metavar="URL", help="store URL: sqlite:///path (default) or postgresql://host/db")
@click.option("-v", "--verbose", is_flag=True, help="debug logging, and a traceback with every error")
@click.version_option(package_name="zorghub", prog_name="zorghub", message="%(prog)s %(version)s")
@pass_state
def cli(state: CliState, config: str | None, broker: str | None, store: str | None, verbose: bool) -> None:
    """Message hub for Dutch care-data exchange.

    The global options may stand before or after the command: `zorghub demo --broker URL` works too.
    """
    state.config, state.broker, state.store, state.verbose = config, broker, store, verbose
    logs.setup(logging.DEBUG if verbose else logging.WARNING, verbose=verbose, cli=True)


GLOBAL_OPTIONS = ("--config", "--broker", "--store")
GLOBAL_FLAGS = ("-v", "--verbose")


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Let --broker, --store, --config and -v stand anywhere: `zorghub demo --broker URL` works too."""
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        name = item.split("=", 1)[0]
        if item == "--":  # everything after it is an argument
            rest.extend(items[i:])
            break
        if name in GLOBAL_OPTIONS:
            if "=" in item:
                front.append(item)
            elif i + 1 < len(items):
                front.extend(items[i:i + 2])
                i += 1
            else:
                rest.append(item)
        elif item in GLOBAL_FLAGS:
            front.append(item)
        else:
            rest.append(item)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: run one command line and return its exit status."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    return boundary.run(cli, args, CliState())


if __name__ == "__main__":
    sys.exit(main())
