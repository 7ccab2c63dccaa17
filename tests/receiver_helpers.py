"""A vendor's side of the receiver tests: its own database with an effects table, and a receiver thread."""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from zorghub_receiver import Message, Receiver

from tests.hubproc import wait_for


def open_db(url: str) -> Any:
    """A DB-API connection to ``url``: ``sqlite:///<file>`` or the ``pg_url`` fixture's ``...?schema=<s>``."""
    if url.startswith("sqlite:///"):
        return sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30, check_same_thread=False)
    import psycopg

    base, _, query = url.partition("?")
    schema = urllib.parse.parse_qs(query)["schema"][0]
    conn = psycopg.connect(base)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"SET search_path TO {schema}")
    conn.commit()
    return conn


def effects_table(conn: Any) -> None:
    """The vendor's own table: no unique key, so a message applied twice would show as two rows."""
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if isinstance(conn, sqlite3.Connection) else "BIGSERIAL PRIMARY KEY"
    conn.cursor().execute(f"CREATE TABLE IF NOT EXISTS effects (n {serial}, message_id TEXT NOT NULL, "
                          "kind TEXT NOT NULL, stream TEXT, seq BIGINT, origin TEXT)")
    conn.commit()


def record_effect(msg: Message, db: Any) -> None:
    """The vendor's callback: one row per message, in the receiver's transaction."""
    mark = "?" if isinstance(db, sqlite3.Connection) else "%s"
    db.cursor().execute(f"INSERT INTO effects (message_id, kind, stream, seq, origin) VALUES "
                        f"({mark}, {mark}, {mark}, {mark}, {mark})",
                        (msg.message_id, msg.kind, msg.stream, msg.seq, msg.headers.get("x-origin-message-id")))


def effects(conn: Any) -> list[tuple[str, str, str | None, int | None]]:
    """(message id, kind, stream, seq) of every effect, in the order applied."""
    return [(str(r[0]), str(r[1]), r[2], None if r[3] is None else int(r[3])) for r in effect_rows(conn)]


def effect_rows(conn: Any) -> list[tuple[Any, ...]]:
    """Every column of every effect (message id, kind, stream, seq, origin), in the order applied."""
    cur = conn.cursor()
    cur.execute("SELECT message_id, kind, stream, seq, origin FROM effects ORDER BY n")
    rows = [tuple(r) for r in cur.fetchall()]
    conn.commit()
    return rows


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    """``receiver.run()`` in a thread; stopped (and its error raised) when the block ends."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            receiver.run()
        except BaseException as exc:  # handed to the test below
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        thread.join(30)
    assert not thread.is_alive(), "the receiver did not stop"
    if failure:
        raise failure[0]


def until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    value = wait_for(check, timeout)
    assert value, f"timed out waiting for {what}"
    return value
