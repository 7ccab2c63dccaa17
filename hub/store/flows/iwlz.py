"""The iwlz flow's table: every iWlz message the hub wrote for a party, so that party's retour finds it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS iwlz_sent (
    recipient TEXT NOT NULL, identificatie TEXT NOT NULL, message_id TEXT NOT NULL, msg TEXT NOT NULL,
    subject TEXT NOT NULL, record_id TEXT NOT NULL, origin TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (recipient, identificatie)
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def add_sent(db: Database, row: Sequence[Any]) -> None:
    """(recipient, identificatie, message_id, msg, subject, record_id, origin, sent_at); a repeat is a no-op."""
    db.execute("INSERT INTO iwlz_sent (recipient, identificatie, message_id, msg, subject, record_id, origin, "
               "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", row)


def sent(db: Database, recipient: str, identificatie: str) -> Row | None:
    """(message_id, msg, subject, record_id, origin) of the message sent to ``recipient`` under ``identificatie``."""
    rows = db.execute("SELECT message_id, msg, subject, record_id, origin FROM iwlz_sent "
                      "WHERE recipient = ? AND identificatie = ?", (recipient, identificatie))
    return rows[0] if rows else None
