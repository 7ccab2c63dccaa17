"""The transactional outbox: every message the hub sends, committed with the batch that caused it.

An entry is one message, known by its stream and its sequence number in that stream. A party's
inbox stream is ``<recipient>/<shard>`` (the inbound shard the worker consumed), numbered 1, 2, 3 ...
without gaps; the hub's own channels (retry, dead letters) count in streams named after their
exchange. The entry keeps where the message goes and how (``detail``: exchange, routing key,
properties, headers) and names its body by SHA-256 in the payload store, the same way an audit
record does: no body is kept here in clear. The relay publishes unsent entries and marks them sent
once the broker confirmed them; a resend request publishes sent ones again, byte for byte.

The last sequence number of each stream lives in ``outbox_streams``, written in the same
transaction as the entries, so a crash never reuses or skips a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hub.store import migrations
from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    shard INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (shard, stream, seq) WHERE sent = 0;
CREATE TABLE IF NOT EXISTS outbox_streams (
    stream TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
)
"""

_CHUNK = 500


@dataclass(frozen=True)
class Entry:
    """One outbox row: the message ``detail`` (JSON) and its body's digest in the payload store."""

    stream: str
    seq: int
    shard: int
    message_id: str
    detail: str
    payload_sha256: str


class OutboxStore:
    """The ``outbox`` and ``outbox_streams`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    # ----- writing (inside the batch's transaction) --------------------------------------------
    def last_seqs(self, streams: Iterable[str]) -> dict[str, int]:
        """The last sequence number written in each of ``streams`` (0 for a stream not begun)."""
        wanted = list(dict.fromkeys(streams))
        found = dict.fromkeys(wanted, 0)
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i:i + _CHUNK]
            rows = self.db.execute(f"SELECT stream, last_seq FROM outbox_streams WHERE stream IN "
                                   f"({', '.join('?' for _ in part)})", part)
            found.update((str(r[0]), int(r[1])) for r in rows)
        return found

    def add_in_tx(self, entries: Sequence[Entry]) -> None:
        """Write ``entries`` and raise each stream's last sequence number to its highest entry."""
        if not entries:
            return
        self.db.executemany(
            "INSERT INTO outbox (stream, seq, shard, message_id, detail, payload_sha256) VALUES (?, ?, ?, ?, ?, ?)",
            [(e.stream, e.seq, e.shard, e.message_id, e.detail, e.payload_sha256) for e in entries])
        last: dict[str, int] = {}
        for e in entries:
            last[e.stream] = max(e.seq, last.get(e.stream, 0))
        self.db.executemany(
            "INSERT INTO outbox_streams (stream, last_seq) VALUES (?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq "
            "WHERE excluded.last_seq > outbox_streams.last_seq", list(last.items()))

    def mark_sent_in_tx(self, done: Iterable[tuple[str, int]]) -> None:
        """Mark (stream, seq) pairs sent, as contiguous ranges per stream (few statements a batch)."""
        ranges = _ranges(done)
        if ranges:
            self.db.executemany("UPDATE outbox SET sent = 1 WHERE stream = ? AND seq >= ? AND seq <= ? AND sent = 0",
                                ranges)

    def mark_sent(self, done: Iterable[tuple[str, int]]) -> None:
        with self.db.transaction():
            self.mark_sent_in_tx(done)

    # ----- reading ----------------------------------------------------------------------------
    def unsent(self, shards: Sequence[int], limit: int = 10_000) -> list[Entry]:
        """The unsent entries of ``shards``, each stream in sequence order (where the relay resumes)."""
        if not shards:
            return []
        rows = self.db.execute(
            f"SELECT stream, seq, shard, message_id, detail, payload_sha256 FROM outbox WHERE sent = 0 AND shard IN "
            f"({', '.join('?' for _ in shards)}) ORDER BY shard, stream, seq LIMIT ?", [*shards, int(limit)])
        return [_entry(r) for r in rows]

    def stream_entries(self, stream: str, low: int, high: int | None = None, limit: int = 10_000) -> list[Entry]:
        """The entries of one stream with ``low <= seq <= high``, in sequence order."""
        rows = self.db.execute(
            "SELECT stream, seq, shard, message_id, detail, payload_sha256 FROM outbox WHERE stream = ? AND seq >= ? "
            "AND seq <= ? ORDER BY seq LIMIT ?", (stream, int(low), int(high if high is not None else 2 ** 62),
                                                  int(limit)))
        return [_entry(r) for r in rows]



def unsent_count(db: Database) -> int:
    """How many outbox entries wait for the broker's confirm (0 in a store no worker has opened yet)."""
    if "outbox" not in migrations.tables(db):
        return 0
    return int(db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 0")[0][0])


def _entry(row: Sequence[object]) -> Entry:
    return Entry(str(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]))  # type: ignore[call-overload]


def _ranges(done: Iterable[tuple[str, int]]) -> list[tuple[str, int, int]]:
    by_stream: dict[str, list[int]] = {}
    for stream, seq in done:
        by_stream.setdefault(stream, []).append(seq)
    out: list[tuple[str, int, int]] = []
    for stream, seqs in by_stream.items():
        seqs.sort()
        low = prev = seqs[0]
        for s in seqs[1:]:
            if s != prev + 1:
                out.append((stream, low, prev))
                low = s
            prev = s
        out.append((stream, low, prev))
    return out
