"""The idempotent consumer's memory: which message ids are done.

Marked in the same transaction as the audit records, so a crash can never
leave a message audited but not marked, or marked but not audited.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS processed (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ts TEXT NOT NULL
)
"""


class ProcessedIds:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def seen(self, message_ids: Iterable[str]) -> set[str]:
        ids = list(message_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ", ".join("?" for _ in part)
            rows = self.db.execute(f"SELECT message_id FROM processed WHERE message_id IN ({marks})", part)
            found.update(str(r[0]) for r in rows)
        return found

    def mark_in_tx(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO processed (message_id, sender, outcome, ts) VALUES (?, ?, ?, ?)", list(rows)
        )
