"""Webhook (rest-hook) subscriptions and their numbered events: ``wh_subscription`` and ``wh_event``.

An event row is written inside the transaction that produces it (the batch that wrote the
register record and its notification), so it commits with the batch or not at all: the
transactional outbox. The dispatcher reads the rows and marks how far each subscription got;
nothing is deleted, so a subscriber can ask for any event again by its number.

Rows go in and come out as tuples in the column order of ``SUBSCRIPTION_COLUMNS`` and
``EVENT_COLUMNS``; the rules (statuses, backoff, FHIR shapes) live in ``hub.http.webhooks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS wh_subscription (
    id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    event_types TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    last_event BIGINT NOT NULL DEFAULT 0,
    delivered BIGINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS wh_subscription_party ON wh_subscription (party);
CREATE TABLE IF NOT EXISTS wh_event (
    subscription_id TEXT NOT NULL,
    event_number BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    focus TEXT NOT NULL,
    body BLOB NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event_number)
);
CREATE TABLE IF NOT EXISTS wh_dispatcher (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
)
"""

SUBSCRIPTION_COLUMNS = ("id", "party", "event_types", "endpoint", "headers", "status", "reason", "created",
                        "last_event", "delivered", "attempts", "next_try")
_SUB_COLS = ", ".join(SUBSCRIPTION_COLUMNS)
EVENT_COLUMNS = ("subscription_id", "event_number", "event_type", "focus", "body", "ts")
_EVENT_COLS = ", ".join(EVENT_COLUMNS)
#: the statuses under which events are still numbered and kept (``off`` ends a subscription)
COUNTING = ("requested", "active", "error")


class WebhookRows:
    """The two tables, on the hub's database (one connection: one thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    # ----- subscriptions ------------------------------------------------------------
    def add(self, row: Sequence[Any]) -> None:
        self.db.execute(f"INSERT INTO wh_subscription ({_SUB_COLS}) VALUES ({', '.join('?' for _ in row)})", row)

    def get(self, sub_id: str) -> Row | None:
        rows = self.db.execute(f"SELECT {_SUB_COLS} FROM wh_subscription WHERE id = ?", (sub_id,))
        return rows[0] if rows else None

    def of_party(self, party: str) -> list[Row]:
        return self.db.execute(f"SELECT {_SUB_COLS} FROM wh_subscription WHERE party = ? ORDER BY created, id",
                               (party,))

    def due(self, now: float) -> list[Row]:
        """Subscriptions with work at ``now``: a handshake to send, or events not yet delivered."""
        return self.db.execute(
            f"SELECT {_SUB_COLS} FROM wh_subscription WHERE next_try <= ? AND "
            "(status = 'requested' OR (status = 'active' AND delivered < last_event)) ORDER BY next_try, id",
            (now,))

    def set_state(self, sub_id: str, *, status: str, reason: str, attempts: int, next_try: float,
                  expect: str | None = None) -> bool:
        """Set the delivery state; with ``expect``, only while the status still is that (False: it changed)."""
        guard, params = (" AND status = ?", (expect,)) if expect is not None else ("", ())
        self.db.execute("UPDATE wh_subscription SET status = ?, reason = ?, attempts = ?, next_try = ? "
                        f"WHERE id = ?{guard}", (status, reason, attempts, next_try, sub_id, *params))
        row = self.db.execute("SELECT status, attempts FROM wh_subscription WHERE id = ?", (sub_id,))
        return bool(row) and str(row[0][0]) == status and int(row[0][1]) == attempts

    def delivered_upto(self, sub_id: str, number: int) -> None:
        """Events up to ``number`` reached the endpoint: the attempt count starts again."""
        self.db.execute("UPDATE wh_subscription SET delivered = ?, attempts = 0, next_try = 0, reason = '' "
                        "WHERE id = ? AND delivered < ?", (number, sub_id, number))

    # ----- the one dispatcher ---------------------------------------------------------
    def lease(self, owner: str, now: float, seconds: float) -> bool:
        """Hold (or renew) the dispatcher's lease until ``now + seconds``: True when ``owner`` has it.

        Runs in the caller's transaction, so two processes asking at once get one answer each.
        """
        self.db.execute("INSERT OR IGNORE INTO wh_dispatcher (id, owner, expires) VALUES (1, '', 0)")
        self.db.execute("UPDATE wh_dispatcher SET owner = ?, expires = ? WHERE id = 1 AND (owner = ? OR expires < ?)",
                        (owner, now + seconds, owner, now))
        return str(self.db.execute("SELECT owner FROM wh_dispatcher WHERE id = 1")[0][0]) == owner

    def release(self, owner: str) -> None:
        self.db.execute("UPDATE wh_dispatcher SET expires = 0 WHERE id = 1 AND owner = ?", (owner,))

    # ----- events -------------------------------------------------------------------
    def record(self, party: str, event_type: str, focus: str, body: bytes, ts: str) -> list[tuple[str, int]]:
        """Number and keep one event for every counting subscription of ``party`` that wants ``event_type``.

        Runs in the caller's transaction. Returns (subscription id, event number) per event written.
        """
        written: list[tuple[str, int]] = []
        rows = self.db.execute("SELECT id, event_types FROM wh_subscription WHERE party = ? AND status IN "
                               f"({', '.join('?' for _ in COUNTING)}) ORDER BY id", (party, *COUNTING))
        for sub_id, types in rows:
            wanted = orjson.loads(types)
            if wanted and event_type not in wanted:
                continue
            self.db.execute("UPDATE wh_subscription SET last_event = last_event + 1 WHERE id = ?", (sub_id,))
            number = int(self.db.execute("SELECT last_event FROM wh_subscription WHERE id = ?", (sub_id,))[0][0])
            self.db.execute(f"INSERT INTO wh_event ({_EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                            (sub_id, number, event_type, focus, body, ts))
            written.append((str(sub_id), number))
        return written

    def events(self, sub_id: str, since: int = 1, until: int | None = None, limit: int = 1000) -> list[Row]:
        """The subscription's events numbered ``since`` to ``until`` (inclusive), oldest first."""
        upper = " AND event_number <= ?" if until is not None else ""
        params: tuple[Any, ...] = (sub_id, since) + ((until,) if until is not None else ())
        return self.db.execute(f"SELECT {_EVENT_COLS} FROM wh_event WHERE subscription_id = ? AND event_number >= ?"
                               f"{upper} ORDER BY event_number LIMIT {int(limit)}", params)
