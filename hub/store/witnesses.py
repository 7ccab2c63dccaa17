"""Which tree head the hub last published to each witness party (``hub.auditor.publish``).

Written in the transaction that puts the heads in the outbox, so the next head's consistency proof
starts where the witness's last one ended, whichever worker publishes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS witness_heads (
    party TEXT PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    ts TEXT NOT NULL
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def published(db: Database, parties: Iterable[str]) -> dict[str, int]:
    """The size of the head last published to each of ``parties`` (absent: none yet)."""
    wanted = set(parties)
    return {str(p): int(n) for p, n in db.execute("SELECT party, tree_size FROM witness_heads") if str(p) in wanted}


def mark_published_in_tx(db: Database, rows: Sequence[tuple[str, int, str]]) -> None:
    """(party, tree size, time) of the heads just put in the outbox."""
    db.executemany("INSERT INTO witness_heads (party, tree_size, ts) VALUES (?, ?, ?) ON CONFLICT (party) "
                   "DO UPDATE SET tree_size = excluded.tree_size, ts = excluded.ts", rows)
