"""Signed tree heads to the witnesses, through their inboxes, as outbox entries like any delivery.

Every ``audit_witness_every`` records, or ``audit_witness_seconds`` after the last head when the log
has grown since, a worker signs the tree head and writes one outbox entry per witness party
(``audit_witnesses``), in one transaction under the tree's lock: whichever worker gets there first
publishes, the others find nothing due. The worker's relay publishes the entries and marks them sent
after the broker's confirm, so a head survives a crash like any delivery (resumed on the next start).

What a witness gets is what a CT witness is handed (the C2SP tlog-witness protocol): the new head
together with a consistency proof from the head last published to that witness
(``zorghub-consistency-proof/1``); the very first head, and a head the hub cannot prove from the last
one (the log was cut or rewritten), go as a bare head (``zorghub-tree-head/1``), which the witness then
judges against what it keeps: a rollback or a fork is its alarm, not ours to hide. The message id
is the delivery id of (hub, ``tree-head:<size>``, witness), its stream ``<witness>/heads``, numbered
1, 2, 3 ... without gaps; the entries count in a shard of their own (``HEAD_SHARD``), which no inbound
shard uses. A head publication is no audit record (else each would grow the log and be due again).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from hub.auditor import treehead
from hub.auditor.witness import TREE_HEAD_KIND
from hub.errors import HubError
from hub.pipeline import outbox
from hub.pipeline.relay import EntryKey, rebuild
from hub.store import merkle, witnesses
from hub.store.audit import now_iso, sha256
from hub.store.outbox import Entry, OutboxStore
from hub.transports.base import Outgoing

log = logging.getLogger("zorghub.audit")

#: the outbox shard of the head streams: below every inbound shard, so no worker's resume takes them
HEAD_SHARD = -1


def stream_of(party: str) -> str:
    return f"{party}/heads"


def message(topology: Any, party: str, document: dict[str, Any]) -> Outgoing:
    """The head (or proof) to one witness's inbox, under its deterministic delivery id."""
    size = int(document["new"]["tree_size"] if "new" in document else document["tree_size"])
    return Outgoing(
        exchange=topology.outbound, routing_key=party,
        body=orjson.dumps(document),
        properties={"message_id": outbox.delivery_id(outbox.HUB_SENDER, f"tree-head:{size}", party,
                                                     f"{TREE_HEAD_KIND}|"),
                    "correlation_id": None, "type": TREE_HEAD_KIND, "content_type": "application/json"},
        headers={"x-sender": outbox.HUB_SENDER},
    )


def document_for(log_: Any, last: int, head: treehead.TreeHead) -> dict[str, Any]:
    """A consistency proof from the head last published (``last`` records) to ``head``; the bare head when
    there was none, or when it cannot be proved (the tree no longer holds what was published)."""
    if 0 < last < head.tree_size:
        try:
            return treehead.consistency_proof(log_, last, head.tree_size)
        except HubError as exc:
            log.error("tree head %d to the witnesses without a consistency proof from %d: %s", head.tree_size,
                      last, exc.reason)
    return head.to_dict()


class HeadPublisher:
    """A worker's ``Publisher``: the signed tree head to each witness party when one is due."""

    def __init__(self, app: Any, witnesses: tuple[str, ...], every: int, seconds: float) -> None:
        self.app = app
        self.witnesses = witnesses
        self.every = every
        self.seconds = seconds
        self._published = 0  # the log size last published (this process's view; the store decides)
        self._at = time.monotonic()
        self._resumed = False
        app.audit.keep_leaves()  # this process advances the tree: from the leaf hashes it made

    def _is_due(self, size: int) -> bool:
        if size <= self._published:
            return False
        grown = size - self._published
        return (self.every > 0 and grown >= self.every) or (
            self.seconds > 0 and time.monotonic() - self._at >= self.seconds)

    def due(self) -> list[tuple[EntryKey, Outgoing]]:
        """Write the heads that are due to the outbox (committed) and give them to the caller to publish."""
        try:
            return self._due()
        except HubError as exc:  # the batch is done and acked: try again after the next one
            log.warning("tree head to the witnesses postponed: %s", exc.reason)
            return []

    def _due(self) -> list[tuple[EntryKey, Outgoing]]:
        db = self.app.db
        audit = self.app.audit
        items: list[tuple[EntryKey, Outgoing]] = []
        if not self._resumed:  # what a crashed publisher committed and never saw confirmed
            witnesses.create(db)
            for e in OutboxStore(db).unsent([HEAD_SHARD]):
                o = rebuild(e, lambda digest: audit.payload(digest, verify=True))
                if o is not None:
                    items.append(((e.stream, e.seq), o))
            self._resumed = True
            self._published = min(self._published_sizes().values(), default=0)
        size = audit.head()[0]
        if not self._is_due(size):
            return items
        key = treehead.load_signing_key(self.app.settings.signing_key_path, create=True)
        head = treehead.sign_head(audit, key)
        store = OutboxStore(db)
        with db.transaction(lock=merkle.LOCK):
            published = self._published_sizes()
            entries: list[tuple[Entry, Outgoing]] = []
            streams = store.last_seqs(stream_of(p) for p in self.witnesses)
            for party in self.witnesses:
                last = published.get(party, 0)
                if last == head.tree_size:
                    continue
                stream = stream_of(party)
                streams[stream] += 1
                o = outbox.sequenced(message(self.app.topology, party, document_for(audit, last, head)), stream,
                                     streams[stream])
                entries.append((Entry(stream, streams[stream], HEAD_SHARD, str(o.properties["message_id"]),
                                      outbox.detail(o), sha256(o.body)), o))
            audit.store_payloads_in_tx([(o.body, "application/json") for _, o in entries])
            store.add_in_tx([e for e, _ in entries])
            witnesses.mark_published_in_tx(db, [(e.stream.rpartition("/")[0], head.tree_size, now_iso())
                                                for e, _ in entries])
        self._published = head.tree_size
        self._at = time.monotonic()
        if entries:
            log.info("tree head %d published to %s", head.tree_size, ", ".join(e.stream for e, _ in entries))
        return items + [((e.stream, e.seq), o) for e, o in entries]

    def _published_sizes(self) -> dict[str, int]:
        return witnesses.published(self.app.db, self.witnesses)


def install(app: Any) -> None:
    """Publish heads when witnesses are configured; each must be a party of the registry (it has an inbox)."""
    settings = app.settings
    if not settings.audit_witnesses:
        return
    for party in settings.audit_witnesses:
        app.parties.get(party)  # an unknown witness is a configuration error, at start
    app.publishers.append(HeadPublisher(app, tuple(settings.audit_witnesses), settings.audit_witness_every,
                                        float(settings.audit_witness_seconds)))
