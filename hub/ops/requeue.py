"""Requeue dead letters: send the stored original through the hub again.

The hub publishes as itself and names the original sender in a header, which
the pipeline trusts only on the hub's own user. The idempotency mark is
removed in the same transaction, so the message is processed afresh.
"""

from __future__ import annotations

from hub.catalogue.topology import Topology
from hub.errors import DeadLetter
from hub.settings import Settings
from hub.store.audit import AuditLog, now_iso
from hub.store.db import Database
from hub.store.deadletters import DeadLetterStore
from hub.store.idempotency import ProcessedIds
from hub.transports import open_transport
from hub.transports.base import Outgoing


def requeue(settings: Settings, message_ids: list[str], *, all_entries: bool = False) -> int:
    db = Database(settings.effective_store_url)
    audit = AuditLog(db, settings.key_bytes())
    ProcessedIds(db)
    store = DeadLetterStore(db)
    entries = [e for e in store.list() if all_entries or e.message_id in message_ids]
    missing = set(message_ids) - {e.message_id for e in entries}
    if missing:
        raise DeadLetter(f"no open dead letter with id {sorted(missing)[0]!r}", rule="DLQ_UNKNOWN")
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    transport = open_transport(settings.broker_url)
    try:
        for e in entries:
            body = audit.payload(e.payload_sha256)
            if body is None:
                raise DeadLetter(f"the payload of {e.message_id} has been pruned", rule="PRUNED")
            with db.transaction(lock=audit.LOCK):
                store.mark_requeued_in_tx(e.message_id, now_iso())
                transport.publish([Outgoing(
                    topology.inbound, e.routing_key or e.message_id, body,
                    {"message_id": e.message_id, "type": e.kind, "content_type": e.content_type,
                     "user_id": transport.user},
                    {"x-original-sender": e.sender, "x-requeued": True})])
        return len(entries)
    finally:
        transport.close()
        db.close()
