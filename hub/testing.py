"""The test harness: a hub with its parties on either transport, and the checks every flow must pass.

``TestHub`` runs the hub in this process: on ``memory://`` it processes synchronously when asked
(``pump``); on RabbitMQ a worker thread consumes beside the parties, each of which connects with its
own broker credentials. ``hub[name]`` is a party: on RabbitMQ a plain pika connection
(``PikaParty``), on memory a client of the embedded broker, with the same methods. ``flow_suite``
is what every flow's test ends with.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.app import HubApp
from hub.catalogue.kinds import KindCatalogue
from hub.client import HubClient
from hub.formats import bsn as bsnlib
from hub.pipeline.hooks import OnMessage
from hub.pipeline.worker import Worker
from hub.plugins.flow import Flow
from hub.settings import Settings
from hub.store import auditqueries
from hub.transports import is_embedded, open_transport
from hub.transports import with_credentials as with_credentials
from hub.transports.base import RawMessage, Transport
from hub.transports.management import vhost_of as vhost_of

Printer = Callable[[str], None]
RECEIPT_KIND = "zorghub.receipt"

GEELHOED = {"bsn": "999990019", "gemeentecode": "0344", "postcode": "3511AB"}



def describe(msg: Any) -> str:
    """One line about a received message, for the walk-throughs."""
    kind = msg.properties.get("type")
    if kind == RECEIPT_KIND:
        body = orjson.loads(msg.body)
        return f"receipt {body['status']} for {body['messageId'][:8]}: {body['rule']}: {body['reason']}"
    mapping = msg.headers.get("x-mapping")
    via = f" via {mapping} v{msg.headers.get('x-mapping-version')}" if mapping else ""
    return f"{kind} from {msg.headers.get('x-sender')} ({msg.properties.get('content_type')}{via})"


@dataclass(frozen=True)
class Msg:
    """A message a party received, whichever the transport."""

    body: bytes
    properties: dict[str, Any]
    headers: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.properties.get("type") or "")

    @property
    def content_type(self) -> str:
        return str(self.properties.get("content_type") or "")

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Capture(logging.Handler):
    """Keeps every log line written while the hub runs (message and traceback, as formatted)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


