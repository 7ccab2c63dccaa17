"""A small party-side client over any transport: send to the hub, read an inbox.

Vendors need none of this (the AMQP contract in the README is enough; the
tests prove it with bare pika). It serves the demo, the CLI and tests.
"""

from __future__ import annotations

from typing import Any

import orjson

from hub.catalogue.topology import Topology
from hub.envelope import new_id
from hub.transports.base import Outgoing, RawMessage, Transport


class HubClient:
    def __init__(self, transport: Transport, topology: Topology, party: str) -> None:
        self.transport = transport
        self.topology = topology
        self.party = party

    def send(
        self,
        kind: str,
        payload: bytes | dict[str, Any],
        *,
        content_type: str = "application/json",
        client_key: str = "",
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        message_id = message_id or new_id()
        self.transport.publish([Outgoing(
            exchange=self.topology.inbound,
            routing_key=client_key or message_id,
            body=body,
            properties={"message_id": message_id, "type": kind, "content_type": content_type,
                        "user_id": self.party, "correlation_id": correlation_id},
            headers=headers or {},
        )])
        return message_id

    def inbox(self, limit: int = 1000) -> list[RawMessage]:
        return self.transport.get(self.topology.inbox(self.party), limit)
