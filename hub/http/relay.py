"""The hub as sender: the notifications of a party that an external netwerkpunt serves go there.

``netwerkpunten`` in the settings names ``party=url`` pairs. For each, a relay consumes the party's
inbox and calls the netwerkpunt's ``zendNotificatie`` with each ``network.notificatie`` in it. A
message is acked only once the netwerkpunt answered with its ``notificatieID`` (audited as
``relayed``); until then it is retried with exponential backoff (0.5 s doubling, capped at 30 s), and
after a while on one connection the relay reconnects, so the broker keeps the message meanwhile. The
receiving netwerkpunt derives its id from the content, so a repeat after a crash is not delivered twice.
A notificatie the netwerkpunt refuses (a GraphQL error, not a failure to answer) goes to the dead
letter channel with its reason. The access token is minted for the notification's afzender by this
hub's token key; the receiving hub trusts that key's JWKS.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from hub.app import HubApp
from hub.errors import ConfigError, RetryLater
from hub.http import auth
from hub.http.authzen import scope_for
from hub.http.tokens import DevKey
from hub.pipeline import record
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.base import Outgoing, RawMessage, Transport

log = logging.getLogger("zorghub.http.relay")

NOTIFICATION_KIND = "network.notificatie"
ZEND = ("mutation($n: NotificatieInput!) { zendNotificatie(notificatieInput: $n) { notificatieID } }")
#: how long one connection holds a message it cannot deliver before reconnecting (heartbeats)
HOLD_SECONDS = 20.0


def configured(settings: Settings) -> list[tuple[str, str]]:
    out = []
    for item in settings.netwerkpunten:
        party, _, url = item.partition("=")
        out.append((party.strip(), url.strip()))
    return out


@dataclass
class Relay:
    settings: Settings
    party: str
    url: str
    key: DevKey
    stop: threading.Event

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=10.0)
        self.backoff = 0.5

    def run(self) -> None:
        self.hub = HubApp.build(self.settings)  # its own store connection: this thread's alone
        try:
            self._run()
        finally:
            self.hub.close()
            self.http.close()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._consume(open_transport(self.settings.broker_url, prefetch=10))
            except Exception as exc:  # the broker went away, or a message waits too long: reconnect
                if self.stop.is_set():
                    break
                log.warning("relay to %s for %s: %s; reconnecting", self.url, self.party, exc)
                self.stop.wait(1.0)

    def _consume(self, transport: Transport) -> None:
        try:
            transport.consume([self.hub.topology.inbox(self.party)], lambda b: self._batch(transport, b),
                              batch_size=10, stop=self.stop, idle_seconds=0.05)
        finally:
            transport.close()

    def _batch(self, transport: Transport, batch: list[RawMessage]) -> None:
        out: list[Outgoing] = []
        records = []
        for raw in batch:
            kind = str(raw.properties.get("type") or "")
            if kind != NOTIFICATION_KIND:
                records.append(record.new(None, action="relay_skipped", actor=record.HUB_ACTOR, outcome="failure",
                                          kind=kind, message_id=str(raw.properties.get("message_id") or ""),
                                          recipient=self.party,
                                          reason=f"only notificaties go to the netwerkpunt at {self.url}"))
                continue
            answer = self._deliver(raw)
            message_id = str(raw.properties.get("message_id") or "")
            if "refused" in answer:
                out.append(Outgoing(self.hub.topology.dlx, raw.routing_key, raw.body,
                                    {"message_id": message_id, "type": kind, "content_type": "application/json"},
                                    {"x-reason": answer["refused"], "x-rule": "NETWERKPUNT",
                                     "x-original-queue": raw.queue}))
            records.append(record.new(None, action="relayed" if "id" in answer else "relay_refused",
                                      actor=record.HUB_ACTOR, outcome="success" if "id" in answer else "failure",
                                      kind=kind, message_id=message_id, recipient=self.party,
                                      reason=(f"notificatieID {answer['id']} from {self.url}" if "id" in answer
                                              else f"refused by {self.url}: {answer['refused']}")))
        self.hub.audit.append(record.stamp(records, record.source(self.hub.audit.source, "relay")))
        transport.commit(out, [r.tag for r in batch])

    def _deliver(self, raw: RawMessage) -> dict[str, str]:
        """{"id": notificatieID} once the netwerkpunt took it; {"refused": why} if it refused it."""
        body: dict[str, Any] = orjson.loads(raw.body)
        token = self._token(body)
        held = time.monotonic()
        while True:
            try:
                response = self.http.post(self.url, json={"query": ZEND, "variables": {"n": body}},
                                          headers={"Authorization": f"Bearer {token}"})
                if response.status_code < 500 and response.status_code not in (401, 429):
                    answer = response.json()
                    data = (answer.get("data") or {}).get("zendNotificatie")
                    self.backoff = 0.5
                    if data and data.get("notificatieID"):
                        return {"id": str(data["notificatieID"])}
                    errors = answer.get("errors") or [{"message": f"HTTP {response.status_code}"}]
                    return {"refused": str(errors[0].get("message"))}
                why = f"HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                why = exc.__class__.__name__
            if self.stop.is_set() or time.monotonic() - held > HOLD_SECONDS:
                raise RetryLater(f"the netwerkpunt at {self.url} did not take a notificatie: {why}")
            log.info("relay to %s: %s; retry in %.1fs", self.url, why, self.backoff)
            self.stop.wait(self.backoff)
            self.backoff = min(self.backoff * 2, 30.0)

    def _token(self, body: dict[str, Any]) -> str:
        from hub.flows.netwerkpunt import party_of

        sender = party_of(self.hub.parties, str(body.get("afzenderIDType")), str(body.get("afzenderID")))
        if sender is None:
            raise ConfigError("a notificatie's afzender is not a party of this hub")
        scopes = [scope_for(role, "notificaties", "notificatie", "create") for role in sender.roles]
        return self.key.issue(sender.name, scopes, issuer=self.settings.http_issuer,
                              audience=self.settings.http_audience, ttl=300)


def start_all(settings: Settings, hub: HubApp) -> tuple[threading.Event, list[threading.Thread]]:
    """One relay thread per configured netwerkpunt (``hub`` checks the parties); set the event to stop them."""
    stop = threading.Event()
    threads = []
    pairs = configured(settings)
    if pairs:
        key = DevKey.at(Path(settings.home) / auth.DEV_KEY_FILE, create=True)
        for party, url in pairs:
            if party not in hub.parties:
                raise ConfigError(f"netwerkpunten: {party!r} is not a party of this hub")
            relay = Relay(settings, party, url, key, stop)
            thread = threading.Thread(target=relay.run, name=f"relay-{party}", daemon=True)
            thread.start()
            threads.append(thread)
    return stop, threads
