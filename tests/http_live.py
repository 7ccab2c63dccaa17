"""A hub with its HTTP server on a loopback port, on the real RabbitMQ and PostgreSQL, for the HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.http import auth, server
from hub.http.client import HttpParty
from hub.http.scopes import default_scopes
from hub.http.tokens import DevKey
from hub.settings import Settings
from hub.testing import TestHub


class Live:
    """The hub (worker and AMQP parties: ``hub``), its HTTP server (``url``) and a token per party."""

    def __init__(self, hub: TestHub, running: server.Running, key: DevKey) -> None:
        self.hub = hub
        self.running = running
        self.url = running.url
        self.key = key
        self.settings = hub.settings
        self.clients: list[HttpParty] = []

    def token(self, party: str, scopes: list[str] | None = None, **kw: object) -> str:
        registry = self.hub.app.parties
        granted = default_scopes(registry.get(party)) if scopes is None else scopes
        patient = registry.get(party).id if registry.get(party).id_type == "BSN" else None
        options = {"issuer": self.settings.http_issuer, "audience": self.settings.http_audience,
                   "patient": patient, **kw}
        return self.key.issue(party, granted, **options)  # type: ignore[arg-type]

    def party(self, name: str, scopes: list[str] | None = None) -> HttpParty:
        client = HttpParty(self.url, name, self.token(name, scopes))
        self.clients.append(client)
        return client


@contextmanager
def live_hub(settings: Settings, **server_kw: object) -> Iterator[Live]:
    key = DevKey.at(Path(settings.home) / auth.DEV_KEY_FILE, create=True)
    with TestHub(settings, out=lambda _: None) as hub:
        running = server.start_for(settings, port=0, **server_kw)
        live = Live(hub, running, key)
        try:
            yield live
        finally:
            for c in live.clients:
                c.close()
            running.stop()
