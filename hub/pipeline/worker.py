"""The worker: receive a batch, check, route, translate, audit, deliver, ack.

Order of commitment for each batch, which is what makes a crash harmless:
1. the audit records, the idempotency marks and the dead-letter records are
   committed in one database transaction (group commit);
2. every outgoing message is published, and the broker confirms them all;
3. the batch is marked published in the database;
4. the inbound messages are acked.
A crash before 1 redelivers and reprocesses. A crash between 1 and 3
redelivers a message already marked done but not published: its outgoing
messages are rebuilt from the message store and published, not computed
again. A crash after 3 redelivers messages that are skipped. Only a crash
between publishing (2) and the mark (3) can send a delivery twice: whether
unconfirmed publishes landed is unknowable. It keeps its message id, so the
recipient can tell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.app import HandlerContext, HubApp
from hub.envelope import Delivery, Envelope
from hub.errors import DeadLetter, HubError, Rejected, RetryLater
from hub.formats import bsn as bsnlib
from hub.pipeline.headers import strip_hub_headers
from hub.store.audit import AuditRecord, now_iso, sha256
from hub.store.deadletters import DeadLetterEntry
from hub.transports.base import Outgoing, RawMessage, Transport

log = logging.getLogger("zorghub.pipeline")

RECEIPT_KIND = "zorghub.receipt"


@dataclass
class _Batch:
    records: list[AuditRecord] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    marks: list[tuple[str, str, str, str]] = field(default_factory=list)
    dead: list[DeadLetterEntry] = field(default_factory=list)
    events: list[tuple[str, Envelope, Any]] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)


class Worker:
    """Processes batches from one transport. One worker per process."""

    def __init__(self, app: HubApp, transport: Transport, *, adapter: str = "") -> None:
        self.app = app
        self.transport = transport
        self.adapter = adapter or transport.url.split("://")[0]
        self.observers: list[Any] = []
        self._tx: Any = lambda: self.app.db

    # ----- the batch ------------------------------------------------------------------
    def handle_batch(self, batch: list[RawMessage]) -> None:
        ids = [str(r.properties.get("message_id") or "") for r in batch]
        done_before = self.app.processed.states(i for i in ids if i)
        seen_now: set[str] = set()
        out = _Batch()
        with contextlib.ExitStack() as stack:
            self._tx = lambda: stack.enter_context(self.app.db.transaction(lock=self.app.audit.LOCK))
            self._walk(batch, ids, done_before, seen_now, out)
            if out.records or out.marks or out.dead:
                with self.app.db.transaction(lock=self.app.audit.LOCK):
                    self.app.audit.append_in_tx(out.records, returning=False)
                    self.app.processed.mark_in_tx(out.marks)
                    self.app.dead_letters.add_in_tx(out.dead)
        sent = [m[0] for m in out.marks] + out.republished
        self.transport.commit(out.outgoing, [r.tag for r in batch],
                              on_confirmed=lambda: self.app.processed.mark_published(sent))
        for kind, env, extra in out.events:
            for observer in self.observers:
                observer(kind, env, extra)
        for hook in self.app.batch_hooks:
            hook(len(out.records))

    def _walk(self, batch: list[RawMessage], ids: list[str], done_before: dict[str, bool], seen_now: set[str],
              out: _Batch) -> None:
        for raw, message_id in zip(batch, ids, strict=True):
            if message_id and (message_id in done_before or message_id in seen_now):
                if (raw.redelivered and message_id in done_before and not done_before[message_id]
                        and message_id not in seen_now):
                    # done, but the broker never confirmed its output: send it again from the message store
                    out.outgoing.extend(self._replay_outgoing(message_id))
                    out.republished.append(message_id)
                seen_now.add(message_id)
                out.events.append(("duplicate", self.envelope_of(raw), None))
                continue
            if message_id:
                seen_now.add(message_id)
            self._process(raw, out)

    # ----- one message ------------------------------------------------------------------
    def envelope_of(self, raw: RawMessage) -> Envelope:
        props = raw.properties
        user = props.get("user_id")
        sender = str(user or "")
        from_hub = bool(user) and user == self.transport.user
        headers = strip_hub_headers(raw.headers, from_hub)  # a sender's forged hub headers go, first
        if from_hub and headers.get("x-original-sender"):
            sender = str(headers["x-original-sender"])  # the hub's own retry or requeue
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

    def _process(self, raw: RawMessage, out: _Batch) -> None:
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
            if checked.kind.handler:
                handler = self.app.handlers.get(checked.kind.handler)
                if handler is None:
                    raise DeadLetter(f"no handler {checked.kind.handler!r} is installed", rule="NO_HANDLER")
                # the batch's transaction opens at the first handler and commits with the audit records
                ctx = HandlerContext(self.app, self._tx(), env)
                with self.app.db.transaction():  # a savepoint-like scope: a failing handler leaves nothing
                    deliveries = handler(checked, ctx)
            else:
                deliveries = self.app.router.route(checked)
            translated = [self.app.translator.translate(d, self.app.parties.get(d.recipient))
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
        self._deliver(env, role, translated, out)
        if checked.kind.iwlz:  # iWlz senders get their retourbericht, as the standard prescribes
            kind, body = self.app.checker.retour(checked.kind, env.payload)
            answer = self.answer(env, kind, body)
            out.outgoing.append(answer)
            out.records.append(self._base(env, role, action="answered", recipient=env.sender, payload=body,
                                          content_type="application/xml", detail=_detail(answer),
                                          reason=f"{kind}: accepted"))
        if ctx is not None:
            out.records.extend(ctx.records)
            for o, rec in ctx.outgoing:
                out.outgoing.append(o)
                if rec is not None:
                    out.records.append(dataclasses.replace(rec, detail=_detail(o), payload=o.body,
                                                           content_type=str(o.properties.get("content_type", ""))))

    def _base(self, env: Envelope, role: str, **fields: Any) -> AuditRecord:
        return AuditRecord(
            actor=env.sender or "(unknown)", actor_role=role, kind=env.kind, message_id=env.message_id,
            correlation_id=env.correlation_id or "", client=env.client_key or "",
            source=f"{self.app.audit.source}/{self.adapter}",
            trace_id=str(env.headers.get("traceparent", "")), **fields,
        )

    def _deliver(self, env: Envelope, role: str, deliveries: list[Delivery], out: _Batch) -> None:
        digest = sha256(env.payload)
        records = [
            self._base(env, role, action="received", payload=env.payload, payload_sha256=digest,
                       content_type=env.content_type),
            self._base(env, role, action="routed",
                       reason="; ".join(f"{d.recipient}: {d.reason}" for d in deliveries)),
        ]
        for d in deliveries:
            o = self.delivery_outgoing(d)
            out.outgoing.append(o)
            # an untranslated delivery is the received payload: store its bytes once, name them by digest
            same = d.envelope.payload is env.payload
            records.append(self._base(
                env, role, action="delivered", recipient=d.recipient, mapping=d.envelope.mapping or "",
                mapping_version=d.envelope.mapping_version or "", payload=None if same else d.envelope.payload,
                payload_sha256=digest if same else "", content_type=d.envelope.content_type, detail=_detail(o)))
        out.records.extend(records)
        out.marks.append((env.message_id, env.sender, "delivered", now_iso()))
        out.events.append(("delivered", env, deliveries))

    def delivery_outgoing(self, d: Delivery) -> Outgoing:
        env = d.envelope
        headers: dict[str, Any] = {"x-sender": env.sender}
        sender = self.app.parties.find(env.sender)
        if sender is not None and sender.id_type != "BSN":
            headers.update({"x-sender-id-type": sender.id_type, "x-sender-id": sender.id})
        if env.mapping:
            headers.update({"x-mapping": env.mapping, "x-mapping-version": env.mapping_version})
        for key, value in env.headers.items():
            if key.startswith("x-network-") or key == "traceparent":
                headers[key] = value
        return Outgoing(
            exchange=self.app.topology.outbound,
            routing_key=d.recipient,
            body=env.payload,
            properties={"message_id": env.message_id, "correlation_id": env.correlation_id,
                        "type": env.kind, "content_type": env.content_type},
            headers=headers,
        )

    def _retry(self, raw: RawMessage, env: Envelope, role: str, exc: RetryLater, out: _Batch) -> None:
        attempt = int(env.headers.get("x-retries", 0)) + 1
        delay = self.app.topology.retry_delay(attempt)
        if delay is None:
            self._fail(raw, env, role, DeadLetter(f"gave up after {attempt - 1} retries: {exc.reason}",
                                                  rule=exc.rule), out)
            return
        headers = {**dict(env.headers), "x-retries": attempt, "x-delay-ms": delay,
                   "x-original-sender": env.sender, "x-retry-reason": bsnlib.redact(exc.reason)}
        props = {**dict(raw.properties), "user_id": self.transport.user}
        o = Outgoing(self.app.topology.retry, raw.routing_key, raw.body, props, headers)
        out.outgoing.append(o)
        out.records.append(self._base(env, role, action="deferred", outcome="retry",
                                      reason=f"attempt {attempt}, retry in {delay} ms: "
                                             f"{bsnlib.redact(exc.reason)}",
                                      payload=raw.body, content_type=env.content_type, detail=_detail(o)))
        out.events.append(("deferred", env, exc))

    def _fail(self, raw: RawMessage, env: Envelope, role: str, exc: HubError, out: _Batch) -> None:
        reason = bsnlib.redact(exc.reason)
        error_class = exc.__class__.__name__
        rejected = isinstance(exc, Rejected) and env.sender in self.app.parties
        records = [self._base(env, role, action="received", outcome="failure", payload=raw.body,
                              content_type=env.content_type or "application/octet-stream")]
        if rejected:
            receipt = (self.answer(env, *exc.answer) if exc.answer
                       else self.receipt(env, "rejected", exc.rule, reason))
            out.outgoing.append(receipt)
            records.append(self._base(env, role, action="rejected", outcome="failure", recipient=env.sender,
                                      reason=f"{exc.rule}: {reason}", payload=receipt.body,
                                      content_type="application/json", detail=_detail(receipt)))
        dead = Outgoing(
            exchange=self.app.topology.dlx, routing_key=raw.routing_key, body=raw.body,
            properties={k: raw.properties.get(k) for k in ("message_id", "correlation_id", "type",
                                                            "content_type")},
            headers={"x-reason": reason, "x-error-class": error_class, "x-rule": exc.rule,
                     "x-original-exchange": self.app.topology.inbound,
                     "x-original-routing-key": raw.routing_key, "x-original-queue": raw.queue,
                     "x-original-sender": env.sender, "x-original-kind": env.kind},
        )
        out.outgoing.append(dead)
        records.append(self._base(env, role, action="dead_lettered", outcome="failure",
                                  reason=f"{error_class} {exc.rule}: {reason}", detail=_detail(dead),
                                  payload=raw.body, content_type=env.content_type or "application/octet-stream"))
        out.records.extend(records)
        message_id = env.message_id or f"(none)-{uuid.uuid4()}"
        if env.message_id:
            out.marks.append((env.message_id, env.sender, "rejected" if rejected else "dead_lettered", now_iso()))
        out.dead.append(DeadLetterEntry(
            message_id=message_id, seq=time.time_ns(), ts=now_iso(), sender=env.sender, kind=env.kind,
            content_type=env.content_type, routing_key=raw.routing_key, error_class=error_class,
            rule=exc.rule, reason=reason, payload_sha256=sha256(raw.body)))
        out.events.append(("rejected" if rejected else "dead_lettered", env, exc))
        log.info("message %s from %s %s: %s %s", env.message_id or "(none)", env.sender or "(unknown)",
                 "rejected" if rejected else "dead-lettered", exc.rule, reason)

    def answer(self, env: Envelope, kind: str, body: bytes) -> Outgoing:
        """An answer in the sender's own standard, such as an iWlz retourbericht."""
        return Outgoing(
            exchange=self.app.topology.outbound, routing_key=env.sender, body=body,
            properties={"message_id": f"{env.message_id}:retour", "correlation_id": env.message_id,
                        "type": kind, "content_type": "application/xml"},
            headers={"x-sender": "zorghub"},
        )

    def receipt(self, env: Envelope, status: str, rule: str, reason: str) -> Outgoing:
        body = orjson.dumps({"messageId": env.message_id, "status": status, "kind": env.kind,
                             "rule": rule, "reason": bsnlib.redact(reason)})
        return Outgoing(
            exchange=self.app.topology.outbound, routing_key=env.sender, body=body,
            properties={"message_id": f"{env.message_id}:receipt", "correlation_id": env.message_id,
                        "type": RECEIPT_KIND, "content_type": "application/json"},
            headers={"x-sender": "zorghub", "x-status": status},
        )

    def _replay_outgoing(self, message_id: str) -> Iterable[Outgoing]:
        """Rebuild what a crashed batch was about to publish, from the message store."""
        for rec in self.app.audit.for_message(message_id):
            if not rec.detail:
                continue
            d = rec.detail_json()
            body = self.app.audit.payload(rec.payload_sha256) if rec.payload_sha256 else None
            if body is None:
                continue
            yield Outgoing(d["x"], d["rk"], body, d.get("p", {}), d.get("h", {}))


def _detail(o: Outgoing) -> str:
    return orjson.dumps({"x": o.exchange, "rk": o.routing_key, "p": dict(o.properties),
                         "h": dict(o.headers)}).decode()
