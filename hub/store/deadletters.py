"""The dead letter channel's record: every parked message with its reason.

The broker's dead-letter queue holds the message itself; this table lets an
operator list and requeue them on any transport, including the embedded one
whose queues do not outlive the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS dead_letters (
    message_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts TEXT NOT NULL,
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    error_class TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    requeued_at TEXT,
    PRIMARY KEY (message_id, seq)
)
"""


@dataclass(frozen=True)
class DeadLetterEntry:
    message_id: str
    seq: int
    ts: str
    sender: str
    kind: str
    content_type: str
    routing_key: str
    error_class: str
    rule: str
    reason: str
    payload_sha256: str
    requeued_at: str | None = None


COLUMNS = tuple(DeadLetterEntry.__dataclass_fields__)


class DeadLetterStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def add_in_tx(self, entries: Iterable[DeadLetterEntry]) -> None:
        rows = [tuple(getattr(e, c) for c in COLUMNS) for e in entries]
        marks = ", ".join("?" for _ in COLUMNS)
        self.db.executemany(f"INSERT OR IGNORE INTO dead_letters ({', '.join(COLUMNS)}) VALUES ({marks})", rows)

    def list(self, include_requeued: bool = False) -> list[DeadLetterEntry]:
        rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM dead_letters{_where(include_requeued)} "
                               "ORDER BY seq")
        return [DeadLetterEntry(*r) for r in rows]

    def count(self, include_requeued: bool = False) -> int:
        """How many there are (open ones only, unless asked), without loading them."""
        return int(self.db.execute(f"SELECT COUNT(*) FROM dead_letters{_where(include_requeued)}")[0][0])

    def mark_requeued_in_tx(self, message_id: str, ts: str) -> None:
        self.db.execute("UPDATE dead_letters SET requeued_at = ? WHERE message_id = ? AND requeued_at IS NULL",
                        (ts, message_id))
        self.db.execute("DELETE FROM processed WHERE message_id = ?", (message_id,))


def _where(include_requeued: bool) -> str:
    """An open dead letter is one not requeued yet."""
    return "" if include_requeued else " WHERE requeued_at IS NULL"
