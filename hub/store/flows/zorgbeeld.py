"""The Zorgbeeld flow's tables: the current capacity report per party, location and treatment, and its history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS zb_current (
    party TEXT NOT NULL, location TEXT NOT NULL, treatment TEXT NOT NULL,
    status TEXT NOT NULL, available TEXT NOT NULL, wait_weeks INTEGER NOT NULL,
    reported_at TEXT NOT NULL, confirmed_at TEXT NOT NULL, stale INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL,
    PRIMARY KEY (party, location, treatment)
);
CREATE TABLE IF NOT EXISTS zb_history (
    message_id TEXT PRIMARY KEY, party TEXT NOT NULL, location TEXT NOT NULL, treatment TEXT NOT NULL,
    status TEXT NOT NULL, available TEXT NOT NULL, wait_weeks INTEGER NOT NULL, reported_at TEXT NOT NULL
)
"""

_COLS = "party, location, treatment, status, available, wait_weeks, reported_at, confirmed_at, stale"


def create(db: Database) -> None:
    db.script(DDL)


def current_values(db: Database, party: str, location: str, treatment: str) -> list[Row]:
    """(status, available, wait_weeks) of the current report, or no row."""
    return db.execute("SELECT status, available, wait_weeks FROM zb_current WHERE party = ? AND location = ? "
                      "AND treatment = ?", (party, location, treatment))


def confirm_one(db: Database, party: str, location: str, treatment: str, stamp: str) -> None:
    db.execute("UPDATE zb_current SET confirmed_at = ?, stale = 0 WHERE party = ? AND location = ? "
               "AND treatment = ?", (stamp, party, location, treatment))


def add_report(db: Database, message_id: str, party: str, location: str, treatment: str,
               values: Sequence[Any], stamp: str) -> None:
    """A new report (``values``: status, available, wait_weeks): kept in the history and made the current one."""
    db.execute("INSERT OR IGNORE INTO zb_history (message_id, party, location, treatment, status, available, "
               "wait_weeks, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (message_id, party, location, treatment, *values, stamp))
    db.execute(
        "INSERT INTO zb_current (party, location, treatment, status, available, wait_weeks, reported_at, "
        "confirmed_at, stale, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
        "ON CONFLICT (party, location, treatment) DO UPDATE SET status = excluded.status, "
        "available = excluded.available, wait_weeks = excluded.wait_weeks, reported_at = excluded.reported_at, "
        "confirmed_at = excluded.confirmed_at, stale = 0, message_id = excluded.message_id",
        (party, location, treatment, *values, stamp, stamp, message_id))


def _which(party: str, location: str | None, treatment: str | None) -> tuple[str, list[Any]]:
    where = "party = ?"
    params: list[Any] = [party]
    if location is not None:
        where += " AND location = ? AND treatment = ?"
        params += [location, treatment]
    return where, params


def count_current(db: Database, party: str, location: str | None = None, treatment: str | None = None) -> int:
    """How many current reports the party has (at one location and treatment, when given)."""
    where, params = _which(party, location, treatment)
    return int(db.execute(f"SELECT COUNT(*) FROM zb_current WHERE {where}", params)[0][0])


def confirm(db: Database, stamp: str, party: str, location: str | None = None, treatment: str | None = None) -> None:
    """Confirm the party's current reports (at one location and treatment, when given)."""
    where, params = _which(party, location, treatment)
    db.execute(f"UPDATE zb_current SET confirmed_at = ?, stale = 0 WHERE {where}", [stamp, *params])


def current(db: Database) -> list[Row]:
    """Every current report: (party, location, treatment, status, available, wait_weeks, reported_at,
    confirmed_at, stale)."""
    return db.execute(f"SELECT {_COLS} FROM zb_current ORDER BY party, location, treatment")


def history(db: Database) -> list[Row]:
    """(party, location, treatment, status, available, wait_weeks, reported_at), oldest first."""
    return db.execute("SELECT party, location, treatment, status, available, wait_weeks, reported_at "
                      "FROM zb_history ORDER BY reported_at, message_id")


def mark_stale(db: Database, limit: str) -> int:
    """Flag the reports confirmed before ``limit`` as stale, the others as fresh; how many are stale."""
    with db.transaction():
        db.execute("UPDATE zb_current SET stale = 1 WHERE confirmed_at < ?", (limit,))
        db.execute("UPDATE zb_current SET stale = 0 WHERE confirmed_at >= ?", (limit,))
    return int(db.execute("SELECT COUNT(*) FROM zb_current WHERE stale = 1")[0][0])


def prune_history(db: Database, limit: str) -> int:
    """Drop history reported before ``limit`` that is no current report; how many were dropped."""
    with db.transaction():
        n = int(db.execute("SELECT COUNT(*) FROM zb_history WHERE reported_at < ? AND message_id NOT IN "
                           "(SELECT message_id FROM zb_current)", (limit,))[0][0])
        db.execute("DELETE FROM zb_history WHERE reported_at < ? AND message_id NOT IN "
                   "(SELECT message_id FROM zb_current)", (limit,))
    return n
