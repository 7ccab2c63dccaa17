"""``zorghub watch``: publish the files dropped in a directory as one party."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from hub.cli.kit import current_state, did_you_mean, pass_settings, password_option
from hub.settings import Settings


@click.command(name="watch", help="publish files dropped in a directory as a party")
@click.argument("directory")
@click.option("--as", "as_party", required=True, help="the sending party's name")
@click.option("--kind", "kinds", multiple=True, metavar="SUFFIX=KIND", help="e.g. .zip=nza.ohw (repeatable)")
@password_option
@click.option("--once", is_flag=True, help="scan once and exit")
@click.option("--interval", type=float, default=2.0, show_default=True)
@click.option("--settle", type=float, default=2.0, show_default=True, help="seconds a file must be unchanged")
@pass_settings
def cli(settings: Settings, directory: str, as_party: str, kinds: tuple[str, ...], password: str | None,
        once: bool, interval: float, settle: float) -> None:
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.client import HubClient
    from hub.ops.files import FileDropAdapter
    from hub.transports import open_transport, with_credentials

    parties = PartyRegistry.load(settings.parties_path)
    if parties.find(as_party) is None:
        raise click.BadParameter(f"unknown party {as_party!r}{did_you_mean(as_party, (p.name for p in parties))}",
                                 param_hint="'--as'")
    bad = [item for item in kinds if "=" not in item]
    if bad:
        raise click.BadParameter(f"give SUFFIX=KIND, not {bad[0]!r}", param_hint="'--kind'")
    mapping = dict(item.split("=", 1) for item in kinds)
    url = settings.broker_url
    if password:
        url = with_credentials(url, as_party, password)
        current_state().broker_in_use = url
    transport = open_transport(url)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    adapter = FileDropAdapter(Path(directory), HubClient(transport, topology, as_party), mapping, settle_seconds=settle)
    try:
        if once:
            for name, mid in adapter.scan_once():
                click.echo(f"{name} -> {mid}")
        else:
            adapter.watch(threading.Event(), interval)
    finally:
        transport.close()
