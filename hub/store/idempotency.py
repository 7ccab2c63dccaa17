"""The idempotent consumer's memory: which message ids are done, and whether their output went out.

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

from hub.store.audit import AuditRecord
from hub.store.db import Database

#: set only by the hub's requeue, trusted only on a message published as the hub's own user
REQUEUE_HEADER = "x-requeue-generation"
REQUEUED_ACTION = "requeued"
_SEP = "#requeue-"


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

DDL = """
CREATE TABLE IF NOT EXISTS processed (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ts TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
)
"""


class ProcessedIds:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)
        columns = {str(r[0]) for r in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'processed' "
            "AND table_schema = current_schema()")} if db.is_postgres else \
            {str(r[1]) for r in db.execute("PRAGMA table_info(processed)")}
        if "published" not in columns:  # a store from before the published mark
            db.execute("ALTER TABLE processed ADD COLUMN published INTEGER NOT NULL DEFAULT 1")

    def states(self, message_ids: Iterable[str]) -> dict[str, bool]:
        """For each id already done: whether its output was confirmed by the broker."""
        ids = list(message_ids)
        found: dict[str, bool] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ", ".join("?" for _ in part)
            rows = self.db.execute(f"SELECT message_id, published FROM processed WHERE message_id IN ({marks})",
                                   part)
            found.update((str(r[0]), bool(r[1])) for r in rows)
        return found

    def seen(self, message_ids: Iterable[str]) -> set[str]:
        return set(self.states(message_ids))

    def mark_in_tx(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO processed (message_id, sender, outcome, ts) VALUES (?, ?, ?, ?)", list(rows)
        )

    def mark_published(self, message_ids: list[str]) -> None:
        """After the broker confirmed the output: a redelivery of these needs nothing sent again."""
        if not message_ids:
            return
        with self.db.transaction():
            for i in range(0, len(message_ids), 500):
                part = message_ids[i:i + 500]
                marks = ", ".join("?" for _ in part)
                self.db.execute(f"UPDATE processed SET published = 1 WHERE message_id IN ({marks})", part)


def unpublished_count(db: Database) -> int:
    """How many processed messages still wait for the broker to confirm their output."""
    return int(db.execute("SELECT COUNT(*) FROM processed WHERE published = 0")[0][0])


def outcome_counts(db: Database) -> dict[str, int]:
    """How many messages were processed, per outcome."""
    return {str(k): int(n) for k, n in db.execute("SELECT outcome, COUNT(*) FROM processed GROUP BY outcome")}
