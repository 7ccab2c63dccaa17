"""``zorghub http`` (the HTTP front door) and ``zorghub tokens issue`` (development access tokens)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.command("http")
@click.option("--port", type=click.IntRange(0, 65535), help="0 picks a free port (default: settings.http_port, "
                                                            "else 8080)")
@click.option("--bind", help="address to listen on (default: settings.http_bind)")
@pass_settings
def http(settings: Settings, port: int | None, bind: str | None) -> int:
    """Serve the HTTP front door: GraphQL netwerkpunt, POST /messages, OpenAPI, health and metrics.

    On the embedded broker (memory://) a worker runs in this process too, since no other can reach it.
    """
    from hub.cli.serve import _logging
    from hub.http import server
    from hub.http.app import create_app
    from hub.transports import is_embedded

    _logging()
    stop = threading.Event()
    worker = None
    if is_embedded(settings.broker_url):
        from hub.ops.runner import run_worker

        worker = threading.Thread(target=run_worker, args=(settings, 0, 1, stop), name="worker", daemon=True)
        worker.start()
    try:
        server.run(create_app(settings), bind or settings.http_bind,
                   settings.http_port or 8080 if port is None else port,
                   announce=lambda url: print(f"zorghub: http on {url}", file=sys.stderr, flush=True))
    finally:
        stop.set()
        if worker is not None:
            worker.join(10)
    return 0


@click.group("tokens")
def tokens() -> None:
    """Development access tokens, signed by a key in the hub's home (not for production)."""


@tokens.command("issue")
@click.argument("party")
@click.option("--scope", "scopes", multiple=True, help="a scope to grant (repeatable); default: every scope the "
                                                       "party's roles may hold")
@click.option("--patient", help="the client (BSN) a PGO token is limited to")
@click.option("--ttl", type=click.IntRange(min=1), default=3600, show_default=True, help="seconds valid")
@click.option("--audience", help="default: settings.http_audience")
@click.option("--jwks", "jwks_out", type=click.Path(dir_okay=False), help="also write the key's JWKS here")
@pass_settings
def issue(settings: Settings, party: str, scopes: tuple[str, ...], patient: str | None, ttl: int,
          audience: str | None, jwks_out: str | None) -> int:
    """Print an access token for PARTY (its client_id), from the development key (made if absent)."""
    import orjson

    from hub.catalogue.parties import PartyRegistry
    from hub.cli.kit import did_you_mean
    from hub.http import auth
    from hub.http.scopes import default_scopes
    from hub.http.tokens import DevKey

    registry = PartyRegistry.load(settings.parties_path)
    if party not in registry:
        raise click.BadParameter(f"no party {party!r}{did_you_mean(party, [p.name for p in registry])}",
                                 param_hint="'PARTY'")
    settings.ensure_home()
    key = DevKey.at(Path(settings.home) / auth.DEV_KEY_FILE, create=True)
    granted = scopes or default_scopes(registry.get(party))
    if patient is None and registry.get(party).id_type == "BSN":
        patient = registry.get(party).id
    print(key.issue(party, granted, issuer=settings.http_issuer, audience=audience or settings.http_audience,
                    ttl=ttl, patient=patient))
    if jwks_out:
        Path(jwks_out).write_bytes(orjson.dumps(key.jwks(), option=orjson.OPT_INDENT_2))
    return 0
