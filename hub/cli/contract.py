"""``zorghub contract``: the vendor contract as a document (``docs/contract.md`` explains it).

``asyncapi`` prints the AsyncAPI 3.0 document generated from the kind catalogue and the flows'
``contract.toml`` files, or writes it to a file. It reads only the installed code and data: no
broker, no store, and nothing is created.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from hub.catalogue.asyncapi import document
from hub.catalogue.topology import Topology
from hub.cli.kit import pass_settings
from hub.settings import Settings


def asyncapi_document(settings: Settings) -> dict:  # type: ignore[type-arg]
    """The document for these settings' kinds and the installed flows."""
    from hub.plugins.registry import contract, kind_catalogue, load_flows

    flows = load_flows()
    kinds = kind_catalogue(settings.kinds_path, flows)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    return document(kinds, contract(settings.kinds_path, flows), topology)


@click.group(help="The vendor contract as machine-readable documents.")
def cli() -> None:
    pass


@cli.command(help="Print the AsyncAPI 3.0 document of the AMQP contract (or write it with --output).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the document to this file instead of standard output.")
@pass_settings
def asyncapi(settings: Settings, output: Path | None) -> None:
    text = orjson.dumps(asyncapi_document(settings), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if output is None:
        click.echo(text.decode(), nl=False)
        return
    if not output.parent.is_dir():
        raise click.BadParameter(f"cannot write {output}: folder {output.parent} does not exist",
                                 param_hint="--output")
    output.write_bytes(text)
    click.echo(f"wrote {output}")
