"""The store's facts about itself, outside the tables they describe.

``schema_version``, the hub key's fingerprint (a SHA-256 of the key, never the key), the highest
audit seq ever written and the seq of the last checkpoint record: someone who empties or cuts the
audit table leaves these behind, so ``audit verify`` can tell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.store.db import Database

DDL = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

SCHEMA_VERSION = "schema_version"
KEY_FINGERPRINT = "key_fingerprint"
AUDIT_HIGH_SEQ = "audit_high_seq"
AUDIT_CHECKPOINT_SEQ = "audit_checkpoint_seq"


def get(db: Database, name: str) -> str | None:
    rows = db.execute("SELECT value FROM meta WHERE name = ?", (name,))
    return str(rows[0][0]) if rows else None


def put(db: Database, name: str, value: str) -> None:
    db.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
               (name, value))


def raise_to(db: Database, name: str, value: int) -> None:
    """Set a counter to ``value`` unless it is already higher: it never goes back."""
    db.execute("UPDATE meta SET value = ? WHERE name = ? AND CAST(value AS BIGINT) < ?", (str(value), name, value))


def get_int(db: Database, name: str) -> int | None:
    value = get(db, name)
    return int(value) if value is not None else None
