"""The RabbitMQ transport (pika).

The hub commits a batch to its database first (audit records, outbox entries),
then acks the inbound messages with one multiple-ack (``ack``), then the relay publishes the
batch's outbox entries on a confirm-mode channel with pipelined publisher confirms
(``publish_pipelined``): all in flight at once, nothing waited for. Confirms are read while the
worker consumes its next batch and settle each pipelined publish, in order, through its callback.
What a crash leaves unconfirmed is published again from the outbox (``hub.pipeline.relay``), under
the same deterministic message id, so a receiver drops the copy. (AMQP transactions are no way out:
RabbitMQ documents them as batching without atomicity.)
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pika
import pika.exceptions

from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology
from hub.errors import RetryLater
from hub.transports.base import BatchHandler, Outgoing, RawMessage, Settled
from hub.transports.confirms import ConfirmWindow
from hub.transports.frames import PublishEncoder
from hub.transports.hosts import BrokerUrl, Host, split_hosts
from hub.transports.inbound import DeliveryReader

QUORUM = {"x-queue-type": "quorum"}
# a retry queue hands its messages back on expiry: at-least-once, so a node loss in between loses none
RETRY_QUORUM = {**QUORUM, "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
log = logging.getLogger("zorghub.amqp")


def parameters(url: str, purpose: str = "hub") -> list[pika.URLParameters]:
    """One set of connection parameters per host of ``url``: pika tries them in order (failover).

    ``purpose`` names the connection on the broker (``zorghub http``), so an operator can tell them apart.
    """
    found = []
    for single in split_hosts(url):
        params = pika.URLParameters(single)
        params.client_properties = {"connection_name": f"zorghub {purpose}"}
        params.heartbeat = 60
        params.blocked_connection_timeout = 60
        params.connection_attempts = 3  # rounds over all the hosts
        params.retry_delay = 1
        params.socket_timeout = 5  # a host that does not answer is passed over quickly
        found.append(params)
    return found


def url_user(url: str) -> str:
    return BrokerUrl.parse(url).user or "guest"


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password`` in place of its credentials (hosts, ports and vhost kept)."""
    parsed = BrokerUrl.parse(url)
    if not parsed.hosts[0].host:
        parsed = BrokerUrl(parsed.scheme, parsed.userinfo, (Host("127.0.0.1", None),), parsed.path, parsed.query)
    return str(parsed.with_credentials(user, password))


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


def coalesce_writes(conn: pika.BlockingConnection) -> None:
    """Send what is buffered for the socket in one write instead of one per frame.

    pika queues every frame (three a message: method, header, body) as a buffer of its own and sends
    them one ``send`` call each; a batch's pipelined publishes and its ack are hundreds of frames. Joining
    the queued buffers before pika's own send loop keeps its partial-send handling and makes it one
    system call a flush. Connections whose transport does not look like pika 1.x's are left alone.
    """
    transport = getattr(conn._impl, "_transport", None)
    buffers = getattr(transport, "_tx_buffers", None)
    produce = getattr(transport, "_produce", None)
    if buffers is None or produce is None:
        return

    def joined_produce() -> None:
        if len(buffers) > 1:
            whole = b"".join(buffers)
            buffers.clear()
            buffers.append(whole)
        produce()

    transport._produce = joined_produce  # type: ignore[union-attr]


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


def _nothing() -> None:
    """Run on the connection's loop only to end a ``process_data_events`` wait."""


