"""The ketenzorg flow's table: every accepted claim, with the key that finds a duplicate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS kz_claim (
    message_id TEXT PRIMARY KEY, claim_id TEXT NOT NULL, provider TEXT NOT NULL, client TEXT NOT NULL,
    programme TEXT NOT NULL, period TEXT NOT NULL, code TEXT NOT NULL, insurer TEXT NOT NULL,
    amount_cents BIGINT NOT NULL, received_at TEXT NOT NULL, dedup TEXT NOT NULL UNIQUE
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def claimed(db: Database, dedup: str, provider: str, claim_id: str) -> bool:
    """Whether a claim with this dedup key, or this provider's claim id, is stored already."""
    return bool(db.execute("SELECT 1 FROM kz_claim WHERE dedup = ? OR (provider = ? AND claim_id = ?)",
                           (dedup, provider, claim_id)))


def add_claim(db: Database, row: Sequence[Any]) -> None:
    """(message_id, claim_id, provider, client, programme, period, code, insurer, amount_cents, received_at,
    dedup)."""
    db.execute(
        "INSERT INTO kz_claim (message_id, claim_id, provider, client, programme, period, code, insurer, "
        "amount_cents, received_at, dedup) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def totals(db: Database, year: str | None = None) -> list[Row]:
    """(insurer, period, count, sum of amount_cents) per insurer and month, of one year when given."""
    where, params = ("WHERE period LIKE ?", (f"{year}%",)) if year else ("", ())
    return db.execute(f"SELECT insurer, period, COUNT(*), SUM(amount_cents) FROM kz_claim {where} "
                      "GROUP BY insurer, period ORDER BY period, insurer", params)
