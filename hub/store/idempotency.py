"""The idempotent consumer's memory: which message ids are done, and whether their output went out.

A message is marked done in the same transaction as its audit records, so a
crash can never leave it audited but not marked, or marked but not audited.
It is marked published once the broker confirmed every message it caused;
a redelivered message that is done but not published has its output rebuilt
from the message store and sent again.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.store.db import Database

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
