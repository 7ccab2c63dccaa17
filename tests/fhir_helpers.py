"""The FHIR and webhook tests' common ground: a hub on RabbitMQ and PostgreSQL, its HTTP server on a
loopback port, and development tokens for its parties."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hub.http.auth import DEV_KEY_FILE
from hub.http.scopes import default_scopes
from hub.http.tokens import DevKey
from hub.settings import Settings
from hub.testing import TestHub


def token(settings: Settings, hub: TestHub, party: str, patient: str | None = None,
          scopes: list[str] | None = None) -> str:
    key = DevKey.at(Path(settings.home) / DEV_KEY_FILE, create=True)
    return key.issue(party, default_scopes(hub.app.parties.get(party)) if scopes is None else scopes,
                     issuer=settings.http_issuer, audience=settings.http_audience, patient=patient)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@contextmanager
def http_server(settings: Settings) -> Iterator[Any]:
    """The hub's HTTP server (its own hub and store connection) on a free loopback port."""
    from hub.http import server

    running = server.start_for(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c
