"""The RabbitMQ transport (pika).

The hub's hot path commits each batch as one AMQP transaction: every delivery
of the batch is published and every inbound message acked in a single
``tx.commit``. That makes publish-and-ack atomic, which is what lets a worker
be SIGKILLed at any moment without a delivery going out twice: either the
batch's deliveries and acks both happened, or neither did and the inbound
messages come back. The audit commit comes first, so a redelivered message
that was already audited is re-published from the message store instead of
being processed again. One ``tx.commit`` per batch of a few hundred messages
costs about as much as pipelined confirms do.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import unquote, urlparse

import pika
import pika.exceptions

from adapters.base import BatchHandler, Outgoing, RawMessage
from hub.errors import RetryLater
from hub.parties import PartyRegistry
from hub.topology import Topology

QUORUM = {"x-queue-type": "quorum"}


def parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = 60
    params.blocked_connection_timeout = 60
    params.connection_attempts = 3
    params.retry_delay = 1
    return params


def url_user(url: str) -> str:
    return unquote(urlparse(url).username or "guest")


def _props(out: Outgoing) -> pika.BasicProperties:
    p = dict(out.properties)
    return pika.BasicProperties(
        content_type=p.get("content_type"),
        delivery_mode=2,
        message_id=p.get("message_id"),
        correlation_id=p.get("correlation_id"),
        type=p.get("type"),
        user_id=p.get("user_id"),
        reply_to=p.get("reply_to"),
        timestamp=p.get("timestamp"),
        headers=dict(out.headers) or None,
    )


def _raw(method: Any, props: pika.BasicProperties, body: bytes, queue: str) -> RawMessage:
    return RawMessage(
        body=body,
        properties={
            "message_id": props.message_id,
            "correlation_id": props.correlation_id,
            "type": props.type,
            "user_id": props.user_id,
            "reply_to": props.reply_to,
            "content_type": props.content_type,
            "timestamp": props.timestamp,
        },
        headers=dict(props.headers or {}),
        routing_key=method.routing_key,
        queue=queue,
        redelivered=bool(method.redelivered),
        tag=method.delivery_tag,
    )


class AmqpTransport:
    def __init__(self, url: str, *, prefetch: int = 500, **_: Any) -> None:
        self.url = url
        self.user = url_user(url)
        self.prefetch = prefetch
        try:
            self._conn = pika.BlockingConnection(parameters(url))
        except pika.exceptions.AMQPError as exc:
            raise RetryLater(f"cannot connect to RabbitMQ: {exc.__class__.__name__}") from exc
        self._channel = self._conn.channel()
        self._tx = False
        self._confirm_channel: Any = None

    # ----- topology --------------------------------------------------------------
    def declare(self, topology: Topology, parties: PartyRegistry) -> None:
        ch = self._conn.channel()
        ch.exchange_declare(topology.inbound, "x-consistent-hash", durable=True)
        for queue in topology.shard_queues():
            ch.queue_declare(queue, durable=True, arguments={**QUORUM, "x-single-active-consumer": True})
            ch.queue_bind(queue, topology.inbound, routing_key="1")
        ch.exchange_declare(topology.outbound, "direct", durable=True)
        for party in parties:
            ch.queue_declare(topology.inbox(party.name), durable=True, arguments=QUORUM)
            ch.queue_bind(topology.inbox(party.name), topology.outbound, routing_key=party.name)
        ch.exchange_declare(topology.dlx, "fanout", durable=True)
        ch.queue_declare(topology.dlq, durable=True, arguments=QUORUM)
        ch.queue_bind(topology.dlq, topology.dlx)
        ch.exchange_declare(topology.retry, "headers", durable=True)
        for delay in topology.retry_delays_ms:
            queue = topology.retry_queue(delay)
            ch.queue_declare(queue, durable=True, arguments={
                "x-message-ttl": delay, "x-dead-letter-exchange": topology.inbound})
            ch.queue_bind(queue, topology.retry, arguments={"x-match": "all", "x-delay-ms": delay})
        ch.close()

    # ----- the hub's side ----------------------------------------------------------
    def consume(
        self,
        queues: list[str],
        handler: BatchHandler,
        *,
        batch_size: int,
        stop: threading.Event,
        idle_seconds: float = 0.005,
    ) -> None:
        ch = self._channel
        if not self._tx:
            ch.tx_select()
            self._tx = True
        ch.basic_qos(prefetch_count=max(self.prefetch, batch_size))
        buffer: list[RawMessage] = []
        for queue in queues:
            ch.basic_consume(queue, lambda c, m, p, b, q=queue: buffer.append(_raw(m, p, b, q)))
        while not stop.is_set():
            before = len(buffer)
            self._conn.process_data_events(time_limit=idle_seconds if not buffer else 0)
            # cut a batch when it is full, or when the socket has nothing more right now
            if buffer and (len(buffer) >= batch_size or len(buffer) == before):
                batch, buffer[:] = buffer[:batch_size], buffer[batch_size:]
                handler(batch)

    def commit(self, outgoing: list[Outgoing], tags: list[Any]) -> None:
        ch = self._channel
        if not self._tx:
            ch.tx_select()
            self._tx = True
        # queue the frames without a socket flush per message: tx_commit below flushes them all at once
        impl = ch._impl
        for out in outgoing:
            impl.basic_publish(out.exchange, out.routing_key, out.body, _props(out))
        if tags:
            ch.basic_ack(max(tags), multiple=True)
        ch.tx_commit()

    # ----- tools and clients ---------------------------------------------------------
    def publish(self, outgoing: list[Outgoing]) -> None:
        if self._confirm_channel is None:
            self._confirm_channel = self._conn.channel()
            self._confirm_channel.confirm_delivery()
        for out in outgoing:
            self._confirm_channel.basic_publish(out.exchange, out.routing_key, out.body, _props(out),
                                                mandatory=False)

    def get(self, queue: str, limit: int = 100, *, ack: bool = True) -> list[RawMessage]:
        ch = self._conn.channel()
        out: list[RawMessage] = []
        try:
            while len(out) < limit:
                method, props, body = ch.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                out.append(_raw(method, props, body, queue))
            if out:
                if ack:
                    ch.basic_ack(out[-1].tag, multiple=True)
                else:
                    ch.basic_nack(out[-1].tag, multiple=True, requeue=True)
        finally:
            if ch.is_open:
                ch.close()
        return out

    def purge(self, queue: str) -> int:
        ch = self._conn.channel()
        try:
            frame = ch.queue_purge(queue)
            return int(frame.method.message_count)
        finally:
            ch.close()

    def sleep(self, seconds: float) -> None:
        self._conn.sleep(seconds)

    def close(self) -> None:
        try:
            if self._conn.is_open:
                self._conn.close()
        except pika.exceptions.AMQPError:
            pass
        time.sleep(0)
