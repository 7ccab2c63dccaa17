"""The idempotent consumer's memory: which messages are done, and whether their output went out.

A message is known by its sender and its message id (``Key``): a message id is unique only per
sender, so the same id from two parties is two messages, both processed. The sender is the
broker-validated ``user_id``, or the original sender named by the hub's own retry or requeue.

A message is done once the audit log holds its sender's ``received`` record: every processed
message leaves one, delivered or refused, in the transaction that commits its other records and its
outbox entries, and the log never loses a record. So the log's message-id index answers for it, and
no table of marks beside it needs a row (and a page of a second random-key index) a message. The
``processed`` table stays for stores from before the outbox: a message marked there but not
``published`` has its output rebuilt from the message store and sent again on redelivery.

A requeued dead letter keeps its message id but is a new piece of work: the
hub republishes it with a requeue generation (``REQUEUE_HEADER``), and it is
known under its own key (``processing_key``). The operator's ``requeued`` record starts the generation
in the log, so it is processed again, while a redelivery of that same requeue (after a crash, or a
repeated requeue of an entry whose confirm was lost) is still a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
#: the record every processed message leaves, whatever became of it (``hub.pipeline.record.about``)
RECEIVED_ACTION = "received"
#: the actor of that record when the message had no sender
UNKNOWN_SENDER = "(unknown)"

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
    """Which messages are done: from the audit log, and from the ``processed`` marks of older stores."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def states(self, keys: Iterable[Key]) -> dict[Key, bool]:
        """For each message already done: whether its output was confirmed by the broker.

        A message with its ``received`` record in the log is done, and its output is in the outbox (True);
        a ``processed`` mark of an older store says so itself.
        """
        wanted = list(dict.fromkeys(keys))
        found = dict.fromkeys(self._recorded(wanted), True)
        found.update(self._marked(wanted))
        return found

    def _recorded(self, keys: Sequence[Key]) -> set[Key]:
        """The keys whose sender's ``received`` record is in the log, in the key's requeue generation.

        One query per 500 ids, ``message_id IN (...)``: the log's message-id index answers it, and a new
        message, the common case, finds no row at all.
        """
        by_id: dict[str, list[tuple[Key, int]]] = {}
        for key in keys:
            message_id, generation = split_key(key[1])
            by_id.setdefault(message_id, []).append((key, generation))
        logged: dict[str, list[AuditRecord]] = {}
        for part, marks in _parts(list(by_id)):
            for message_id, seq, actor, action, outcome, detail in self.db.execute(
                    f"SELECT message_id, seq, actor, action, outcome, detail FROM audit WHERE message_id IN ({marks})",
                    part):
                if action == RECEIVED_ACTION or action == REQUEUED_ACTION:
                    logged.setdefault(str(message_id), []).append(AuditRecord(
                        action=str(action), actor=str(actor), outcome=str(outcome), message_id=str(message_id),
                        detail=str(detail), seq=int(seq)))
        done: set[Key] = set()
        for message_id, records in logged.items():
            for key, generation in by_id[message_id]:
                actor = key[0] or UNKNOWN_SENDER
                mine = generation_records(sender_records(records, key[0]), generation) if key[0] else records
                if any(r.action == RECEIVED_ACTION and r.actor == actor for r in mine):
                    done.add(key)
        return done

    def _marked(self, keys: Sequence[Key]) -> dict[Key, bool]:
        """The ``processed`` marks of these keys, with their published flag.

        One query per sender, ``sender = ? AND message_id IN (...)``: the primary key's index answers it
        whatever the table's size (an OR of (sender, id) pairs was a scan on SQLite).
        """
        found: dict[Key, bool] = {}
        for sender, ids in _by_sender(keys).items():
            for part, marks in _parts(ids):
                rows = self.db.execute(f"SELECT message_id, published FROM processed WHERE sender = ? "
                                       f"AND message_id IN ({marks})", [sender, *part])
                found.update(((sender, str(r[0])), bool(r[1])) for r in rows)
        return found

    def seen(self, keys: Iterable[Key]) -> set[Key]:
        return set(self.states(keys))

    def mark_in_tx(self, rows: Iterable[tuple[str, str, str, str]], *, published: bool = False) -> None:
        """Rows of (processing key, sender, outcome, ts), as stores from before the outbox were marked (the
        worker marks nothing now: the log's ``received`` record is its mark). ``published``: nothing is to
        be rebuilt from the audit log on redelivery."""
        self.db.executemany(
            "INSERT OR IGNORE INTO processed (message_id, sender, outcome, ts, published) VALUES (?, ?, ?, ?, ?)",
            [(*r, int(published)) for r in rows])

    def mark_published(self, keys: list[Key]) -> None:
        """After the broker confirmed the output: a redelivery of these needs nothing sent again."""
        if not keys:
            return
        with self.db.transaction():
            for sender, ids in _by_sender(keys).items():
                for part, marks in _parts(ids):
                    self.db.execute(f"UPDATE processed SET published = 1 WHERE sender = ? AND message_id IN ({marks})",
                                    [sender, *part])


def _by_sender(keys: Iterable[Key]) -> dict[str, list[str]]:
    """The keys' message ids, per sender."""
    by_sender: dict[str, list[str]] = {}
    for sender, message_id in keys:
        by_sender.setdefault(sender, []).append(message_id)
    return by_sender


def _parts(ids: Sequence[str], size: int = 500) -> Iterator[tuple[Sequence[str], str]]:
    """``ids`` in parts of at most ``size``, each with its ``?, ?, ...`` for an ``IN (...)``."""
    for i in range(0, len(ids), size):
        part = ids[i:i + size]
        yield part, ", ".join("?" for _ in part)


def unpublished_count(db: Database) -> int:
    """How many processed messages still wait for the broker to confirm their output."""
    return int(db.execute("SELECT COUNT(*) FROM processed WHERE published = 0")[0][0])


def outcome_counts(db: Database) -> dict[str, int]:
    """How many messages were processed, delivered or refused, from their ``received`` records in the log."""
    rows = db.execute("SELECT outcome, COUNT(*) FROM audit WHERE action = ? GROUP BY outcome", [RECEIVED_ACTION])
    names = {"success": "delivered", "failure": "refused"}
    return {names.get(str(o), str(o)): int(c) for o, c in rows}
