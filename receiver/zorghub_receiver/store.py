"""The receiver's bookkeeping tables, in the vendor's own database and transaction.

Three tables (names carry a prefix, ``zorghub_`` by default):

- ``<prefix>received``: one row per applied message id, so a repeat is dropped even when it comes
  on another stream or without a sequence number;
- ``<prefix>streams``: the high-water mark per ``x-zorghub-stream``: every sequence number up to it
  has been applied (or dropped as a repeat);
- ``<prefix>pending``: messages that arrived above a gap, parked until the gap is filled, so they are
  acked (the broker's prefetch window never fills with them) and survive a restart;
- ``<prefix>counters``: totals such as the repeats dropped, written in the same transaction.

Only plain DB-API calls: a ``sqlite3`` connection or a PostgreSQL one (psycopg 3, psycopg2).
Nothing here commits: the receiver does, once per batch, after the vendor's callback.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from typing import Any

Row = Sequence[Any]


class Marks:
    """Reads and writes the bookkeeping rows through the vendor's connection."""

    def __init__(self, conn: Any, prefix: str = "zorghub_") -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
            raise ValueError(f"table prefix {prefix!r} must be a plain SQL identifier")
        if getattr(conn, "autocommit", False) is True:
            raise ValueError("the connection is in autocommit mode: the receiver needs transactions "
                             "(each batch is applied and committed as one)")
        self.conn = conn
        self.sqlite = isinstance(conn, sqlite3.Connection)
        module = sys.modules.get(type(conn).__module__.split(".")[0])
        style = "qmark" if self.sqlite else str(getattr(module, "paramstyle", "format"))
        self._placeholder = "?" if style == "qmark" else "%s"
        self.t = {name: f"{prefix}{name}" for name in ("received", "streams", "pending", "counters")}

    def _sql(self, statement: str) -> str:
        return statement if self._placeholder == "?" else statement.replace("?", self._placeholder)

    def _run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(self._sql(statement), tuple(params))
        return cur

    def begin(self) -> None:
        """An explicit BEGIN where the driver would not open a transaction by itself."""
        if self.sqlite and self.conn.isolation_level is None and not self.conn.in_transaction:
            self._run("BEGIN")

    def setup(self) -> None:
        """Create the tables if they are not there yet, and commit that."""
        blob = "BLOB" if self.sqlite else "BYTEA"
        t = self.t
        self.begin()
        for ddl in (
            f"CREATE TABLE IF NOT EXISTS {t['received']} (message_id TEXT PRIMARY KEY, stream TEXT, seq BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {t['streams']} (stream TEXT PRIMARY KEY, hwm BIGINT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t['pending']} (stream TEXT NOT NULL, seq BIGINT NOT NULL, "
            f"message_id TEXT NOT NULL, envelope TEXT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (stream, seq))",
            f"CREATE TABLE IF NOT EXISTS {t['counters']} (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        ):
            self._run(ddl)
        self.conn.commit()

    # ----- reads ---------------------------------------------------------------------------------
    def hwms(self) -> dict[str, int]:
        return {str(s): int(h) for s, h in self._run(f"SELECT stream, hwm FROM {self.t['streams']}").fetchall()}

    def pending_bounds(self) -> dict[str, int]:
        """The lowest parked sequence number per stream."""
        rows = self._run(f"SELECT stream, MIN(seq) FROM {self.t['pending']} GROUP BY stream").fetchall()
        return {str(s): int(m) for s, m in rows}

    def counters(self) -> dict[str, int]:
        return {str(n): int(v) for n, v in self._run(f"SELECT name, value FROM {self.t['counters']}").fetchall()}

    # ----- writes, inside the batch's transaction --------------------------------------------------
    def claim(self, message_id: str, stream: str | None, seq: int | None) -> bool:
        """Record ``message_id`` as applied; False if it was applied before (a repeat)."""
        cur = self._run(f"INSERT INTO {self.t['received']} (message_id, stream, seq) VALUES (?, ?, ?) "
                        "ON CONFLICT (message_id) DO NOTHING", (message_id, stream, seq))
        return bool(cur.rowcount == 1)

    def set_hwms(self, hwms: Iterable[tuple[str, int]]) -> None:
        for stream, hwm in hwms:
            self._run(f"INSERT INTO {self.t['streams']} (stream, hwm) VALUES (?, ?) "
                      "ON CONFLICT (stream) DO UPDATE SET hwm = excluded.hwm", (stream, hwm))

    def park(self, stream: str, seq: int, message_id: str, envelope: str, body: bytes) -> bool:
        """Keep a message from above a gap; False if that sequence number is parked already."""
        cur = self._run(f"INSERT INTO {self.t['pending']} (stream, seq, message_id, envelope, body) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream, seq) DO NOTHING",
                        (stream, seq, message_id, envelope, body))
        return bool(cur.rowcount == 1)

    def unpark(self, stream: str, seq: int) -> tuple[str, bytes] | None:
        """Take the parked message with this sequence number out of ``pending``, if there is one."""
        row = self._run(f"SELECT envelope, body FROM {self.t['pending']} WHERE stream = ? AND seq = ?",
                        (stream, seq)).fetchone()
        if row is None:
            return None
        self._run(f"DELETE FROM {self.t['pending']} WHERE stream = ? AND seq <= ?", (stream, seq))
        return str(row[0]), bytes(row[1])

    def add_counters(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            if value:
                self._run(f"INSERT INTO {self.t['counters']} (name, value) VALUES (?, ?) "
                          "ON CONFLICT (name) DO UPDATE SET value = "
                          f"{self.t['counters']}.value + excluded.value", (name, value))
