"""Reading and pruning stored payloads (the bodies the audit chain signs by SHA-256)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.store.db import Database, Row


def stored(db: Database, digests: Sequence[str]) -> list[Row]:
    """(sha256, body or None, content_type, pruned_at) of the digests that are stored."""
    return db.execute(f"SELECT sha256, body, content_type, pruned_at FROM payloads WHERE sha256 IN "
                      f"({', '.join('?' for _ in digests)})", list(digests))


def state(db: Database, digest: str) -> Row | None:
    """(body or None, pruned_at) of one payload, None when it was never stored."""
    rows = db.execute("SELECT body, pruned_at FROM payloads WHERE sha256 = ?", (digest,))
    return rows[0] if rows else None


def prune_older(db: Database, cutoff: str, spared_actions: Sequence[str], pruned_at: str, *,
                dry_run: bool = False) -> tuple[int, int]:
    """Empty every body stored before ``cutoff`` that no record since then refers to (records with one of
    ``spared_actions`` do not count); (how many, their bytes). ``dry_run`` counts only."""
    keep = (f"SELECT payload_sha256 FROM audit WHERE ts >= ? AND payload_sha256 <> '' "
            f"AND action NOT IN ({', '.join('?' for _ in spared_actions)})")
    where = f"body IS NOT NULL AND stored_at < ? AND sha256 NOT IN ({keep})"
    params = [cutoff, cutoff, *spared_actions]
    with db.transaction():
        rows = db.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM payloads WHERE {where}", params)
        count, size = int(rows[0][0]), int(rows[0][1])
        if not dry_run and count:
            db.execute(f"UPDATE payloads SET body = NULL, pruned_at = ? WHERE {where}", [pruned_at, *params])
    return count, size
