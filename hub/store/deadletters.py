"""The dead letter channel's record: every parked message with its reason, and its requeues.

The broker's dead-letter queue holds the message itself; this table lets an
operator list, show and requeue them on any transport, including the embedded
one whose queues do not outlive the process.

A requeue has two steps, so that it cannot lose a message. First the entry is
given a requeue generation (``requeue_gen``, with who and why) in the same
transaction as its audit record; it stays open. Only after the broker confirmed
the republished message is ``requeued_at`` set and the entry closed. A crash
or a failed publish in between leaves an open entry with a pending generation:
requeueing it again republishes the same generation, which the hub processes at
most once.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import DeadLetter
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
    headers TEXT NOT NULL DEFAULT '{}',
    requeue_gen INTEGER,
    requeued_by TEXT,
    requeue_reason TEXT,
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
    headers: str = "{}"  #: the original message's headers as JSON, carried on by a requeue
    requeue_gen: int | None = None  #: set when a requeue began; pending until ``requeued_at``
    requeued_by: str | None = None
    requeue_reason: str | None = None

    def has_rule(self, rule: str) -> bool:
        """``rule`` is this entry's rule, or one of them (a refusal naming several: ``CD051,CS127``)."""
        return rule == self.rule or rule in self.rule.split(",")

    @property
    def state(self) -> str:
        if self.requeued_at:
            return "requeued"
        return "requeue pending" if self.requeue_gen else "open"


COLUMNS = tuple(DeadLetterEntry.__dataclass_fields__)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM dead_letters"


class DeadLetterStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)  # an older store got the requeue columns from its migration (hub.store.migrations)

    def add_in_tx(self, entries: Iterable[DeadLetterEntry]) -> None:
        rows = [tuple(getattr(e, c) for c in COLUMNS) for e in entries]
        marks = ", ".join("?" for _ in COLUMNS)
        self.db.executemany(f"INSERT OR IGNORE INTO dead_letters ({', '.join(COLUMNS)}) VALUES ({marks})", rows)

    def list(self, include_requeued: bool = False) -> list[DeadLetterEntry]:
        rows = self.db.execute(f"{_SELECT}{_where(include_requeued)} ORDER BY seq")
        return [DeadLetterEntry(*r) for r in rows]

    def count(self, include_requeued: bool = False) -> int:
        """How many there are (open ones only, unless asked), without loading them."""
        return int(self.db.execute(f"SELECT COUNT(*) FROM dead_letters{_where(include_requeued)}")[0][0])

    def counts(self) -> builtins.list[tuple[str, str, int]]:
        """Open dead letters by (rule, sender), most first: the operator's dashboard."""
        rows = self.db.execute("SELECT rule, sender, COUNT(*) FROM dead_letters WHERE requeued_at IS NULL "
                               "GROUP BY rule, sender ORDER BY COUNT(*) DESC, rule, sender")
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def history(self, message_id: str) -> builtins.list[DeadLetterEntry]:
        """Every entry of one message, oldest first: it is dead-lettered again if a requeue fails again."""
        return [DeadLetterEntry(*r) for r in self.db.execute(f"{_SELECT} WHERE message_id = ? ORDER BY seq",
                                                             (message_id,))]

    def entry(self, message_id: str, seq: int) -> DeadLetterEntry | None:
        rows = self.db.execute(f"{_SELECT} WHERE message_id = ? AND seq = ?", (message_id, seq))
        return DeadLetterEntry(*rows[0]) if rows else None

    def resolve(self, prefix: str, *, include_requeued: bool = False) -> str:
        """The one message id that starts with ``prefix`` (an exact id always wins)."""
        if not prefix:
            raise DeadLetter("an empty message id matches every dead letter", rule="DLQ_UNKNOWN")
        where = "" if include_requeued else " AND requeued_at IS NULL"
        ids = sorted({str(r[0]) for r in self.db.execute(
            f"SELECT DISTINCT message_id FROM dead_letters WHERE substr(message_id, 1, ?) = ?{where}",
            (len(prefix), prefix))})
        if prefix in ids:
            return prefix
        if len(ids) == 1:
            return ids[0]
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise DeadLetter(f"{prefix!r} matches {len(ids)} dead letters ({shown}): give more of the id",
                             rule="DLQ_AMBIGUOUS")
        if not include_requeued and self.history_prefix(prefix):
            raise DeadLetter(f"the dead letter {prefix!r} was already requeued (zorghub dlq show {prefix})",
                             rule="DLQ_NOT_OPEN")
        raise DeadLetter(f"no dead letter with id {prefix!r}", rule="DLQ_UNKNOWN")

    def history_prefix(self, prefix: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM dead_letters WHERE substr(message_id, 1, ?) = ? LIMIT 1",
                                    (len(prefix), prefix)))

    # ----- requeue, in two steps ------------------------------------------------------
    def next_generation_in_tx(self, message_id: str) -> int:
        """One more than any generation this message was ever requeued under."""
        rows = self.db.execute("SELECT MAX(requeue_gen) FROM dead_letters WHERE message_id = ?", (message_id,))
        return int(rows[0][0] or 0) + 1

    def begin_requeue_in_tx(self, entry: DeadLetterEntry, generation: int, by: str, reason: str) -> None:
        """Step 1: the entry gets its generation and stays open until the republish is confirmed."""
        self.db.execute("UPDATE dead_letters SET requeue_gen = ?, requeued_by = ?, requeue_reason = ? "
                        "WHERE message_id = ? AND seq = ? AND requeued_at IS NULL",
                        (generation, by, reason, entry.message_id, entry.seq))

    def confirm_requeued_in_tx(self, entry: DeadLetterEntry, ts: str) -> None:
        """Step 2, after the broker confirmed the republished message: the entry is closed."""
        self.db.execute("UPDATE dead_letters SET requeued_at = ? WHERE message_id = ? AND seq = ? "
                        "AND requeued_at IS NULL", (ts, entry.message_id, entry.seq))


def _where(include_requeued: bool) -> str:
    """An open dead letter is one whose requeue was not confirmed yet."""
    return "" if include_requeued else " WHERE requeued_at IS NULL"
