"""``zorghub send``: publish one file to a running hub as a party, as a vendor's client would."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.kit import current_state, did_you_mean, pass_settings, password_option, read_input, refuse_embedded
from hub.settings import Settings


@click.command("send")
@click.argument("file", metavar="FILE")
@click.option("--as", "as_party", required=True, metavar="PARTY", help="the sending party's name")
@click.option("--kind", required=True, help="message kind, e.g. indicatiebesluit")
@click.option("--content-type", help="default: application/xml for .xml files, else application/json")
@click.option("--client-key", default="", help="opaque per-client ordering key (never a BSN)")
@password_option
@pass_settings
def cli(settings: Settings, file: str, as_party: str, kind: str, content_type: str | None, client_key: str,
        password: str | None) -> int:
    """Publish FILE to the hub as a party; prints the message id."""
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.client import HubClient
    from hub.transports import open_transport, with_credentials

    body = read_input(file)
    parties = PartyRegistry.load(settings.parties_path)
    if parties.find(as_party) is None:
        raise click.BadParameter(f"unknown party {as_party!r}{did_you_mean(as_party, (p.name for p in parties))}",
                                 param_hint="'--as'")
    refuse_embedded(settings, "send")
    content_type = content_type or ("application/xml" if Path(file).suffix == ".xml" else "application/json")
    url = settings.broker_url
    if password:
        url = with_credentials(url, as_party, password)
        current_state().broker_in_use = url
    transport = open_transport(url)
    try:
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        message_id = HubClient(transport, topology, as_party).send(kind, body, content_type=content_type,
                                                                    client_key=client_key)
    finally:
        transport.close()
    click.echo(message_id)
    return 0
