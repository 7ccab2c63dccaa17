"""The network flow's tables: register record versions, subscriptions, notifications, terugmeldingen.

Rows go in and come out as tuples in the column order of each ``COLUMNS``; the
flow turns them into its records and keeps every rule (``hub/flows/network/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store import payloads
from hub.store.db import Database, Row

RECORD_DDL = """
CREATE TABLE IF NOT EXISTS nw_record (
    subject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    register TEXT NOT NULL,
    client TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_id TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    ts TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (subject, record_id, version)
);
CREATE INDEX IF NOT EXISTS nw_record_client ON nw_record (client);
CREATE INDEX IF NOT EXISTS nw_record_parent ON nw_record (parent_id)
"""

_RECORD_COLS = "subject, record_id, version, register, client, owner, status, parent_id, data, ts, message_id"
_CURRENT = ("version = (SELECT MAX(v.version) FROM nw_record v "
            "WHERE v.subject = nw_record.subject AND v.record_id = nw_record.record_id)")


class RecordVersions:
    """Every version of every register record (append-only): ``nw_record``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(RECORD_DDL)

    def latest(self, subject: str, record_id: str) -> Row | None:
        rows = self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE subject = ? AND "
                                          "record_id = ? ORDER BY version DESC LIMIT 1", (subject, record_id)))
        return rows[0] if rows else None

    def latest_by_id(self, record_id: str) -> Row | None:
        rows = self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE record_id = ? "
                                          "ORDER BY version DESC LIMIT 1", (record_id,)))
        return rows[0] if rows else None

    def versions(self, subject: str, record_id: str) -> list[Row]:
        return self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE subject = ? AND record_id = ? "
                               "ORDER BY version", (subject, record_id)))

    def current_of_client(self, client: str, subjects: Sequence[str] = ()) -> list[Row]:
        """Current versions of one client's records, of ``subjects`` only when given (filtered in SQL)."""
        only = f" AND subject IN ({', '.join('?' for _ in subjects)})" if subjects else ""
        return self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE client = ?{only} AND {_CURRENT} "
                               "ORDER BY ts, subject, record_id", (client, *subjects)))

    def current_of_subject(self, subject: str) -> list[Row]:
        return self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE subject = ? AND {_CURRENT} "
                               "ORDER BY ts, record_id", (subject,)))

    def current_children(self, parent_id: str) -> list[Row]:
        return self._open(self.db.execute(f"SELECT {_RECORD_COLS} FROM nw_record WHERE parent_id = ? AND {_CURRENT} "
                               "ORDER BY ts, record_id", (parent_id,)))

    def add(self, row: Sequence[Any]) -> None:
        """One new version, in the column order of ``nw_record`` (inside the caller's transaction)."""
        row = [*row[:8], payloads.seal_field(self.db, f"r:{row[4]}", row[8]), *row[9:]]  # data sealed at rest
        self.db.execute(f"INSERT INTO nw_record ({_RECORD_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def _open(self, rows: list[Row]) -> list[Row]:
        return payloads.open_rows(self.db, rows, 8)

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM nw_record")[0][0])


NOTIFY_DDL = """
CREATE TABLE IF NOT EXISTS nw_subscription (
    id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    event_types TEXT NOT NULL,
    filter TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS nw_subscription_party ON nw_subscription (party);
CREATE TABLE IF NOT EXISTS nw_notification (
    subscription_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    party TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (subscription_id, seq)
)
"""

_SUBSCRIPTION = "SELECT id, party, event_types, filter, status, created, last_seq FROM nw_subscription"


class Subscriptions:
    """Subscriptions with their last sequence number, and every notification sent under them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(NOTIFY_DDL)

    def add_if_absent(self, row: Sequence[Any]) -> None:
        """(id, party, event_types, filter, status, created, last_seq); an existing id is kept as it is."""
        row = [*row[:3], payloads.seal_field(self.db, f"s:{row[1]}", row[3]), *row[4:]]  # the filter names a client
        self.db.execute("INSERT OR IGNORE INTO nw_subscription (id, party, event_types, filter, status, created, "
                        "last_seq) VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def end(self, sub_id: str) -> None:
        self.db.execute("UPDATE nw_subscription SET status = 'beeindigd' WHERE id = ?", (sub_id,))

    def get(self, sub_id: str) -> Row | None:
        rows = payloads.open_rows(self.db, self.db.execute(_SUBSCRIPTION + " WHERE id = ?", (sub_id,)), 3)
        return rows[0] if rows else None

    def all(self, party: str | None = None) -> list[Row]:
        sql = _SUBSCRIPTION
        params: tuple[Any, ...] = ()
        if party:
            sql, params = sql + " WHERE party = ?", (party,)
        return payloads.open_rows(self.db, self.db.execute(sql + " ORDER BY created, id", params), 3)

    def next_seq(self, sub_id: str) -> int:
        """Count one more notification of the subscription and return its number (in the caller's transaction)."""
        self.db.execute("UPDATE nw_subscription SET last_seq = last_seq + 1 WHERE id = ?", (sub_id,))
        return int(self.db.execute("SELECT last_seq FROM nw_subscription WHERE id = ?", (sub_id,))[0][0])

    def add_notification(self, row: Sequence[Any]) -> None:
        """(subscription_id, seq, party, event_type, subject, record_id, message_id, body, ts)."""
        row = [*row[:7], payloads.seal_field(self.db, f"s:{row[2]}", row[7]), *row[8:]]  # the body holds BSNs
        self.db.execute("INSERT INTO nw_notification (subscription_id, seq, party, event_type, subject, record_id, "
                        "message_id, body, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def notifications_from(self, sub_id: str, from_seq: int) -> list[Row]:
        """(seq, event_type, message_id, body) of the subscription's notifications from ``from_seq`` on."""
        return payloads.open_rows(self.db, self.db.execute(
            "SELECT seq, event_type, message_id, body FROM nw_notification WHERE subscription_id = ? AND seq >= ? "
            "ORDER BY seq", (sub_id, from_seq)), 3)

    def notifications(self, party: str | None = None) -> list[Row]:
        """(subscription_id, seq, party, event_type, subject, record_id, ts), oldest first."""
        sql = "SELECT subscription_id, seq, party, event_type, subject, record_id, ts FROM nw_notification"
        params: tuple[Any, ...] = ()
        if party:
            sql, params = sql + " WHERE party = ?", (party,)
        return self.db.execute(sql + " ORDER BY ts, seq", params)


TERUGMELDING_DDL = """
CREATE TABLE IF NOT EXISTS nw_terugmelding (
    id TEXT PRIMARY KEY,
    reporter TEXT NOT NULL,
    owner TEXT NOT NULL,
    subject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    regelcode TEXT NOT NULL,
    toelichting TEXT NOT NULL,
    status TEXT NOT NULL,
    reden TEXT NOT NULL DEFAULT '',
    correctie_version INTEGER,
    ts TEXT NOT NULL,
    decided_ts TEXT NOT NULL DEFAULT ''
)
"""

_TERUGMELDING_COLS = ("id, reporter, owner, subject, record_id, version, regelcode, toelichting, status, reden, "
                      "correctie_version, ts, decided_ts")


class TerugmeldingRows:
    """Reports of a wrong register record and the owner's decision: ``nw_terugmelding``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(TERUGMELDING_DDL)

    def get(self, tid: str) -> Row | None:
        rows = self.db.execute(f"SELECT {_TERUGMELDING_COLS} FROM nw_terugmelding WHERE id = ?", (tid,))
        return rows[0] if rows else None

    def ids(self) -> list[str]:
        """Every id, oldest report first."""
        return [str(r[0]) for r in self.db.execute("SELECT id FROM nw_terugmelding ORDER BY ts")]

    def add(self, row: Sequence[Any]) -> None:
        self.db.execute(f"INSERT INTO nw_terugmelding ({_TERUGMELDING_COLS}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def decide(self, tid: str, status: str, reden: str, correctie_version: int | None, decided_ts: str) -> None:
        self.db.execute("UPDATE nw_terugmelding SET status = ?, reden = ?, correctie_version = ?, decided_ts = ? "
                        "WHERE id = ?", (status, reden, correctie_version, decided_ts, tid))
