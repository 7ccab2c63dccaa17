"""The store's side of recovery: a lost connection is one error type, and reopening it loses nothing committed."""

from __future__ import annotations

import sqlite3
import uuid

import psycopg
import pytest

from hub.store.db import Database, StoreUnavailable
from tests.conftest import PG_URL


def cut(db: Database) -> None:
    """Lose the connection as production does: the backend terminated (PostgreSQL), the handle closed (SQLite)."""
    if not db.is_postgres:
        db._conn.close()
        return
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                               (db.application_name,)).fetchall()
    assert killed == [(True,)]


def test_a_lost_connection_is_reopened_and_keeps_what_was_committed(store_url: str) -> None:
    db = Database(store_url, application_name=f"zorghub-test-{uuid.uuid4().hex[:8]}")
    try:
        db.execute("CREATE TABLE t (x INTEGER)")
        with db.transaction():
            db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(StoreUnavailable, match="the store connection was lost"):
            with db.transaction(lock="chain"):
                db.execute("INSERT INTO t VALUES (2)")
                cut(db)
                db.execute("INSERT INTO t VALUES (3)")
        assert db.lost
        with pytest.raises(StoreUnavailable):  # it stays lost until reopened: no silent new session
            db.execute("SELECT 1")
        db.reopen()
        assert not db.lost
        assert db.execute("SELECT x FROM t ORDER BY x") == [(1,)]  # same schema, only the committed row
        with db.transaction():
            db.execute("INSERT INTO t VALUES (4)")
        cut(db)  # outside a transaction too
        with pytest.raises(StoreUnavailable):
            db.execute("SELECT x FROM t")
        db.reopen()
        assert db.execute("SELECT x FROM t ORDER BY x") == [(1,), (4,)]
    finally:
        db.close()


def test_an_sql_error_is_not_taken_for_a_lost_connection(store_url: str) -> None:
    db = Database(store_url)
    try:
        with pytest.raises((sqlite3.OperationalError, psycopg.Error)) as caught:
            db.execute("SELECT no_such_column FROM no_such_table")
        assert not isinstance(caught.value, StoreUnavailable)
        assert not db.lost
    finally:
        db.close()


def test_the_hub_names_its_postgres_connections(pg_url: str) -> None:
    name = f"zorghub-worker-1 pid {uuid.uuid4().int % 100000}"
    db = Database(pg_url, application_name=name)
    try:
        assert db.execute("SELECT current_setting('application_name')") == [(name,)]
    finally:
        db.close()
