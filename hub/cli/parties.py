"""``zorghub parties``: the party registry, and provisioning it in RabbitMQ."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings, refuse_embedded
from hub.settings import Settings


@click.group("parties")
def cli() -> None:
    """The party registry."""


@cli.command("list")
@pass_settings
def list_parties(settings: Settings) -> int:
    """Every party: name, identifier (never a BSN), roles and accepted formats."""
    from hub.catalogue.parties import PartyRegistry

    for p in PartyRegistry.load(settings.parties_path):
        click.echo(f"{p.name:16s} {p.id_type:7s} {'(BSN)' if p.id_type == 'BSN' else p.id:22s} "
                   f"{','.join(p.roles):18s} accepts {','.join(p.accepts)}")
    return 0


@cli.command("sync")
@pass_settings
def sync(settings: Settings) -> int:
    """Provision every party in RabbitMQ (user, permissions) and declare the topology."""
    from hub.app import HubApp
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.demo import _vhost
    from hub.transports import open_transport
    from hub.transports.management import Management

    refuse_embedded(settings, "parties sync")
    HubApp.build(settings).close()  # provisioning makes the store and the key too, for the readers after it
    parties = PartyRegistry.load(settings.parties_path)
    mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    done = mgmt.sync_parties(_vhost(settings.broker_url), parties, topology)
    transport = open_transport(settings.broker_url)
    try:
        transport.declare(topology, parties)
    finally:
        transport.close()
    click.echo(f"synced {len(done)} parties and declared the topology: {', '.join(done)}")
    return 0