class TestHub:
    """Parties, a hub worker and a way to wait for it, on either transport."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, settings: Settings, out: Printer = print, *, flows: tuple[Flow, ...] | None = None) -> None:
        self.settings = settings
        self.out = out
        self.app = HubApp.build(settings, flows=flows)
        self.memory = is_embedded(settings.broker_url)
        self.sent: list[str] = []  # message ids the parties sent, in order
        self.sent_bodies: list[bytes] = []
        self.seen: list[tuple[str, Msg]] = []  # (party, message) every party read
        self.processed: list[tuple[str, str]] = []  # (event, message id) as the worker reported them
        self._transports: dict[str, Transport] = {}
        self._parties: dict[str, Party] = {}
        self._processed = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log = _Capture()
        logging.getLogger().addHandler(self.log)
        self.hub_transport = open_transport(settings.broker_url, prefetch=settings.prefetch)
        if not self.memory:
            from hub.transports.management import Management

            Management(settings.management_url, settings.management_user, settings.management_password) \
                .sync_parties(vhost_of(settings.broker_url), self.app.parties, self.app.topology)
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
            if event != "duplicate":
                self.processed.append((event, env.message_id))
            self._cond.notify_all()

    def _consume(self) -> None:
        self.hub_transport.consume(self.app.topology.shard_queues(), self.worker.handle_batch,
                                   batch_size=self.settings.batch_size, stop=self._stop)

    # ----- parties ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Party:
        """The party ``name``, connected as itself."""
        if name not in self._parties:
            self.app.parties.get(name)
            self._parties[name] = MemoryParty(self, name) if self.memory else PikaParty(self, name)
        return self._parties[name]

    def client(self, party: str) -> HubClient:
        """A hub client logged in as ``party`` (its own broker connection on RabbitMQ)."""
        if party not in self._transports:
            if self.memory:
                self._transports[party] = self.hub_transport
            else:
                from hub.transports.management import party_password

                p = self.app.parties.get(party)
                url = with_credentials(self.settings.broker_url, party, party_password(p))
                self._transports[party] = open_transport(url)
        return HubClient(self._transports[party], self.app.topology, party)

    def note_sent(self, message_id: str, body: bytes = b"") -> None:
        """Count a message sent around the parties (a file adapter's) as one the suite must find audited."""
        self.sent.append(message_id)
        self.sent_bodies.append(body)

    def send(self, party: str, kind: str, payload: dict[str, Any] | bytes, **kw: Any) -> str:
        """Send as ``party`` and wait until the hub processed it."""
        before = self._processed
        message_id = self.client(party).send(kind, payload, **kw)
        self.note_sent(message_id, payload if isinstance(payload, bytes) else orjson.dumps(payload))
        self.pump(before + 1)
        return message_id

    def pump(self, target: int = 0, timeout: float = 30.0) -> None:
        """Let the hub process until ``target`` messages are done in total (on memory: all there are)."""
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
        msgs = self.client(party).inbox()
        self.seen.extend((party, Msg(m.body, dict(m.properties), dict(m.headers))) for m in msgs)
        return msgs

    def take(self, queue: str, limit: int = 1000) -> list[RawMessage]:
        """Read any queue as the hub's operator, on a connection of its own (pika is not thread-safe)."""
        if self.memory:
            return self.hub_transport.get(queue, limit)
        if "__operator__" not in self._transports:
            self._transports["__operator__"] = open_transport(self.settings.broker_url)
        return self._transports["__operator__"].get(queue, limit)

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every message the parties sent has been processed."""
        if self.memory:
            self.pump()
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while not set(self.sent) <= {mid for _, mid in self.processed}:
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # flow_suite names the ones missing
                self._cond.wait(min(left, 0.2))

    def close(self) -> None:
        logging.getLogger().removeHandler(self.log)
        for p in self._parties.values():
            p.close()
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for t in {id(t): t for t in self._transports.values()}.values():
            if t is not self.hub_transport:
                t.close()
        self.hub_transport.close()
        self.app.close()

    def __enter__(self) -> TestHub:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Party:
    """One party's side: send as it, read its own inbox."""

    def __init__(self, hub: TestHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.queue = hub.app.topology.inbox(name)

    def send(self, kind: str, body: Any, *, content_type: str = "application/json",
             headers: dict[str, Any] | None = None, key: str = "") -> str:
        raise NotImplementedError

    def _get(self) -> Msg | None:
        raise NotImplementedError

    def _idle(self) -> None:
        """Let time pass for the hub (and the broker connection)."""

    def wait(self, n: int = 1, timeout: float = 20.0) -> list[Msg]:
        """Exactly ``n`` messages from the inbox, waiting up to ``timeout`` seconds for them."""
        got: list[Msg] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            msg = self._get()
            if msg is None:
                if self.hub.memory or time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: {len(got)} of {n} message(s) arrived")
                self._idle()
                continue
            self.hub.seen.append((self.name, msg))
            got.append(msg)
        return got

    def receipt(self, timeout: float = 20.0) -> dict[str, Any]:
        (m,) = self.wait(1, timeout)
        assert m.kind == RECEIPT_KIND, m.kind
        return dict(m.json())

    def empty(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class MemoryParty(Party):
    """A party on the embedded broker: every read lets the hub process what is waiting first."""

    def send(self, kind: str, body: Any, *, content_type: str = "application/json",
             headers: dict[str, Any] | None = None, key: str = "") -> str:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        message_id = self.hub.client(self.name).send(kind, payload, content_type=content_type, client_key=key,
                                                     headers=headers)
        self.hub.note_sent(message_id, payload)
        return message_id

    def _get(self) -> Msg | None:
        self.hub.pump()
        msgs = self.hub.hub_transport.get(self.queue, 1)
        return Msg(msgs[0].body, dict(msgs[0].properties), dict(msgs[0].headers)) if msgs else None

    def empty(self) -> bool:
        self.hub.pump()
        msgs = self.hub.hub_transport.get(self.queue, 1, ack=False)
        for m in msgs:
            m.tag.requeue()
        return not msgs


class PikaParty(Party):
    """A vendor's side of the AMQP contract in plain pika, logged in as the party itself."""

    def __init__(self, hub: TestHub, name: str) -> None:
        import pika

        from hub.transports.amqp import parameters
        from hub.transports.management import party_password

        super().__init__(hub, name)
        url = with_credentials(hub.settings.broker_url, name, party_password(hub.app.parties.get(name)))
        self._pika = pika
        self.conn = pika.BlockingConnection(parameters(url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()

    def send(self, kind: str, body: Any, *, content_type: str = "application/json",
             headers: dict[str, Any] | None = None, key: str = "") -> str:
        message_id = str(uuid.uuid4())
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.ch.basic_publish(
            exchange=self.hub.app.topology.inbound, routing_key=key or message_id, body=payload,
            properties=self._pika.BasicProperties(message_id=message_id, type=kind, content_type=content_type,
                                                  user_id=self.name, delivery_mode=2, headers=headers or None))
        self.hub.note_sent(message_id, payload)
        return message_id

    def _get(self) -> Msg | None:
        method, props, body = self.ch.basic_get(self.queue, auto_ack=True)
        if method is None:
            return None
        properties = {k: getattr(props, k) for k in ("message_id", "correlation_id", "type", "content_type",
                                                     "user_id")}
        return Msg(body, properties, dict(props.headers or {}))

    def _idle(self) -> None:
        self.conn.sleep(0.05)

    def empty(self) -> bool:
        method, _, _ = self.ch.basic_get(self.queue, auto_ack=False)
        if method is not None:
            self.ch.basic_nack(method.delivery_tag, requeue=True)
        return method is None

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()


# ----- the checks every flow passes --------------------------------------------------------------
@dataclass
class SuiteReport:
    """What ``flow_suite`` looked at: a suite that checked nothing fails."""

    flow: str
    messages: int = 0
    audit_records: int = 0
    receipts: int = 0
    bsns: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


#: a canonical uuid: message and subscription ids; its digit groups are never a BSN
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _bsns_in(text: str) -> set[str]:
    """The BSN-like numbers in ``text``, as nine digits, leaving uuids (ids, not numbers) out."""
    return {"".join(c for c in found if c.isdigit()) for found in bsnlib.find(_UUID.sub("<uuid>", text))}


def _texts(body: bytes) -> list[str]:
    """The body as text, and each member's text when it is a ZIP."""
    out = [body.decode("latin-1")]
    if body[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as zf:
                out.extend(zf.read(n).decode("latin-1") for n in zf.namelist())
        except zipfile.BadZipFile:
            pass
    return out


def flow_suite(flow: Flow, hub: TestHub) -> SuiteReport:
    """The checks every flow must pass after its scenario ran on ``hub``; raises ``AssertionError``.

    Every message the parties sent, and every one the worker processed, is in the audit log; the
    chain verifies; one of the flow's own kinds was carried; and no BSN that was sent shows in any
    receipt, dead-letter reason, audit reason or log line written meanwhile.
    """
    hub.settle()
    for name in {name for name, _ in hub.seen} | {p.name for p in hub.app.parties}:
        hub.inbox(name)  # what the test left unread counts too
    report = SuiteReport(flow.name)
    audit = hub.app.audit
    ids = list(dict.fromkeys([*hub.sent, *(mid for _, mid in hub.processed)]))
    report.messages = len(ids)
    if not ids:
        report.problems.append("no message was sent: the scenario checked nothing")
    received = {r.message_id for r in auditqueries.with_action(audit.db, "received")}
    audited = {r.message_id for r in audit.records()}
    missing = [m for m in hub.sent if m not in received] + [m for m in ids if m not in audited]
    if missing:
        report.problems.append(f"{len(set(missing))} message(s) not in the audit log: {sorted(set(missing))[:5]}")
    result = audit.verify()
    report.audit_records = result.checked
    if not result.ok:
        report.problems.append(f"the audit chain does not verify: {result.problem}")
    if flow.kinds:
        own = {k.name for k in KindCatalogue.load(*flow.kinds)}
        if not any(r.kind in own for r in audit.records()):
            report.problems.append(f"no message of the flow's own kinds ({', '.join(sorted(own))}) was audited")
    for body in hub.sent_bodies:  # what was sent as a BSN: nine bare digits (a grouped run may be a uuid's)
        for text in _texts(body):
            report.bsns.update(found for found in bsnlib.find(_UUID.sub("<uuid>", text)) if found.isdigit())
    receipt_kinds = {RECEIPT_KIND, *flow.receipts}
    receipts = [(party, m) for party, m in hub.seen if m.kind in receipt_kinds]
    report.receipts = len(receipts)
    places: list[tuple[str, str]] = [(f"receipt {m.kind} to {party}", m.body.decode("latin-1"))
                                     for party, m in receipts]
    places += [(f"dead letter {d.message_id}", d.reason) for d in hub.app.dead_letters.list(True)]
    places += [(f"the audit record {r.action} of {r.message_id}", r.reason) for r in audit.records()]
    places += [("a log line", line) for line in hub.log.lines]
    for where, text in places:
        leaked = report.bsns & _bsns_in(text)
        if leaked:
            report.problems.append(f"a BSN shows in {where}")
    if report.problems:
        raise AssertionError(f"flow {flow.name!r}: " + "; ".join(report.problems))
    return report
