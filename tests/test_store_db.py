"""The database layer: what runs after a commit, and SQLite's background WAL checkpoint a worker runs."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from hub.store.db import WORKER_CACHE_KIB, Database


def test_a_worker_database_checkpoints_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}", background_checkpoint=True)
    checkpointer = db._checkpointer
    assert checkpointer is not None and checkpointer.is_alive()
    # commits never copy the log themselves ...
    assert db.execute("PRAGMA wal_autocheckpoint") == [(0,)]
    assert db.execute("PRAGMA cache_size") == [(-WORKER_CACHE_KIB,)]  # and the worker's indexes stay cached
    db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB)")
    before = path.stat().st_size
    with db.transaction():
        db.executemany("INSERT INTO t (n, body) VALUES (?, ?)", [(n, b"x" * 1024) for n in range(4000)])
    # ... the thread does: the rows reach the database file without another write from us
    deadline = time.monotonic() + 10
    while path.stat().st_size < before + 4000 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= before + 4000 * 1024
    db.close()
    assert not checkpointer.is_alive()
    reopened = Database(f"sqlite:///{path}")
    try:
        assert reopened.execute("SELECT COUNT(*) FROM t") == [(4000,)]
    finally:
        reopened.close()


def test_under_steady_writes_the_wal_starts_over(tmp_path: Path) -> None:
    """Writes that never pause for a whole checkpoint: the WAL is started over all the same, so it stays
    near the length at which the checkpointer restarts it (4,096 frames of 4 KiB), instead of growing
    by every commit (these writes made a WAL of about 140 MB when it never started over)."""
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}", background_checkpoint=True)
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, body BLOB)")
    rows, written = 25_000, 0
    deadline = time.monotonic() + 30
    try:
        while written < rows and time.monotonic() < deadline:
            with db.transaction():
                db.executemany("INSERT INTO t (k, body) VALUES (?, ?)",
                               [(os.urandom(16).hex(), os.urandom(600)) for _ in range(20)])
            written += 20
            time.sleep(0.002)
        assert written >= rows, f"only {written} rows written in 30 s"
        wal = Path(f"{path}-wal").stat().st_size
        assert wal < 4 * 4096 * 4096, f"the WAL grew to {wal / 2**20:.0f} MB"
    finally:
        db.close()


def test_the_checkpointer_waits_longer_under_heavy_writes_and_not_under_light_ones(tmp_path: Path) -> None:
    """Many frames written since the last pass (a heavy load) put the next pass off to ``busy_interval``;
    a few keep the short interval, so a light load's messages still meet only short passes, also while
    the log is long because it could not start over (a reader held an old snapshot)."""
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}", background_checkpoint=True)
    checkpointer = db._checkpointer
    assert checkpointer is not None
    busy = checkpointer._busy_frames
    assert (checkpointer.next_wait(0), checkpointer.next_wait(busy)) == (0.2, 1.0)
    # the thread's own passes off for the test (after the one it waits for now): ours alone count the log
    checkpointer._interval = checkpointer._busy_interval = 3600.0
    time.sleep(0.5)
    reader = sqlite3.connect(path)
    try:
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, body BLOB)")
        checkpointer.checkpoint()
        with db.transaction():
            db.execute("INSERT INTO t (k, body) VALUES (?, ?)", ("one", b"x"))
        light = checkpointer.checkpoint()
        assert 0 < light < busy
        assert checkpointer.checkpoint() == 0  # nothing written since: idle
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM t").fetchall()  # a snapshot the passes must not copy past
        with db.transaction():  # about 3,000 pages: more than a heavy load's fifth of a second
            db.executemany("INSERT INTO t (k, body) VALUES (?, ?)",
                           [(os.urandom(16).hex(), os.urandom(3000)) for _ in range(3000)])
        heavy = checkpointer.checkpoint()
        assert heavy >= busy
        with db.transaction():
            db.execute("INSERT INTO t (k, body) VALUES (?, ?)", ("two", b"x"))
        long_log = db.execute("PRAGMA wal_checkpoint(PASSIVE)")[0][1]
        assert long_log >= busy  # the log did not start over ...
        assert 0 < checkpointer.checkpoint() < busy  # ... and the pass still counts the light write alone
    finally:
        reader.close()
        db.close()


def test_other_databases_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'tool.db'}")
    try:
        assert db._checkpointer is None
        assert db.execute("PRAGMA wal_autocheckpoint") == [(1000,)]
        assert db.execute("PRAGMA cache_size") == [(-2000,)]  # SQLite's own: a command's memory stays small
    finally:
        db.close()


def test_what_waits_for_a_commit_runs_after_it_and_never_after_a_rollback(store_url: str) -> None:
    db = Database(store_url)
    ran: list[str] = []
    try:
        db.after_commit(lambda: ran.append("outside"))  # no transaction open: at once
        assert ran == ["outside"]
        with db.transaction():
            db.after_commit(lambda: ran.append("committed"))
            with pytest.raises(RuntimeError), db.transaction():
                db.after_commit(lambda: ran.append("in a savepoint rolled back"))
                raise RuntimeError("the inner step fails")
            with db.transaction():
                db.after_commit(lambda: ran.append("in a savepoint kept"))
            assert ran == ["outside"]  # nothing before the commit
        assert ran == ["outside", "committed", "in a savepoint kept"]
        with pytest.raises(RuntimeError), db.transaction():
            db.after_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("the transaction fails")
        with db.transaction():
            pass
        assert ran == ["outside", "committed", "in a savepoint kept"]
    finally:
        db.close()
