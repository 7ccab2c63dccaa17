"""What the routes need, built once per server: the settings, the hub (store, registers, audit), the
token verifier, the decision point, and the way into the pipeline.

A submitted message goes into the pipeline the way the hub's own retries do: published to the inbound
exchange as the hub's broker user, naming the party it came from (``x-original-sender``), so that the
same workers check, authorise, deduplicate, audit and answer it as if it had come over AMQP.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import HTTPConnection

from hub.app import HubApp
from hub.http.auth import TokenVerifier
from hub.http.authzen import DecisionPoint, decision_point
from hub.pipeline import record
from hub.settings import Settings
from hub.store.audit import AuditRecord
from hub.transports.base import Outgoing, Transport

if TYPE_CHECKING:
    from hub.flows.network import Network

T = TypeVar("T")


@dataclass
class HttpContext:
    settings: Settings
    hub: HubApp
    transport: Transport
    verifier: TokenVerifier
    pdp: DecisionPoint
    #: what else a sub-application keeps here (the FHIR part, webhooks, the console)
    extensions: dict[str, Any] = field(default_factory=dict)
    _publish_lock: threading.Lock = field(default_factory=threading.Lock)
    grouped: Any = None  # the GroupCommit (hub.http.commit), set by ``build``
    #: the store's one connection is used from one thread: every store call of the routes runs here
    _store_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="zorghub-http-store"))

    @classmethod
    def build(cls, settings: Settings, hub: HubApp, transport: Transport) -> HttpContext:
        from hub.http.commit import GroupCommit

        ctx = cls(settings=settings, hub=hub, transport=transport, verifier=TokenVerifier(settings),
                  pdp=decision_point(settings, hub))
        ctx.grouped = GroupCommit(ctx)
        return ctx

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the store's thread, awaited (so the event loop keeps serving)."""
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, fn, *args)

    def store(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` on the store's thread, from another thread."""
        return self._store_thread.submit(fn, *args)

    async def commit(self, records: list[AuditRecord], outgoing: list[Outgoing]) -> None:
        """Audit ``records`` and publish ``outgoing`` in the next group commit, and wait for it."""
        await asyncio.wrap_future(self.grouped.commit(records, outgoing))

    def close(self) -> None:
        for part in self.extensions.values():  # a part's own threads (the webhook dispatcher) end with the server
            if hasattr(part, "close") and callable(part.close):
                part.close()
        self.grouped.close()
        self._store_thread.shutdown(wait=True)

    @property
    def network(self) -> Network:
        """The network flow's registers and services (the GraphQL and FHIR parts read through them)."""
        from hub.flows.network import network_of

        return network_of(self.hub)

    @property
    def source(self) -> str:
        return record.source(self.hub.audit.source, "http")

    def audit(self, records: Iterable[AuditRecord]) -> None:
        """Append decision records written outside a worker batch (queries, refused tokens)."""
        stamped = record.stamp(list(records), self.source)
        if stamped:
            self.hub.audit.append(stamped)

    def message(self, party: str, *, kind: str, message_id: str, content_type: str, body: bytes,
                routing_key: str, correlation_id: str | None = None,
                headers: Mapping[str, Any] | None = None) -> Outgoing:
        """A party's message for the pipeline (the inbound exchange), as the AMQP path receives it."""
        props: dict[str, Any] = {"message_id": message_id, "type": kind, "content_type": content_type,
                                 "user_id": self.transport.user, "delivery_mode": 2}
        if correlation_id:
            props["correlation_id"] = correlation_id
        return Outgoing(self.hub.topology.inbound, routing_key, body, props,
                        {**dict(headers or {}), "x-original-sender": party})

    def publish(self, outgoing: list[Outgoing]) -> None:
        """Publish with confirms; one channel, many threads."""
        self._on_broker(lambda: self.transport.publish(outgoing))

    def ping(self) -> None:
        """A round trip to the broker on the publishing connection (``/readyz``)."""
        self._on_broker(lambda: self.transport.ping())

    def _on_broker(self, call: Callable[[], None]) -> None:
        """``call`` on the shared connection, one thread at a time. A failure reconnects for the next call
        (a broker that went away, a channel it closed) and is raised."""
        with self._publish_lock:
            try:
                call()
            except BaseException:
                self._reconnect()
                raise

    def _reconnect(self) -> None:
        from hub.transports import open_transport

        try:
            self.transport.close()
        except Exception:  # the old connection may be gone already
            pass
        try:
            self.transport = open_transport(self.settings.broker_url, prefetch=self.settings.prefetch,
                                            purpose="http")
        except Exception:  # the broker is still away: the next publish tries again
            return

    def submit(self, party: str, **message: Any) -> None:
        """Hand a party's message to the pipeline now (from the store's thread: a resolver)."""
        self.publish([self.message(party, **message)])


def context_of(conn: HTTPConnection) -> HttpContext:
    ctx = conn.app.state.ctx
    assert isinstance(ctx, HttpContext)
    return ctx
