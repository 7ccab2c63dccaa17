"""The transport interface the hub core sees, whatever the broker.

The embedded ``memory://`` transport (kombu) and the RabbitMQ transport (pika)
both implement it, so one test body runs on either. Transports are picked by
URL in ``hub.transports`` (the registry); this module names none of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology


@dataclass(frozen=True)
class RawMessage:
    """A message as the broker handed it over, before the hub trusts any of it."""

    body: bytes
    properties: Mapping[str, Any]
    headers: Mapping[str, Any]
    routing_key: str
    queue: str
    redelivered: bool
    tag: Any


@dataclass(frozen=True)
class Outgoing:
    """A message for the broker: ``exchange`` is a real exchange name ('' is the default one)."""

    exchange: str
    routing_key: str
    body: bytes
    properties: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)


BatchHandler = Callable[[list[RawMessage]], None]
#: told, once the broker settled a pipelined publish, whether it holds every message (False: one was nacked)
Settled = Callable[[bool], None]


class Transport(Protocol):
    """A connection to a broker. What differs between brokers is asked of these members, never of a URL."""

    #: names the transport in the audit records' ``source`` ("memory", "amqp")
    name: ClassVar[str]
    #: the broker lives inside this process only: no other process (a CLI, a party) can reach it
    embedded: ClassVar[bool]
    #: the broker has a management API with queue statistics (``hub.transports.management``)
    has_management: ClassVar[bool]
    url: str
    user: str

    def __init__(self, url: str, **options: Any) -> None: ...

    @classmethod
    def with_credentials(cls, url: str, user: str, password: str) -> str:
        """``url`` for connecting as ``user`` (a party, the hub)."""
        ...

    def worker_queues(self, topology: Topology, index: int, count: int) -> list[str]:
        """The inbound shard queues worker ``index`` of ``count`` consumes."""
        ...

    def declare(self, topology: Topology, parties: PartyRegistry) -> None: ...

    def consume(
        self,
        queues: list[str],
        handler: BatchHandler,
        *,
        batch_size: int,
        stop: threading.Event,
        idle_seconds: float = 0.005,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """Hand batches to ``handler`` until ``stop``; ``on_idle`` runs when a wait found nothing to do."""
        ...

    def ack(self, tags: list[Any]) -> None:
        """Ack inbound messages (after their batch's database commit)."""
        ...

    def publish_pipelined(self, outgoing: list[Outgoing], on_settled: Settled) -> None:
        """Publish without waiting: ``on_settled`` is called (while consuming or settling) once the broker
        confirmed or refused them all. Publishes keep their order."""
        ...

    def settle(self, timeout: float = 30.0, pending: int = 0) -> bool:
        """Wait until at most ``pending`` pipelined publishes are unsettled; False if more still are after
        ``timeout``."""
        ...

    def commit(self, outgoing: list[Outgoing], tags: list[Any],
               on_confirmed: Callable[[], None] | None = None) -> None:
        """Publish ``outgoing``; once the broker holds them all, call ``on_confirmed``; then ack ``tags``."""
        ...

    def publish(self, outgoing: list[Outgoing]) -> None:
        """Publish with confirms: returns once the broker holds every message."""
        ...

    def ping(self) -> None:
        """One round trip to the broker: raises when the connection is gone (readiness, not liveness)."""
        ...

    def get(self, queue: str, limit: int = 100, *, ack: bool = True) -> list[RawMessage]: ...

    def purge(self, queue: str) -> int: ...

    def close(self) -> None: ...