class AmqpTransport:
    """RabbitMQ over pika: quorum queues, consistent-hash shards, pipelined publisher confirms."""

    name: ClassVar[str] = "amqp"
    embedded: ClassVar[bool] = False
    has_management: ClassVar[bool] = True

    def __init__(self, url: str, *, prefetch: int = 500, purpose: str = "hub", **_: Any) -> None:
        self.url = url
        self.user = url_user(url)
        self.prefetch = prefetch
        try:
            self._conn = pika.BlockingConnection(parameters(url, purpose))
        except pika.exceptions.AMQPError as exc:
            raise RetryLater(f"cannot connect to RabbitMQ: {exc.__class__.__name__}") from exc
        peer = self._conn._impl.params
        log.info("connected to RabbitMQ at %s:%s", peer.host, peer.port)  # which host of a cluster's list
        coalesce_writes(self._conn)
        self._channel = self._conn.channel()
        self._publisher: Any = None  # the confirm-mode channel behind commit()
        self._publisher_wrapper: Any = None
        self._encoder: PublishEncoder | None = None  # its batches' frames, marshalled in one piece
        self._published = 0  # the publisher channel's last delivery tag
        self._window = ConfirmWindow()  # which of its tags the broker has confirmed
        self._nacked = False
        #: pipelined publishes not settled yet: (their last delivery tag, whom to tell), in publish order
        self._waiting: collections.deque[tuple[int, Settled]] = collections.deque()
        self._wake_when: int | None = None  # settle() waits until this many are unsettled
        self._reader: DeliveryReader | None = None  # the frame loop, once consume() took it over

    @classmethod
    def with_credentials(cls, url: str, user: str, password: str) -> str:
        return with_credentials(url, user, password)

    def worker_queues(self, topology: Topology, index: int, count: int) -> list[str]:
        return topology.worker_shards(index, count)

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
            # quorum too (TTL on quorum queues needs RabbitMQ 3.10): a classic queue dies with its one node
            ch.queue_declare(queue, durable=True, arguments={**RETRY_QUORUM,
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
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        ch = self._channel
        ch.basic_qos(prefetch_count=max(self.prefetch, batch_size))
        buffer: list[RawMessage] = []
        # the deliveries (and confirms) off the frame buffer, from the first one on: the consumer tags are
        # ours, known to the reader before the broker starts delivering; where pika's frame loop is not
        # the one expected, the callbacks below take them
        tags = {f"zorghub.{uuid.uuid4().hex}": queue for queue in queues}
        self._reader = DeliveryReader.install(self._conn, ch.channel_number, tags, buffer.append)
        self._route_confirms()
        for tag, queue in tags.items():
            ch.basic_consume(queue, lambda c, m, p, b, q=queue: buffer.append(_raw(m, p, b, q)), consumer_tag=tag)
        while not stop.is_set():
            before = len(buffer)
            self._conn.process_data_events(time_limit=idle_seconds if not buffer else 0)
            # cut a batch when it is full, or when the socket has nothing more right now
            if buffer and (len(buffer) >= batch_size or len(buffer) == before):
                batch, buffer[:] = buffer[:batch_size], buffer[batch_size:]
                handler(batch)
            elif not buffer and on_idle is not None:
                on_idle()

    def _publisher_channel(self) -> Any:
        """A confirm-mode channel whose confirms are counted, not waited for one by one."""
        if self._publisher is None:
            ready: list[bool] = []
            self._publisher_wrapper = self._conn.channel()  # kept: its collection would close the channel
            impl = self._publisher_wrapper._impl
            impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: ready.append(True))
            while not ready:
                self._conn.process_data_events(time_limit=0.01)
            self._publisher = impl
            self._route_confirms()
            body_max = getattr(self._conn._impl, "_body_max_length", None)
            if isinstance(body_max, int) and hasattr(self._conn._impl, "_adapter_emit_data"):
                self._encoder = PublishEncoder(impl.channel_number, body_max)
        return self._publisher

    def _route_confirms(self) -> None:
        """Once there are both a frame reader and a publisher channel: the reader hands its confirms over."""
        if self._reader is not None and self._publisher is not None:
            self._reader.confirms, self._reader.on_confirm = self._publisher.channel_number, self._confirmed

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        self._confirmed(int(method.delivery_tag), bool(method.multiple), isinstance(method, pika.spec.Basic.Nack))

    def _confirmed(self, tag: int, multiple: bool, nack: bool) -> None:
        """Confirms may come out of order, singly or for every tag up to one: settle exactly those."""
        if nack:
            self._nacked = True
        if tag <= self._published and self._window.confirm(tag, multiple):
            self._settle_callbacks()  # (a tag above the last published is not ours)

    def _settle_callbacks(self) -> None:
        """Call back, in order, every pipelined publish whose tags are all confirmed."""
        low = self._window.low  # the lowest tag not yet confirmed
        while self._waiting and self._waiting[0][0] < low:
            _, callback = self._waiting.popleft()
            ok = not self._nacked
            if not self._waiting:
                self._nacked = False
            callback(ok)
        if self._wake_when is not None and len(self._waiting) <= self._wake_when:
            self._wake_when = None
            self._conn.add_callback_threadsafe(_nothing)  # ends the waiting process_data_events now

    def publish_pipelined(self, outgoing: list[Outgoing], on_settled: Settled) -> None:
        """Publish every message now, in order, and return; confirms settle them later (``on_settled``)."""
        if not outgoing:
            on_settled(True)
            return
        publisher = self._publisher_channel()
        encoder = self._encoder
        if encoder is not None and publisher.is_open:
            # the whole batch as one write: what pika's basic_publish would send, frame for frame
            data, frames = encoder.batch(outgoing)
            impl = self._conn._impl
            impl._adapter_emit_data(data)
            impl.bytes_sent += len(data)
            impl.frames_sent += frames
        else:  # pika's own way (it raises as it does on a closed channel)
            for out in outgoing:
                publisher.basic_publish(out.exchange, out.routing_key, out.body, _props(out))
        self._published += len(outgoing)
        self._waiting.append((self._published, on_settled))

    def ack(self, tags: list[Any]) -> None:
        """One multiple-ack, written with the next flush (the relay's publishes or the next poll), not waited on."""
        if tags:
            self._channel._impl.basic_ack(max(tags), multiple=True)

    def settle(self, timeout: float = 30.0, pending: int = 0) -> bool:
        """Wait for confirms until at most ``pending`` pipelined publishes are unsettled.

        A confirm is read by the channel's own callback, which does not end ``process_data_events`` early:
        each wait ran out its whole time limit (50 ms) once the prefetch window was full and no delivery
        came to end it. The confirm callback wakes this wait instead, the moment it is enough
        (``_wake_when``), through a callback on the connection's own loop.
        """
        deadline = time.monotonic() + timeout
        self._wake_when = pending
        try:
            while len(self._waiting) > pending:
                if time.monotonic() > deadline:
                    return False
                self._conn.process_data_events(time_limit=0.05)
        finally:
            self._wake_when = None
        return True

    def commit(self, outgoing: list[Outgoing], tags: list[Any],
               on_confirmed: Callable[[], None] | None = None, timeout: float = 30.0) -> None:
        """Publish ``outgoing`` and wait for its confirms, then ``on_confirmed``, then ack ``tags``."""
        settled: list[bool] = []
        self.publish_pipelined(outgoing, settled.append)
        # this publish is the last one waiting: settled once none is (nothing to publish is settled at once)
        if not settled and not self.settle(timeout):
            unconfirmed = self._published - self._window.confirmed()
            raise RetryLater(f"the broker left {unconfirmed} of {len(outgoing)} publishes unconfirmed")
        if not settled[0]:
            raise RetryLater("the broker refused (nacked) a delivery: the batch will be redelivered")
        if on_confirmed is not None:
            on_confirmed()
        self.ack(tags)

    # ----- tools and clients ---------------------------------------------------------
    def publish(self, outgoing: list[Outgoing]) -> None:
        """Publish with pipelined confirms and return once the broker holds them all (no acks)."""
        self.commit(outgoing, [])

    def ping(self) -> None:
        """Open and close a channel: a reply from the broker, so a connection it dropped shows here."""
        self._conn.channel().close()

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
