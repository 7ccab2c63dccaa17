"""The idempotent consumer's memory: which messages are done, and whether their output went out.

A message is known by its sender and its message id (``Key``): a message id is unique only per
sender, so the same id from two parties is two messages, both processed. The sender is the
broker-validated ``user_id``, or the original sender named by the hub's own retry or requeue.

A message is marked done in the same transaction as its audit records, so a
crash can never leave it audited but not marked, or marked but not audited.
It is marked published once the broker confirmed every message it caused;
a redelivered message that is done but not published has its output rebuilt
from the message store and sent again.

A requeued dead letter keeps its message id but is a new piece of work: the
hub republishes it with a requeue generation (``REQUEUE_HEADER``), and it is
marked under its own key (``processing_key``). So it is processed again, while
a redelivery of that same requeue (after a crash, or a repeated requeue of an
entry whose confirm was lost) is still a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from hub.store.audit import AuditRecord
from hub.store.db import Database

#: set only by the hub's requeue, trusted only on a message published as the hub's own user
REQUEUE_HEADER = "x-requeue-generation"
REQUEUED_ACTION = "requeued"
_SEP = "#requeue-"
#: the hub's own actor name in audit records (``hub.pipeline.record.HUB_ACTOR``)
HUB_ACTOR = "zorghub"
#: the ``detail`` field naming the party whose message a message the hub sent answers
ORIGIN_FIELD = "o"

#: (sender, processing key): what the idempotent consumer remembers
Key = tuple[str, str]


def processing_key(message_id: str, generation: int = 0) -> str:
    """The idempotency key: the message id, with the requeue generation after it.

    Injective: an id that itself contains the separator is always suffixed, so no sender can pick an id
    that collides with another message's requeue.
    """
    if generation <= 0 and _SEP not in message_id:
        return message_id
    return f"{message_id}{_SEP}{max(generation, 0)}"


def split_key(key: str) -> tuple[str, int]:
    """The inverse of ``processing_key``: (message id, generation)."""
    if _SEP not in key:
        return key, 0
    message_id, _, generation = key.rpartition(_SEP)
    return message_id, int(generation) if generation.isdigit() else 0


def requeue_generation(properties: Mapping[str, Any], headers: Mapping[str, Any], hub_user: str) -> int:
    """The requeue generation a message carries, believed only when the hub itself published it."""
    if not hub_user or properties.get("user_id") != hub_user:
        return 0
    raw = headers.get(REQUEUE_HEADER)
    try:
        return max(int(raw), 0) if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def sender_records(records: Sequence[AuditRecord], sender: str) -> list[AuditRecord]:
    """The records one sender's message wrote, from all the records with its message id.

    The sender's own records have it as their actor; a message the hub sent about it names it as its
    origin in ``detail``; a requeue names it as ``x-original-sender``. A hub record with no origin was
    written before message ids were unique per sender only, when no other sender could share the id.
    Other actors (an auditor's replay, another party's decision) are not the message's output.
    """
    mine = []
    for rec in records:
        if rec.action.startswith("requeue"):  # the operator's: its detail names the sender
            if str(_detail(rec).get("h", {}).get("x-original-sender", "")) == sender:
                mine.append(rec)
        elif rec.actor == sender:
            mine.append(rec)
        elif rec.actor == HUB_ACTOR:
            origin = _detail(rec).get(ORIGIN_FIELD)
            if origin is None or origin == sender:
                mine.append(rec)
    return mine


def _detail(rec: AuditRecord) -> dict[str, Any]:
    try:
        found = rec.detail_json()
    except (ValueError, orjson.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def generation_records(records: Sequence[AuditRecord], generation: int) -> list[AuditRecord]:
    """The records one generation of a message wrote: after its requeue record, before the next one.

    Generation 0 is everything before the first requeue. Requeue records themselves are the operator's,
    not the message's output.
    """
    starts: dict[int, int] = {}
    for rec in records:
        if rec.action == REQUEUED_ACTION and rec.outcome == "success":
            gen = int(rec.detail_json().get("h", {}).get(REQUEUE_HEADER, 0) or 0)
            starts.setdefault(gen, rec.seq)
    low = 0 if generation == 0 else starts.get(generation)
    if low is None:
        return []
    later = [s for g, s in starts.items() if g > generation]
    high = min(later) if later else None
    return [r for r in records if not r.action.startswith("requeue") and r.seq > low and (high is None or r.seq < high)]

#: ``message_id`` holds the processing key (the message id, and its requeue generation)
DDL = """
CREATE TABLE IF NOT EXISTS processed (
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ts TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sender, message_id)
) WITHOUT ROWID
"""


class ProcessedIds:
    """The ``processed`` table, keyed by (sender, processing key)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def states(self, keys: Iterable[Key]) -> dict[Key, bool]:
        """For each message already done: whether its output was confirmed by the broker.

        One query per sender, ``sender = ? AND message_id IN (...)``: the primary key's index answers it
        whatever the table's size (an OR of (sender, id) pairs was a scan on SQLite).
        """
        by_sender: dict[str, list[str]] = {}
        for sender, message_id in dict.fromkeys(keys):
            by_sender.setdefault(sender, []).append(message_id)
        found: dict[Key, bool] = {}
        for sender, ids in by_sender.items():
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                marks = ", ".join("?" for _ in part)
                rows = self.db.execute(f"SELECT message_id, published FROM processed WHERE sender = ? "
                                       f"AND message_id IN ({marks})", [sender, *part])
                found.update(((sender, str(r[0])), bool(r[1])) for r in rows)
        return found

    def seen(self, keys: Iterable[Key]) -> set[Key]:
        return set(self.states(keys))

    def mark_in_tx(self, rows: Iterable[tuple[str, str, str, str]], *, published: bool = False) -> None:
        """Rows of (processing key, sender, outcome, ts). ``published``: the output is in the transactional
        outbox, whose relay sends it, so a redelivery never rebuilds it from the audit log."""
        self.db.executemany(
            "INSERT OR IGNORE INTO processed (message_id, sender, outcome, ts, published) VALUES (?, ?, ?, ?, ?)",
            [(*r, int(published)) for r in rows])

    def mark_published(self, keys: list[Key]) -> None:
        """After the broker confirmed the output: a redelivery of these needs nothing sent again."""
        if not keys:
            return
        by_sender: dict[str, list[str]] = {}
        for sender, message_id in keys:
            by_sender.setdefault(sender, []).append(message_id)
        with self.db.transaction():
            for sender, ids in by_sender.items():
                for i in range(0, len(ids), 500):
                    part = ids[i:i + 500]
                    marks = ", ".join("?" for _ in part)
                    self.db.execute(f"UPDATE processed SET published = 1 WHERE sender = ? AND message_id IN ({marks})",
                                    [sender, *part])

def unpublished_count(db: Database) -> int:
    """How many processed messages still wait for the broker to confirm their output."""
    return int(db.execute("SELECT COUNT(*) FROM processed WHERE published = 0")[0][0])


def outcome_counts(db: Database) -> dict[str, int]:
    """How many messages were processed, per outcome."""
    return {str(k): int(n) for k, n in db.execute("SELECT outcome, COUNT(*) FROM processed GROUP BY outcome")}
