"""A Python client for the network model's services, over any transport.

Request/reply over AMQP: each request carries a fresh ``correlation_id``; the
hub answers in the party's own inbox with the same correlation id (a party
can read no other queue, so ``reply_to`` is echoed but never routed on).
Other messages met while waiting (notifications) are kept in ``received``,
not lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from hub.client import HubClient
from hub.transports.base import RawMessage


class NetworkClient:
    def __init__(self, client: HubClient, pump: Callable[[], None] | None = None, timeout: float = 15.0) -> None:
        self.client = client
        self.pump = pump or (lambda: None)
        self.timeout = timeout
        self.received: list[RawMessage] = []

    def request(self, kind: str, body: dict[str, Any], client_key: str = "") -> dict[str, Any]:
        correlation = str(uuid.uuid4())
        message_id = self.client.send(kind, body, client_key=client_key, correlation_id=correlation)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.pump()
            for i, msg in enumerate(self.received):
                if msg.properties.get("correlation_id") in (correlation, message_id):
                    del self.received[i]
                    return dict(orjson.loads(msg.body))
            new = self.client.inbox()
            self.received.extend(new)
            if not new:
                time.sleep(0.02)
        raise TimeoutError(f"no answer to {kind} {message_id} within {self.timeout}s")

    def query(self, template: str, client_key: str = "", **params: Any) -> dict[str, Any]:
        return self.request("network.bevragen", {"template": template, "params": params}, client_key)

    def melden(self, subject: str, record: dict[str, Any], actie: str = "nieuw",
               client_key: str = "") -> dict[str, Any]:
        return self.request("network.melden", {"subject": subject, "actie": actie, "record": record}, client_key)

    def subscribe(self, event_types: list[str], **filt: Any) -> dict[str, Any]:
        return self.request("network.abonneren", {"actie": "aanmelden", "eventTypes": event_types, "filter": filt})

    def resend(self, subscription: str, from_seq: int) -> dict[str, Any]:
        return self.request("network.abonneren", {"actie": "herzenden", "abonnementID": subscription,
                                                  "vanafVolgnummer": from_seq})

    def terugmelden(self, subject: str, record_id: str, regelcode: str, toelichting: str = "") -> dict[str, Any]:
        return self.request("network.terugmelden", {"subject": subject, "recordID": record_id,
                                                    "regelcode": regelcode, "toelichting": toelichting})

    def notifications(self) -> list[dict[str, Any]]:
        """Notifications received so far (and now), each with its subscription sequence number."""
        self.pump()
        self.received.extend(self.client.inbox())
        out = [{**orjson.loads(m.body), "_seq": m.headers.get("x-network-sequence")} for m in self.received
               if m.properties.get("type") == "network.notificatie"]
        self.received = [m for m in self.received if m.properties.get("type") != "network.notificatie"]
        return out
