"""Stream inboxes: a party's deliveries go to a RabbitMQ stream, over the stream protocol (rstream).

A stream keeps every message (consumers read from any offset, as often as they like), and the
broker itself drops duplicates: each publish carries a producer name and a publishing id, and the
broker keeps, per producer name, the highest id it stored; a publish at or below it is confirmed
but not stored. The hub's outbox gives that id: the producer name is the delivery's
``x-zorghub-stream`` (``<recipient>/<shard>``) and the publishing id its ``x-zorghub-seq``, which
counts 1, 2, 3 ... in that stream and is the same on every re-send. So a delivery the relay
publishes again after a crash lands once. (The producer name is the stream header, not the
recipient alone: a name's ids must only go up, and each shard numbers its own.)

``StreamInboxes`` wraps the AMQP transport: a pipelined publish sends the deliveries for stream
parties over the stream protocol first (waiting for the broker's confirms), the rest over AMQP.
rstream is asyncio; here it runs on an event loop thread of its own, behind blocking calls.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

from rstream import AMQPMessage, ConfirmationStatus, Producer, Properties

from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology
from hub.errors import RetryLater
from hub.transports.base import Outgoing, Settled, Transport
from hub.transports.hosts import BrokerUrl, Host

log = logging.getLogger("zorghub.streams")

STREAM_PORT = 5552
STREAM_HEADER = "x-zorghub-stream"
SEQ_HEADER = "x-zorghub-seq"
T = TypeVar("T")


def stream_url(broker_url: str, configured: str = "") -> BrokerUrl:
    """The stream protocol's hosts: ``configured``, or the broker URL's hosts on the stream port."""
    if configured:
        return BrokerUrl.parse(configured)
    amqp = BrokerUrl.parse(broker_url)
    hosts = tuple(Host(h.host or "127.0.0.1", STREAM_PORT) for h in amqp.hosts)
    return BrokerUrl("rabbitmq-stream", amqp.userinfo, hosts, amqp.path, amqp.query)


def _vhost(url: BrokerUrl) -> str:
    from urllib.parse import unquote

    return unquote(url.path[1:]) if url.path not in ("", "/") else "/"


def _credentials(url: BrokerUrl) -> tuple[str, str]:
    from urllib.parse import unquote

    user, _, password = url.userinfo.partition(":")
    return unquote(user) or "guest", unquote(password) or "guest"


def _header_value(value: Any) -> Any:
    """AMQP 1.0 application properties take simple values only."""
    return value if isinstance(value, str | int | float | bool) else str(value)


def to_stream_message(out: Outgoing) -> AMQPMessage:
    """The delivery as an AMQP 1.0 message: its properties, its headers as application properties."""
    p = dict(out.properties)
    headers = {k: _header_value(v) for k, v in out.headers.items()}
    if p.get("type"):
        headers.setdefault("type", p["type"])
    message = AMQPMessage(
        body=out.body,
        properties=Properties(message_id=p.get("message_id"), correlation_id=p.get("correlation_id"),
                              content_type=p.get("content_type"), subject=p.get("type"),
                              user_id=str(p["user_id"]).encode() if p.get("user_id") else None),
        application_properties=headers,
    )
    message.publishing_id = int(out.headers[SEQ_HEADER])  # the broker's dedup key, with the producer name
    return message


class StreamPublisher:
    """Blocking publishes to RabbitMQ streams with a producer name each, on a loop thread of its own."""

    def __init__(self, url: BrokerUrl, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zorghub-streams", daemon=True)
        self._thread.start()
        self._producers: dict[str, Producer] = {}  # one per producer name: rstream gives a stream one name
        self._declared: set[str] = set()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    async def _producer(self, name: str) -> Producer:
        """The producer for ``name``, connected to the first host that answers."""
        if name in self._producers:
            return self._producers[name]
        user, password = _credentials(self.url)
        last: BaseException | None = None
        for host in self.url.hosts:
            producer = Producer(host.host, host.port or STREAM_PORT, vhost=_vhost(self.url), username=user,
                                password=password, connection_name=f"zorghub {name}")
            try:
                await producer.start()
            except Exception as exc:  # refused, unreachable: the next host
                last = exc
                continue
            log.info("stream producer %s connected to %s", name, host.netloc())
            self._producers[name] = producer
            return producer
        raise RetryLater(f"cannot reach a stream port of RabbitMQ ({self.url.where()}): "
                         f"{last.__class__.__name__ if last else 'no host'}")

    def declare(self, streams: Iterable[str]) -> None:
        async def create() -> None:
            producer = await self._producer("")
            for stream in streams:
                await producer.create_stream(stream, exists_ok=True)
                self._declared.add(stream)

        self._run(create())

    def publish(self, stream: str, name: str, messages: list[AMQPMessage]) -> None:
        """Publish under producer ``name`` and return once the broker confirmed every one (a duplicate
        publishing id is confirmed too, and not stored)."""

        async def send() -> None:
            producer = await self._producer(name)
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            waiting = {int(m.publishing_id) for m in messages if m.publishing_id is not None}
            refused: list[int] = []

            async def confirmed(status: ConfirmationStatus) -> None:
                if not status.is_confirmed:
                    refused.append(status.message_id)
                waiting.discard(status.message_id)
                if not waiting and not done.done():
                    done.set_result(None)

            await producer.send_batch(stream, messages, publisher_name=name, on_publish_confirm=confirmed)
            await asyncio.wait_for(done, self.timeout)
            if refused:
                raise RetryLater(f"the broker refused {len(refused)} stream publish(es) on {stream}")

        try:
            self._run(send())
        except RetryLater:
            self._drop(name)
            raise
        except Exception as exc:  # a lost connection, a timeout: the relay publishes them again on resume
            self._drop(name)
            raise RetryLater(f"stream publish to {stream} failed: {exc.__class__.__name__}: {exc}") from exc

    def _drop(self, name: str) -> None:
        producer = self._producers.pop(name, None)
        if producer is not None:
            try:
                self._run(producer.close())
            except Exception as exc:  # already gone with its connection
                log.debug("closing stream producer %s: %s", name, exc)

    def close(self) -> None:
        for name in list(self._producers):
            self._drop(name)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class StreamInboxes:
    """The transport, with the deliveries for stream-inbox parties published to their streams."""

    def __init__(self, transport: Transport, topology: Topology, parties: PartyRegistry,
                 publisher: StreamPublisher) -> None:
        self._transport = transport
        self.topology = topology
        self.publisher = publisher
        self.streams = {p.name: topology.stream_inbox(p.name) for p in parties if p.stream_inbox}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def declare(self, topology: Topology, parties: PartyRegistry) -> None:
        self._transport.declare(topology, parties)
        self.publisher.declare(self.streams.values())

    def _stream_of(self, out: Outgoing) -> str | None:
        if out.exchange != self.topology.outbound or SEQ_HEADER not in out.headers:
            return None
        return self.streams.get(out.routing_key)

    def publish_pipelined(self, outgoing: list[Outgoing], on_settled: Settled) -> None:
        """Stream deliveries first, confirmed before this returns; then the rest, pipelined as before."""
        grouped: dict[tuple[str, str], list[AMQPMessage]] = {}
        rest = []
        for out in outgoing:
            stream = self._stream_of(out)
            if stream is None:
                rest.append(out)
            else:  # in outbox order, so each producer name's ids go up
                grouped.setdefault((stream, str(out.headers[STREAM_HEADER])), []).append(to_stream_message(out))
        for (stream, name), messages in grouped.items():
            self.publisher.publish(stream, name, messages)
        self._transport.publish_pipelined(rest, on_settled)

    def close(self) -> None:
        try:
            self.publisher.close()
        finally:
            self._transport.close()


def with_stream_inboxes(transport: Transport, topology: Topology, parties: PartyRegistry,
                        broker_url: str, configured: str = "",
                        factory: Callable[[BrokerUrl], StreamPublisher] = StreamPublisher) -> Transport:
    """``transport`` as it is, unless a party has a stream inbox on a broker that is not in-process."""
    if transport.embedded or not any(p.stream_inbox for p in parties):
        return transport
    return cast(Transport, StreamInboxes(transport, topology, parties, factory(stream_url(broker_url, configured))))
