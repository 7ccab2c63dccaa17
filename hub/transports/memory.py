"""The embedded transport: kombu's ``memory://``, in one process, no server.

Used by the demo and the fast tests. It has no user authentication: whoever
publishes in-process is trusted to set ``user_id`` truthfully. Publish and ack
are immediate, so ``commit`` is trivially atomic.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from kombu import Connection, Exchange, Producer, Queue

from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology
from hub.transports.base import BatchHandler, Outgoing, RawMessage, Settled

_PROPERTY_NAMES = ("message_id", "correlation_id", "type", "user_id", "reply_to", "timestamp", "expiration")


class MemoryTransport:
    """kombu's in-process broker: one process, one consumer, retries on a delay heap."""

    name: ClassVar[str] = "memory"
    embedded: ClassVar[bool] = True
    has_management: ClassVar[bool] = False

    def __init__(self, url: str = "memory://", user: str = "zorghub", **_: Any) -> None:
        self.url = url
        self.user = user
        self._conn = Connection(url)
        self._channel = self._conn.channel()
        self._producer = Producer(self._channel)
        self._lock = threading.RLock()
        # kombu's memory transport has no TTL or dead-lettering: the retry path is a delay heap here
        self._retry_exchange = ""
        self._inbound = ""
        self._delayed: list[tuple[float, int, Outgoing]] = []
        self._counter = 0

    def declare(self, topology: Topology, parties: PartyRegistry) -> None:
        with self._lock:
            ch = self._channel
            inbound = Exchange(topology.inbound, "fanout", durable=True)(ch)
            inbound.declare()
            # one process, one consumer: one shard keeps the contract (per-client order) trivially
            Queue(topology.shard(0), exchange=inbound, routing_key="")(ch).declare()
            out = Exchange(topology.outbound, "direct", durable=True)(ch)
            out.declare()
            for party in parties:
                Queue(topology.inbox(party.name), exchange=out, routing_key=party.name)(ch).declare()
            dlx = Exchange(topology.dlx, "fanout", durable=True)(ch)
            dlx.declare()
            Queue(topology.dlq, exchange=dlx, routing_key="")(ch).declare()
            self._retry_exchange = topology.retry
            self._inbound = topology.inbound

    @classmethod
    def with_credentials(cls, url: str, user: str, password: str) -> str:
        """No users in-process: whoever publishes is trusted to set ``user_id``."""
        return url

    def worker_queues(self, topology: Topology, index: int, count: int) -> list[str]:
        """One shard: the embedded broker has one consumer, which keeps per-client order trivially."""
        return [topology.shard(0)]

    def declare_queue(self, name: str) -> None:
        with self._lock:
            Queue(name)(self._channel).declare()

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
        while not stop.is_set():
            self._release_due()
            batch: list[RawMessage] = []
            for queue in queues:
                batch.extend(self.get(queue, batch_size - len(batch), ack=False))
                if len(batch) >= batch_size:
                    break
            if batch:
                handler(batch)
            else:
                if on_idle is not None:
                    on_idle()
                time.sleep(idle_seconds)

    def drain(self, queues: list[str], handler: BatchHandler, *, batch_size: int, max_wait: float = 15.0) -> int:
        """Process until the queues are empty and no retry falls due within ``max_wait`` seconds."""
        handled = 0
        while True:
            self._release_due()
            batch: list[RawMessage] = []
            for queue in queues:
                batch.extend(self.get(queue, batch_size - len(batch), ack=False))
            if not batch:
                if self._delayed and self._delayed[0][0] - time.monotonic() <= max_wait:
                    time.sleep(max(0.0, self._delayed[0][0] - time.monotonic()))
                    continue
                return handled
            handler(batch)
            handled += len(batch)

    def commit(self, outgoing: list[Outgoing], tags: list[Any],
               on_confirmed: Callable[[], None] | None = None) -> None:
        with self._lock:
            self.publish(outgoing)
            if on_confirmed is not None:
                on_confirmed()
            self.ack(tags)

    def ack(self, tags: list[Any]) -> None:
        with self._lock:
            for message in tags:
                message.ack()

    def publish_pipelined(self, outgoing: list[Outgoing], on_settled: Settled) -> None:
        """In-process publishes are held at once: settled before this returns."""
        self.publish(outgoing)
        on_settled(True)

    def settle(self, timeout: float = 30.0, pending: int = 0) -> bool:
        return True

    def _release_due(self) -> None:
        """Move retries whose delay has passed back into the inbound exchange."""
        now = time.monotonic()
        with self._lock:
            while self._delayed and self._delayed[0][0] <= now:
                _, _, out = heapq.heappop(self._delayed)
                self._publish_one(Outgoing(self._inbound, out.routing_key, out.body, out.properties, out.headers))

    def publish(self, outgoing: list[Outgoing]) -> None:
        with self._lock:
            for out in outgoing:
                if out.exchange and out.exchange == self._retry_exchange:
                    delay = int(out.headers.get("x-delay-ms", 0)) / 1000
                    self._counter += 1
                    heapq.heappush(self._delayed, (time.monotonic() + delay, self._counter, out))
                    continue
                self._publish_one(out)

    def _publish_one(self, out: Outgoing) -> None:
        props = dict(out.properties)
        content_type = props.pop("content_type", "application/octet-stream")
        props.pop("delivery_mode", None)
        with self._lock:
            self._producer.publish(
                out.body,
                exchange=out.exchange,
                routing_key=out.routing_key,
                content_type=content_type,
                content_encoding="binary",
                headers=dict(out.headers),
                delivery_mode=2,
                **{k: v for k, v in props.items() if v is not None},
            )

    def ping(self) -> None:
        """The broker lives in this process: it is there while the process is."""

    def get(self, queue: str, limit: int = 100, *, ack: bool = True) -> list[RawMessage]:
        out: list[RawMessage] = []
        with self._lock:
            q = Queue(queue)(self._channel)
            while len(out) < limit:
                message = q.get(no_ack=False)
                if message is None:
                    break
                props = {k: message.properties.get(k) for k in _PROPERTY_NAMES}
                props["content_type"] = message.content_type
                info = message.delivery_info or {}
                out.append(
                    RawMessage(
                        body=message.body if isinstance(message.body, bytes) else message.body.encode(),
                        properties=props,
                        headers=dict(message.headers or {}),
                        routing_key=str(info.get("routing_key", "")),
                        queue=queue,
                        redelivered=bool(info.get("redelivered", False)),
                        tag=message,
                    )
                )
                if ack:
                    message.ack()
        return out

    def purge(self, queue: str) -> int:
        with self._lock:
            return int(Queue(queue)(self._channel).purge() or 0)

    def close(self) -> None:
        self._conn.release()
