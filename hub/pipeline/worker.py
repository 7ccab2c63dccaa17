"""The worker: receive a batch, check, route, translate, audit, record in the outbox, ack.

Order of commitment for each batch, which is what makes a crash harmless:
1. the audit records (a message's ``received`` record is its idempotency mark), the dead-letter
   records and one outbox entry per message the batch sends are committed in one database
   transaction (the transactional outbox),
   together with the sent marks of earlier entries the broker has confirmed since;
2. the inbound messages are acked;
3. the relay publishes the batch's entries with pipelined confirms and the worker goes on with the
   next batch meanwhile; confirmed entries are marked sent in a later transaction (step 1 again).
A crash before 1 redelivers and reprocesses. A crash between 1 and 2 redelivers messages that are
done: they are skipped. A crash after 1 leaves entries unsent, and the relay of the restarted worker
publishes them again (``Relay.resume``), byte for byte: an entry the broker had taken before the crash
arrives twice, under the same deterministic message id and stream sequence number, and the receiver
drops it. So nothing is lost and nothing is processed or audited twice.

Step 1 is ``BatchTransaction``, opened in ``handle_batch``. The messages are built by
``hub.pipeline.outbox`` and numbered in their streams here (``_emit``), the audit records by
``hub.pipeline.record``; flows take part through the app's handlers, validators (in the checker),
answer hooks and observers.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from hub.envelope import Delivery, Envelope
from hub.errors import DeadLetter, HubError, Rejected, RetryLater
from hub.formats import bsn as bsnlib
from hub.pipeline import outbox, record, resend
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.pipeline.headers import strip_hub_headers
from hub.pipeline.hooks import Event, Observer
from hub.pipeline.relay import IDLE_MARK_AFTER, EntryKey, Relay
from hub.store.audit import AuditRecord, PayloadAltered, now_iso, sha256
from hub.store.db import Database
from hub.store.deadletters import DeadLetterEntry
from hub.store.idempotency import (
    ORIGIN_FIELD,
    Key,
    generation_records,
    processing_key,
    requeue_generation,
    sender_records,
    split_key,
)
from hub.store.outbox import Entry, OutboxStore
from hub.transports.base import Outgoing, RawMessage, Transport

if TYPE_CHECKING:
    from hub.app import HubApp

log = logging.getLogger("zorghub.pipeline")

RECEIPT_KIND = outbox.RECEIPT_KIND
#: the young generation's collection threshold for a worker (CPython's default is 700)
GC_YOUNG = 20_000
_gc_before: list[tuple[int, int, int]] = []


def settle_heap() -> None:
    """Before a worker takes messages: keep the collector off what it loaded, and off each batch.

    The tens of thousands of objects a warmed-up worker holds (modules, schemas, mappings) live as long
    as it does; each full collection walked them all, tens of milliseconds every few seconds, a stall
    in the middle of a batch. Frozen, they are never walked again. A batch's own objects die by
    reference count when it is done; a higher young threshold lets them, instead of promoting them.
    ``release_heap`` undoes it when the worker stops (a worker run inside another program).
    """
    gc.collect()
    gc.freeze()
    if not _gc_before:
        _gc_before.append(gc.get_threshold())
    _, middle, old = _gc_before[0]
    gc.set_threshold(GC_YOUNG, middle, old)


def release_heap() -> None:
    """The collector as it was before ``settle_heap``: every object walked again, the old thresholds."""
    gc.unfreeze()
    if _gc_before:
        gc.set_threshold(*_gc_before.pop())


@dataclass
class _Batch:
    """What one batch comes to: committed together, then published together."""

    records: list[AuditRecord] = field(default_factory=list)
    #: every new message, numbered in its stream: its outbox entry and the message itself
    outgoing: list[tuple[Entry, Outgoing]] = field(default_factory=list)
    #: bodies of messages no audit record stores (a flow's unaudited message): (body, content type)
    bodies: list[tuple[bytes, str]] = field(default_factory=list)
    #: entries sent before, to be published again as they were (a resend request)
    again: list[tuple[EntryKey, Outgoing]] = field(default_factory=list)
    #: messages a store from before the outbox left unconfirmed, rebuilt from the audit log
    replayed: list[Outgoing] = field(default_factory=list)
    dead: list[DeadLetterEntry] = field(default_factory=list)
    events: list[tuple[Event, Envelope, object]] = field(default_factory=list)
    republished: list[Key] = field(default_factory=list)


class BatchTransaction:
    """The batch's one database transaction (step 1 of the commit order).

    It opens at the first handler, whose register writes must commit with the batch's audit
    records and outbox entries (the transactional outbox), or else at the commit itself;
    it commits when the batch's ``with`` block in ``Worker.handle_batch`` ends.
    """

    def __init__(self, db: Database, lock: str, stack: contextlib.ExitStack) -> None:
        self.db = db
        self.lock = lock
        self.stack = stack
        self.opened = False

    def join(self) -> Database:
        """The open transaction, opened now if no one has yet."""
        if not self.opened:
            self.stack.enter_context(self.db.transaction(lock=self.lock))
            self.opened = True
        return self.db


class Worker:
    """Processes batches from one transport. One worker per process."""

    def __init__(self, app: HubApp, transport: Transport, *, adapter: str = "") -> None:
        self.app = app
        self.transport = transport
        self.adapter = adapter or transport.name
        #: called after each message and each committed batch; starts with the app's own
        self.observers: list[Observer] = list(app.observers)
        self._outbox = OutboxStore(app.db)
        self.relay = Relay(transport, self._outbox, lambda digest: self.app.audit.payload(digest, verify=True))
        app.handlers.setdefault(outbox.RESEND_KIND, resend.handle)
        self._seqs: dict[str, int] = {}  # each stream's last sequence number, as committed (or about to be)
        self._shard = 0  # the shard of the message being processed

    @property
    def outbox(self) -> OutboxStore:
        """The outbox of the app's store (an app may be given a reopened store)."""
        if self._outbox.db is not self.app.db:
            self._outbox = self.relay.store = OutboxStore(self.app.db)
        return self._outbox

    def resume(self, queues: list[str]) -> int:
        """Publish what a crashed worker of these shards committed and never saw confirmed."""
        _ = self.outbox
        return self.relay.resume([self.shard_of(q) for q in queues])

    def idle(self) -> None:
        """Nothing to consume: mark what the broker confirmed meanwhile as sent, unless a batch may come soon
        enough to carry the marks in its own transaction."""
        _ = self.outbox
        self._publish()
        self.relay.flush(older_than=IDLE_MARK_AFTER)

    def shard_of(self, queue: str) -> int:
        """The inbound shard index of a work queue (``<prefix>.work.<n>``); 0 for any other queue."""
        prefix = self.app.topology.shard(0)[:-1]
        tail = queue[len(prefix):] if queue.startswith(prefix) else ""
        return int(tail) if tail.isdigit() else 0

    @property
    def source(self) -> str:
        """The ``source`` of every audit record this worker writes."""
        return record.source(self.app.audit.source, self.adapter)

    # ----- the batch ------------------------------------------------------------------
    def handle_batch(self, batch: list[RawMessage]) -> None:
        self.relay.throttle()  # the batch before the last must be confirmed: bounded memory, bounded redo
        ids = [self.processing_key(r) for r in batch]
        done_before = self.app.processed.states(i for i in ids if i)
        confirmed = self.relay.take_confirmed()
        store = self.outbox
        try:
            with contextlib.ExitStack() as stack:
                tx = BatchTransaction(self.app.db, self.app.audit.LOCK, stack)
                out = self._walk(batch, ids, done_before, tx)
                records = record.stamp(out.records, self.source)
                entries = [e for e, _ in out.outgoing]
                if records or out.dead or entries or confirmed:
                    tx.join()
                    self.app.audit.append_in_tx(records, returning=False)
                    self.app.audit.store_payloads_in_tx(out.bodies)
                    self.app.dead_letters.add_in_tx(out.dead)
                    store.add_in_tx(entries)
                    store.mark_sent_in_tx(confirmed)
        except BaseException:
            self._seqs.clear()  # what was numbered did not commit: read the streams afresh
            self.relay.give_back(confirmed)
            raise
        if out.replayed:  # a store from before the outbox: publish, confirm, mark, as it did then
            self.transport.commit(out.replayed, [], on_confirmed=lambda: self.app.processed.mark_published(
                out.republished))
        self.transport.ack([r.tag for r in batch])

        def delivered() -> None:  # each message is heard of once the broker holds what it sent
            for event, env, extra in out.events:
                for observer in self.observers:
                    observer.after_process_message(event, env, extra)

        self.relay.send([*out.again, *(((e.stream, e.seq), o) for e, o in out.outgoing)], delivered)
        self._publish()
        if self.relay.idle:  # settled at once (an in-process broker): mark them now
            self.relay.flush()
        for observer in self.observers:
            observer.after_batch(records)

    def _publish(self) -> None:
        """What the app's publishers have due (tree heads to witnesses): they commit it, the relay sends it."""
        for publisher in self.app.publishers:
            self.relay.send(publisher.due())

    def _emit(self, o: Outgoing, out: _Batch, digest: str = "") -> tuple[Outgoing, str]:
        """``o`` numbered in its stream and added to the batch's output, with its ``detail``.

        A party's inbox counts in ``<recipient>/<shard>`` and the message carries its number; the hub's own
        channels (retry, dead letters) count in ``~<exchange>/<shard>`` for the outbox alone. ``digest`` is
        the body's SHA-256 when the caller has it already.
        """
        inbox = o.exchange == self.app.topology.outbound
        stream = outbox.stream_of(o.routing_key if inbox else f"~{o.exchange}", self._shard)
        last = self._seqs.get(stream)
        if last is None:
            last = self.outbox.last_seqs([stream])[stream]
        seq = last + 1
        self._seqs[stream] = seq
        if inbox:
            o = outbox.sequenced(o, stream, seq)
        detail = outbox.detail(o)
        out.outgoing.append((Entry(stream, seq, self._shard, str(o.properties.get("message_id") or ""), detail,
                                   digest or sha256(o.body)), o))
        return o, detail

    def _walk(self, batch: list[RawMessage], ids: list[Key | None], done_before: dict[Key, bool],
              tx: BatchTransaction) -> _Batch:
        out = _Batch()
        seen_now: set[Key] = set()
        for raw, key in zip(batch, ids, strict=True):
            if key and (key in done_before or key in seen_now):
                if (raw.redelivered and key in done_before and not done_before[key]
                        and key not in seen_now):
                    # done, but the broker never confirmed its output: send it again from the message store
                    out.replayed.extend(self._replay_outgoing(key))
                    out.republished.append(key)
                seen_now.add(key)
                log.info("message %s from %s is a duplicate of one already processed: skipped", key[1],
                         key[0] or "(unknown)")
                out.events.append(("duplicate", self.envelope_of(raw), None))
                continue
            if key:
                seen_now.add(key)
            self._shard = self.shard_of(raw.queue)
            self._process(raw, out, tx)
        return out

    def processing_key(self, raw: RawMessage) -> Key | None:
        """The idempotency key: the sender, and the message id with the generation of a requeue by the hub."""
        message_id = str(raw.properties.get("message_id") or "")
        if not message_id:
            return None
        return (self.sender_of(raw),
                processing_key(message_id, requeue_generation(raw.properties, raw.headers, self.transport.user)))

    # ----- one message ------------------------------------------------------------------
    def sender_of(self, raw: RawMessage) -> str:
        """The broker-validated ``user_id``, or the original sender of the hub's own retry or requeue."""
        user = raw.properties.get("user_id")
        if bool(user) and user == self.transport.user and raw.headers.get("x-original-sender"):
            return str(raw.headers["x-original-sender"])
        return str(user or "")

    def envelope_of(self, raw: RawMessage) -> Envelope:
        props = raw.properties
        user = props.get("user_id")
        from_hub = bool(user) and user == self.transport.user
        headers = strip_hub_headers(raw.headers, from_hub)  # a sender's forged hub headers go, first
        sender = self.sender_of(raw)
        return Envelope(
            message_id=str(props.get("message_id") or ""),
            sender=sender,
            kind=str(props.get("type") or ""),
            content_type=str(props.get("content_type") or ""),
            payload=raw.body,
            correlation_id=props.get("correlation_id"),
            reply_to=props.get("reply_to"),
            headers=headers,
            redelivered=raw.redelivered,
        )

    def _process(self, raw: RawMessage, out: _Batch, tx: BatchTransaction) -> None:
        env = self.envelope_of(raw)
        role = ""
        ctx: HandlerContext | None = None
        try:
            if not env.sender:
                raise DeadLetter("the message has no user_id: its sender cannot be established", rule="NO_USER_ID")
            party = self.app.parties.get(env.sender)
            role = ",".join(party.roles)
            if not env.message_id:
                raise Rejected("the message has no message_id property", rule="NO_MESSAGE_ID")
            checked = self.app.checker.check(env)
            env = checked.envelope
            for guard in self.app.guards.get(checked.kind.name, ()):
                guard(checked, tx.join())
            if checked.kind.handler:
                handler = self.app.handlers.get(checked.kind.handler)
                if handler is None:
                    raise DeadLetter(f"no handler {checked.kind.handler!r} is installed", rule="NO_HANDLER")
                ctx = HandlerContext(self.app, tx.join(), env)
                with self.app.db.transaction():  # a savepoint-like scope: a failing handler leaves nothing
                    deliveries = handler(checked, ctx)
            else:
                deliveries = self.app.router.route(checked)
            # the checked payload's parse, for the routed deliveries that carry that payload (a flow's handler
            # has had the parse in hand and may have changed it: its deliveries are translated from their bytes)
            doc = checked.document
            parsed = doc.json if doc.whole and not checked.kind.handler else None
            translated = [self.app.translator.translate(d, self.app.parties.get(d.recipient),
                                                        parsed if d.envelope.payload is env.payload else None)
                          for d in deliveries]
        except RetryLater as exc:
            self._retry(raw, env, role, exc, out)
            return
        except HubError as exc:
            if ctx is not None:  # the handler's decisions (e.g. an authorisation deny) stay on record
                out.records.extend(ctx.records)
            self._fail(raw, env, role, exc, out)
            return
        except Exception as exc:  # a bug must not lose the message: park it
            log.exception("internal error on message %s", env.message_id)
            self._fail(raw, env, role, DeadLetter(f"internal error: {exc.__class__.__name__}",
                                                  rule="INTERNAL"), out)
            return
        if ctx is not None and ctx.refused is not None:  # the flow answered and recorded; the hub parks it
            self._take_handler_output(ctx, out)
            self._fail(raw, env, role, ctx.refused, out, answered=True)
            return
        self._deliver(env, role, translated, out)
        self._answer(checked, role, out)
        if ctx is not None:
            self._take_handler_output(ctx, out)

    def _take_handler_output(self, ctx: HandlerContext, out: _Batch) -> None:
        out.records.extend(ctx.records)
        out.again.extend(ctx.again)
        for o, rec in ctx.outgoing:
            o, detail = self._emit(o, out)
            content_type = str(o.properties.get("content_type", ""))
            if rec is not None:
                out.records.append(record.sent(rec, o.body, content_type, _with_origin(detail, ctx.envelope.sender)))
            else:
                out.bodies.append((o.body, content_type))

    def _answer(self, checked: Checked, role: str, out: _Batch) -> None:
        """The kind's answer hook may answer an accepted message (iWlz senders get their retourbericht)."""
        hook = self.app.answers.get(checked.kind.name)
        answer = hook.accepted(checked) if hook is not None else None
        if answer is None:
            return
        env = checked.envelope
        o, detail = self._emit(outbox.answer(self.app.topology, env, answer), out)
        out.records.append(record.about(env, role, "answered", recipient=env.sender, payload=answer.body,
                                        content_type=answer.content_type, detail=detail,
                                        reason=f"{answer.kind}: accepted"))

    def _deliver(self, env: Envelope, role: str, deliveries: list[Delivery], out: _Batch) -> None:
        digest = sha256(env.payload)
        # why each recipient got it is on its own delivery record: no ``routed`` record beside them (earlier
        # releases wrote one a message, a third of a passthrough message's audit rows)
        records = [record.about(env, role, "received", payload=env.payload, payload_sha256=digest,
                                content_type=env.content_type)]
        for d in deliveries:
            # an untranslated delivery is the received payload: store its bytes once, name them by digest
            same = d.envelope.payload is env.payload
            _, detail = self._emit(self.delivery_outgoing(d, env.message_id), out, digest if same else "")
            records.append(record.about(
                env, role, "delivered", recipient=d.recipient, mapping=d.envelope.mapping or "",
                mapping_version=d.envelope.mapping_version or "", payload=None if same else d.envelope.payload,
                payload_sha256=digest if same else "", content_type=d.envelope.content_type,
                reason=d.reason, detail=detail))
        out.records.extend(records)
        out.events.append(("delivered", env, deliveries))

    def delivery_outgoing(self, d: Delivery, origin: str | None = None) -> Outgoing:
        return outbox.delivery(d, self.app.topology, self.app.parties, origin)

    def _retry(self, raw: RawMessage, env: Envelope, role: str, exc: RetryLater, out: _Batch) -> None:
        attempt = int(env.headers.get("x-retries", 0)) + 1
        delay = self.app.topology.retry_delay(attempt)
        if delay is None:
            self._fail(raw, env, role, DeadLetter(f"gave up after {attempt - 1} retries: {exc.reason}",
                                                  rule=exc.rule), out)
            return
        _, detail = self._emit(outbox.retry(self.app.topology, raw, env, self.transport.user, attempt, delay,
                                            exc.reason), out)
        out.records.append(record.about(env, role, "deferred", outcome="retry",
                                        reason=f"attempt {attempt}, retry in {delay} ms: "
                                               f"{bsnlib.redact(exc.reason)}",
                                        payload=raw.body, content_type=env.content_type, detail=detail))
        out.events.append(("deferred", env, exc))

    def _fail(self, raw: RawMessage, env: Envelope, role: str, exc: HubError, out: _Batch, *,
              answered: bool = False) -> None:
        """Dead-letter the message; a known sender gets a receipt unless its flow ``answered`` it already."""
        reason = bsnlib.redact(exc.reason)
        error_class = exc.__class__.__name__
        rejected = isinstance(exc, Rejected) and env.sender in self.app.parties
        records = [record.about(env, role, "received", outcome="failure", payload=raw.body,
                                content_type=env.content_type or "application/octet-stream")]
        if env.sender in self.app.parties and not answered:  # every failure answers a known sender
            receipt, detail = self._emit(self._refusal(env, raw.body, exc, reason,
                                                       "rejected" if rejected else "dead_lettered"), out)
            records.append(record.about(env, role, "rejected" if rejected else "answered", outcome="failure",
                                        recipient=env.sender, reason=f"{exc.rule}: {reason}", payload=receipt.body,
                                        content_type=str(receipt.properties.get("content_type", "")),
                                        detail=detail))
        dead, detail = self._emit(outbox.dead_letter(self.app.topology, raw, env, error_class, exc.rule, reason), out)
        records.append(record.about(env, role, "dead_lettered", outcome="failure",
                                    reason=f"{error_class} {exc.rule}: {reason}", detail=detail,
                                    payload=raw.body, content_type=env.content_type or "application/octet-stream"))
        out.records.extend(records)
        message_id = env.message_id or f"(none)-{uuid.uuid4()}"
        out.dead.append(DeadLetterEntry(
            message_id=message_id, seq=time.time_ns(), ts=now_iso(), sender=env.sender, kind=env.kind,
            content_type=env.content_type, routing_key=raw.routing_key, error_class=error_class,
            rule=exc.rule, reason=reason, payload_sha256=sha256(raw.body),
            headers=orjson.dumps(dict(raw.headers), default=str).decode()))
        out.events.append(("rejected" if rejected else "dead_lettered", env, exc))
        log.info("message %s from %s %s: %s %s", env.message_id or "(none)", env.sender or "(unknown)",
                 "rejected" if rejected else "dead-lettered", exc.rule, reason)

    def _refusal(self, env: Envelope, payload: bytes, exc: HubError, reason: str, status: str) -> Outgoing:
        """The kind's answer hook may answer a refusal in the sender's standard; else the JSON receipt."""
        hook = self.app.answers.get(env.kind)
        answer = hook.rejected(env.kind, payload, exc) if hook is not None else None
        if answer is not None:
            return outbox.answer(self.app.topology, env, answer)
        return outbox.receipt(self.app.topology, env, status, exc.rule, reason)

    def _replay_outgoing(self, key: Key) -> Iterator[Outgoing]:
        """Rebuild what a crashed batch was about to publish, from the message store: that sender's only."""
        sender, (message_id, generation) = key[0], split_key(key[1])
        records = sender_records(self.app.audit.for_message(message_id), sender)
        for rec in generation_records(records, generation):
            if not rec.detail:
                continue
            try:
                body = self.app.audit.payload(rec.payload_sha256, verify=True) if rec.payload_sha256 else None
            except PayloadAltered as exc:  # never send what the chain does not vouch for
                log.error("message %s: not sent again to %s: %s", message_id, rec.recipient or "-", exc.reason)
                continue
            if body is None:
                continue
            yield outbox.from_detail(rec.detail_json(), body)



def _with_origin(detail: str, sender: str) -> str:
    """A hub message's ``detail`` naming the party whose message it is about, so that crash recovery
    rebuilds one sender's output only, even when another sender used the same message id."""
    return orjson.dumps({**orjson.loads(detail), ORIGIN_FIELD: sender}).decode()
