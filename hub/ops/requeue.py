"""Requeue dead letters: send the stored original through the hub again, without ever losing it.

The hub publishes as itself and names the original sender in a header, which
the pipeline trusts only on the hub's own user. Each requeue carries a requeue
generation, so the worker's idempotency check sees a new piece of work (not a
duplicate of the dead-lettered original) while a redelivery of the same
requeue stays a duplicate.

The order is what makes it safe:
1. one transaction: each entry gets its generation (and stays open), and a
   ``requeued`` audit record names who, when, why and which entry;
2. the messages are published, and the broker confirms them;
3. one transaction closes the entries.
A failure in 2 writes a ``requeue_failed`` record and leaves the entries open;
a crash in 2 leaves them open too. Requeueing them again republishes the same
generation, which the hub processes at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from hub.catalogue.topology import Topology
from hub.errors import DeadLetter, HubError
from hub.formats import bsn as bsnlib
from hub.settings import Settings
from hub.store.audit import AuditLog, AuditRecord, now_iso
from hub.store.db import Database
from hub.store.deadletters import DeadLetterEntry, DeadLetterStore
from hub.store.idempotency import REQUEUE_HEADER, REQUEUED_ACTION, ProcessedIds
from hub.transports import is_embedded, open_transport
from hub.transports.base import Outgoing, Transport

#: headers only the hub sets (or that belong to one pass through it): never carried into a requeue
_HUB_HEADERS = ("x-original-", "x-requeue", "x-retries", "x-delay-ms", "x-retry-reason", "x-reason", "x-rule",
                "x-error-class")


class RequeueRefused(HubError):
    """The requeue cannot be done safely now; nothing was changed."""

    code = "REQUEUE_REFUSED"


@dataclass(frozen=True)
class Selection:
    """Which open dead letters: ids (or unique prefixes), a rule, a kind, or all of them."""

    message_ids: tuple[str, ...] = ()
    rule: str = ""
    kind: str = ""
    all_entries: bool = False

    def empty(self) -> bool:
        return not (self.message_ids or self.rule or self.kind or self.all_entries)


@dataclass(frozen=True)
class Requeued:
    entry: DeadLetterEntry
    generation: int


def select(store: DeadLetterStore, selection: Selection) -> list[DeadLetterEntry]:
    """The open entries a selection names; an id that names none, or more than one message, is an error."""
    if selection.empty():
        raise DeadLetter("name the dead letters: message ids, --rule, --kind or --all", rule="DLQ_NOTHING")
    wanted = {store.resolve(prefix) for prefix in selection.message_ids}
    entries = []
    for e in store.list():
        if wanted and e.message_id not in wanted:
            continue
        if selection.rule and not e.has_rule(selection.rule):
            continue
        if selection.kind and e.kind != selection.kind:
            continue
        entries.append(e)
    # one open entry per message: a message dead-lettered twice without a requeue in between is requeued once;
    # a message is its sender's message id, so two parties' equal ids are two messages
    latest: dict[tuple[str, str], DeadLetterEntry] = {}
    for e in entries:
        latest[(e.sender, e.message_id)] = e
    return sorted(latest.values(), key=lambda e: e.seq)


def requeue(settings: Settings, selection: Selection, *, operator: str, reason: str, dry_run: bool = False,
            transport: Transport | None = None) -> list[Requeued]:
    """Requeue the selected open dead letters; with ``dry_run``, only say which.

    ``transport``: the running hub's own, when it runs in this process (the embedded broker lives in one
    process only). Without it, ``memory://`` has no hub to receive the messages, and the requeue refuses.
    """
    if not dry_run:
        if not operator.strip():
            raise RequeueRefused("a requeue needs the operator's name (--as)", rule="REQUEUE_NO_OPERATOR")
        if not reason.strip():
            raise RequeueRefused("a requeue needs a reason (--reason)", rule="REQUEUE_NO_REASON")
        if transport is None and is_embedded(settings.broker_url):
            raise RequeueRefused(
                "the broker is memory://, which lives inside one process: no hub runs here to receive a "
                "requeued message, so nothing was requeued. Use --broker amqp://... of the running hub",
                rule="REQUEUE_NO_HUB")
    db = Database.open_existing(settings.effective_store_url)
    try:
        audit = AuditLog(db, settings.key_bytes(create=False))
        from hub.store import payloads

        payloads.attach(db, settings.kek_source)
        ProcessedIds(db)
        store = DeadLetterStore(db)
        entries = select(store, selection)
        if dry_run or not entries:
            return [Requeued(e, e.requeue_gen or 0) for e in entries]
        bodies: dict[tuple[str, str], bytes] = {}
        for e in entries:
            body = audit.payload(e.payload_sha256)
            if body is None:
                raise DeadLetter(f"the payload of {e.message_id} has been pruned; nothing was requeued",
                                 rule="PRUNED")
            bodies[(e.sender, e.message_id)] = body
        own = transport is None
        transport = transport or open_transport(settings.broker_url)
        try:
            topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
            planned = _begin(db, audit, store, entries, bodies, operator.strip(), reason.strip(), topology,
                             transport.user)
            try:
                transport.publish([o for _, o in planned])
            except Exception as exc:
                _failed(db, audit, planned, operator.strip(), exc)
                raise RequeueRefused(
                    f"publishing the requeue failed ({exc.__class__.__name__}); the {len(planned)} dead "
                    "letter(s) stay open: requeue them again (the hub processes a requeue at most once)",
                    rule="REQUEUE_PUBLISH_FAILED") from exc
            with db.transaction(lock=audit.LOCK):
                ts = now_iso()
                for r, _ in planned:
                    store.confirm_requeued_in_tx(r.entry, ts)
            return [r for r, _ in planned]
        finally:
            if own:
                transport.close()
    finally:
        db.close()


def _begin(db: Database, audit: AuditLog, store: DeadLetterStore, entries: Sequence[DeadLetterEntry],
           bodies: dict[tuple[str, str], bytes], operator: str, reason: str, topology: Topology,
           hub_user: str) -> list[tuple[Requeued, Outgoing]]:
    """Step 1, committed before anything is published: generations and the audit records."""
    planned: list[tuple[Requeued, Outgoing]] = []
    records: list[AuditRecord] = []
    why = bsnlib.redact(reason)
    with db.transaction(lock=audit.LOCK):
        for stale in entries:
            e = store.entry(stale.message_id, stale.seq)
            if e is None or e.requeued_at:  # another operator requeued it meanwhile
                continue
            generation = e.requeue_gen or store.next_generation_in_tx(e.message_id)
            store.begin_requeue_in_tx(e, generation, operator, why)
            o = _outgoing(e, bodies[(e.sender, e.message_id)], generation, topology, hub_user)
            planned.append((Requeued(e, generation), o))
            again = " (again: the last attempt was not confirmed)" if e.requeue_gen else ""
            records.append(AuditRecord(
                action=REQUEUED_ACTION, actor=operator, actor_role="operator", kind=e.kind,
                message_id=e.message_id, client="", record_type="DeadLetter", record_id=str(e.seq),
                reason=f"dead letter {e.seq} ({e.error_class} {e.rule}) from {e.sender or '(unknown)'}, "
                       f"generation {generation}{again}: {why}",
                payload_sha256=e.payload_sha256, source=f"{audit.source}/cli", detail=_detail(o)))
        audit.append_in_tx(records, returning=False)
    if not planned:
        raise DeadLetter("every selected dead letter was requeued meanwhile by someone else", rule="DLQ_NOT_OPEN")
    return planned


def _failed(db: Database, audit: AuditLog, planned: Sequence[tuple[Requeued, Outgoing]], operator: str,
            exc: BaseException) -> None:
    with db.transaction(lock=audit.LOCK):
        audit.append_in_tx([AuditRecord(
            action="requeue_failed", actor=operator, actor_role="operator", outcome="failure", kind=r.entry.kind,
            message_id=r.entry.message_id, record_type="DeadLetter", record_id=str(r.entry.seq),
            reason=f"generation {r.generation} not confirmed by the broker ({exc.__class__.__name__}): "
                   "the dead letter stays open", source=f"{audit.source}/cli") for r, _ in planned],
            returning=False)


def _outgoing(e: DeadLetterEntry, body: bytes, generation: int, topology: Topology, hub_user: str) -> Outgoing:
    try:
        original = json.loads(e.headers or "{}")
    except ValueError:
        original = {}
    headers = {k: v for k, v in original.items() if not k.startswith(_HUB_HEADERS)}
    headers.update({"x-original-sender": e.sender, REQUEUE_HEADER: generation})
    return Outgoing(topology.inbound, e.routing_key or e.message_id, body,
                    {"message_id": e.message_id, "type": e.kind, "content_type": e.content_type,
                     "user_id": hub_user}, headers)


def _detail(o: Outgoing) -> str:
    return orjson.dumps({"x": o.exchange, "rk": o.routing_key, "p": dict(o.properties),
                         "h": dict(o.headers)}).decode()
