"""The walk-throughs: seed 000 (and, as flows land, seeds 001 to 004).

The same script runs on the embedded default (one process, kombu memory://,
SQLite) and on RabbitMQ, where every party connects with its own credentials
and the hub runs as a worker beside them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from hub.app import HubApp
from hub.client import HubClient
from hub.pipeline.hooks import OnMessage
from hub.pipeline.worker import Worker
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.base import RawMessage, Transport

Printer = Callable[[str], None]


class DemoContext:
    """Parties, a hub worker and a way to wait for it, on either transport."""

    def __init__(self, settings: Settings, out: Printer = print) -> None:
        self.settings = settings
        self.out = out
        self.app = HubApp.build(settings)
        self._transports: dict[str, Transport] = {}
        self._processed = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hub_transport = open_transport(settings.broker_url, prefetch=settings.prefetch)
        self.memory = self.hub_transport.embedded
        if not self.memory:
            from hub.transports.management import Management

            vhost = _vhost(settings.broker_url)
            Management(settings.management_url, settings.management_user, settings.management_password) \
                .sync_parties(vhost, self.app.parties, self.app.topology)
        self.hub_transport.declare(self.app.topology, self.app.parties)
        self.worker = Worker(self.app, self.hub_transport)
        self.worker.observers.append(OnMessage(self._observe))
        for party in self.app.parties:
            self.hub_transport.purge(self.app.topology.inbox(party.name))
        if self.memory:  # the embedded broker is one per process: start from empty queues
            for queue in (self.app.topology.shard(0), self.app.topology.dlq):
                self.hub_transport.purge(queue)
        if not self.memory:
            self._thread = threading.Thread(target=self._consume, name="hub-worker", daemon=True)
            self._thread.start()

    def _observe(self, event: str, env: Any, extra: Any) -> None:
        with self._cond:
            self._processed += 1
            self._cond.notify_all()

    def _consume(self) -> None:
        self.hub_transport.consume(self.app.topology.shard_queues(), self.worker.handle_batch,
                                   batch_size=self.settings.batch_size, stop=self._stop)

    def client(self, party: str) -> HubClient:
        if party not in self._transports:
            if self.memory:
                self._transports[party] = self.hub_transport
            else:
                from hub.transports.management import party_password

                p = self.app.parties.get(party)
                url = _with_credentials(self.settings.broker_url, party, party_password(p))
                self._transports[party] = open_transport(url)
        return HubClient(self._transports[party], self.app.topology, party)

    def send(self, party: str, kind: str, payload: dict[str, Any] | bytes, **kw: Any) -> str:
        before = self._processed
        message_id = self.client(party).send(kind, payload, **kw)
        self.pump(before + 1)
        return message_id

    def pump(self, target: int, timeout: float = 30.0) -> None:
        """Let the hub process until ``target`` messages are done in total."""
        if self.memory:
            self.hub_transport.drain([self.app.topology.shard(0)], self.worker.handle_batch,  # type: ignore[attr-defined]
                                     batch_size=self.settings.batch_size)
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._processed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the hub did not process the message in time")
                self._cond.wait(left)

    def inbox(self, party: str) -> list[RawMessage]:
        return self.client(party).inbox()

    def take(self, queue: str, limit: int = 1000) -> list[RawMessage]:
        """Read any queue as the hub's operator, on a connection of its own (pika is not thread-safe)."""
        if self.memory:
            return self.hub_transport.get(queue, limit)
        if "__operator__" not in self._transports:
            self._transports["__operator__"] = open_transport(self.settings.broker_url)
        return self._transports["__operator__"].get(queue, limit)

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for t in {id(t): t for t in self._transports.values()}.values():
            if t is not self.hub_transport:
                t.close()
        self.hub_transport.close()
        self.app.close()


def _vhost(url: str) -> str:
    from urllib.parse import unquote, urlparse

    path = urlparse(url).path
    return unquote(path[1:]) if path and path != "/" else "/"


def _with_credentials(url: str, user: str, password: str) -> str:
    from hub.transports import with_credentials

    return with_credentials(url, user, password)


def describe(msg: RawMessage) -> str:
    kind = msg.properties.get("type")
    if kind == "zorghub.receipt":
        body = orjson.loads(msg.body)
        return f"receipt {body['status']} for {body['messageId'][:8]}: {body['rule']}: {body['reason']}"
    mapping = msg.headers.get("x-mapping")
    via = f" via {mapping} v{msg.headers.get('x-mapping-version')}" if mapping else ""
    return f"{kind} from {msg.headers.get('x-sender')} ({msg.properties.get('content_type')}{via})"


GEELHOED = {"bsn": "999990019", "gemeentecode": "0344", "postcode": "3511AB"}


def seed000(ctx: DemoContext) -> bool:
    """The network-model walk-through, as far as the backbone's routing goes."""
    out = ctx.out
    out("Seed 000: Mr Geelhoed needs more intensive care; his daughter Inge uses a PGO.")
    out("Step 2. CIZ decides and records the indicatiebesluit (kind 'indicatiebesluit').")
    indicatie = {
        "besluitnummer": "IB-2026-000123", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01",
        "zzp": "5VV", "grondslagen": ["somatisch"], "client": GEELHOED,
        "voorkeurZorgaanbieder": "73730800",
    }
    ctx.send("ciz", "indicatiebesluit", indicatie, client_key="client-geelhoed")
    out("Step 3. The hub finds the zorgkantoor from his municipality (0344 Utrecht -> COD001 5509)")
    out("        and notifies it, his PGO, the preferred provider Bos & Duin and the CAK:")
    expected = {"zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak"}
    received: dict[str, list[RawMessage]] = {}
    for party in ctx.app.parties:
        msgs = ctx.inbox(party.name)
        if msgs:
            received[party.name] = msgs
        for m in msgs:
            out(f"  -> {party.label:45s} {describe(m)}")
    ok = set(received) == expected and all(len(v) == 1 for v in received.values())
    silent = sorted(p.name for p in ctx.app.parties if p.name not in received)
    out(f"  No delivery to: {', '.join(silent)}")
    out("A message with a BSN that fails the elfproef is refused, with a receipt to the sender:")
    bad = dict(indicatie, besluitnummer="IB-2026-000124", client=dict(GEELHOED, bsn="123456789"))
    ctx.send("ciz", "indicatiebesluit", bad, client_key="client-x")
    receipts = ctx.inbox("ciz")
    for m in receipts:
        out(f"  -> {'ciz':45s} {describe(m)}")
    ok = ok and len(receipts) == 1 and not any(ctx.inbox(p) for p in expected)
    return ok


DEMOS: dict[int, Callable[[DemoContext], bool]] = {0: seed000}
DEMO_MODULES = ("hub.flows.network.demo", "hub.flows.demo")


def load_demos() -> dict[int, Callable[[DemoContext], bool]]:
    """Flow packages register their walk-throughs by adding to DEMOS on import."""
    import importlib

    for name in DEMO_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    return DEMOS


def run_demo(settings: Settings, seeds: list[int], out: Printer = print) -> int:
    ctx = DemoContext(settings, out)
    try:
        ok = True
        demos = load_demos()
        for n in seeds:
            demo = demos.get(n)
            if demo is None:
                out(f"Seed {n:03d}: not available in this build")
                ok = False
                continue
            ok = demo(ctx) and ok
            out("")
        result = ctx.app.audit.verify()
        out(f"Audit chain: {result.checked} records verified "
            f"({'intact' if result.ok else 'BROKEN: ' + result.problem}).")
        return 0 if ok and result.ok else 1
    finally:
        ctx.close()
