"""Acceptance 9: a store from the previous schema version opens, upgrades and verifies, on SQLite and
PostgreSQL; a fresh store starts at the latest version; a store newer than the code is refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from hub.auditor.checkpoints import check_stored
from hub.cli.main import main
from hub.store import meta, migrations
from hub.store.audit import AuditLog, AuditRecord, key_fingerprint
from hub.store.db import Database
from hub.store.deadletters import DeadLetterStore
from hub.store.errors import SchemaTooNew, WrongKey
from hub.store.idempotency import ProcessedIds
from hub.store.integrity import verify_store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
KEY = (FIXTURE / "hub.key").read_text().strip().encode()

# the DDL of schema version 1, as the release before schema versions created it (commit 5ac62a7)
V1_DDL = """
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY, ts TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, actor TEXT NOT NULL,
    actor_role TEXT NOT NULL DEFAULT '', on_behalf_of TEXT NOT NULL DEFAULT '', recipient TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '', message_id TEXT NOT NULL DEFAULT '', correlation_id TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '', record_type TEXT NOT NULL DEFAULT '', record_id TEXT NOT NULL DEFAULT '',
    mapping TEXT NOT NULL DEFAULT '', mapping_version TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
    payload_sha256 TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', trace_id TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '', prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX audit_message ON audit (message_id);
CREATE INDEX audit_client ON audit (client);
CREATE TABLE payloads (
    sha256 TEXT PRIMARY KEY, content_type TEXT NOT NULL, body BYTEA, stored_at TEXT NOT NULL, pruned_at TEXT
);
CREATE TABLE processed (
    message_id TEXT PRIMARY KEY, sender TEXT NOT NULL, outcome TEXT NOT NULL, ts TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE dead_letters (
    message_id TEXT NOT NULL, seq BIGINT NOT NULL, ts TEXT NOT NULL, sender TEXT NOT NULL, kind TEXT NOT NULL,
    content_type TEXT NOT NULL, routing_key TEXT NOT NULL, error_class TEXT NOT NULL, rule TEXT NOT NULL,
    reason TEXT NOT NULL, payload_sha256 TEXT NOT NULL, requeued_at TEXT, PRIMARY KEY (message_id, seq)
)
"""
V1_TABLES = ("audit", "payloads", "processed", "dead_letters")


def _v1_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home)
    home.chmod(0o700)
    for f in home.iterdir():
        f.chmod(0o600)
    return home


def _v1_postgres(pg_url: str) -> None:
    """The fixture's rows, in a fresh PostgreSQL schema made with the version-1 DDL."""
    import psycopg

    base, schema = pg_url.split("?schema=")
    src = sqlite3.connect(FIXTURE / "hub.sqlite3")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for statement in V1_DDL.split(";"):
            conn.execute(statement)
        for table in V1_TABLES:
            cur = src.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            with conn.cursor() as pg:
                pg.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('%s' for _ in cols)})",
                               cur.fetchall())
    src.close()


def _check_upgraded(url: str) -> None:
    db = Database(url)
    try:
        assert migrations.version(db) == migrations.LATEST
        assert meta.get_int(db, meta.AUDIT_HIGH_SEQ) == 11
        assert meta.get_int(db, meta.AUDIT_CHECKPOINT_SEQ) == 10
        log = AuditLog(db, KEY)
        assert meta.get(db, meta.KEY_FINGERPRINT) == key_fingerprint(KEY)
        assert log.count() == 11 and check_stored(log, KEY).ok
        assert ProcessedIds(db).states([("ciz", "v1-msg-0"), ("ciz", "v1-bad-0"), ("ciz", "nope"),
                                         ("cak", "v1-msg-0")]) == {("ciz", "v1-msg-0"): True,
                                                                   ("ciz", "v1-bad-0"): False}
        # version 4: keyed by (sender, message id), so another party's equal id is a message of its own
        ProcessedIds(db).mark_in_tx([("v1-msg-0", "cak", "delivered", "2026-01-01T00:00:00Z")])
        assert ProcessedIds(db).states([("ciz", "v1-msg-0"), ("cak", "v1-msg-0")]) == {("ciz", "v1-msg-0"): True,
                                                                                   ("cak", "v1-msg-0"): False}
        assert int(db.execute("SELECT COUNT(*) FROM processed")[0][0]) == 5
        assert [e.message_id for e in DeadLetterStore(db).list()] == ["v1-bad-0"]
        assert {"headers", "requeue_gen", "requeued_by", "requeue_reason"} <= migrations.columns(db, "dead_letters")
        if not db.is_postgres:  # version 7: the audit table keyed by its rowid, its indexes made again
            (key,) = [r for r in db.execute("PRAGMA table_info(audit)") if r[1] == "seq"]
            assert (str(key[2]), int(key[5])) == ("INTEGER", 1)
            names = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                                   "tbl_name = 'audit'")}
            assert {"audit_message", "audit_client"} <= names
        log.append([AuditRecord(action="received", actor="ciz", payload=b"after the upgrade")])
    finally:
        db.close()
    result = verify_store(url, KEY)
    assert result.ok and result.checked == 12 and result.payloads == 5, result


def test_v1_sqlite_store_opens_upgrades_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    home = _v1_home(tmp_path)
    probe = sqlite3.connect(home / "hub.sqlite3")
    assert "meta" not in {r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    probe.close()
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)
    monkeypatch.setenv("ZORGHUB_HOME", str(home))
    assert main(["audit", "verify"]) == 0
    assert "ok: 11 records verified" in capsys.readouterr().out
    _check_upgraded(f"sqlite:///{home / 'hub.sqlite3'}")


def test_v1_postgres_store_opens_upgrades_and_verifies(pg_url: str) -> None:
    _v1_postgres(pg_url)
    db = Database.open_existing(pg_url)  # a version-1 store is a store: it opens, and is upgraded on opening
    db.close()
    _check_upgraded(pg_url)


def test_v1_store_refuses_another_key(tmp_path: Path) -> None:
    """The old store has no fingerprint: the first key is taken only if the oldest record verifies with it."""
    url = f"sqlite:///{_v1_home(tmp_path) / 'hub.sqlite3'}"
    db = Database(url)
    try:
        with pytest.raises(WrongKey, match="wrong hub key"):
            AuditLog(db, b"not the key of this store")
        assert meta.get(db, meta.KEY_FINGERPRINT) is None
    finally:
        db.close()


def test_openers_at_once_upgrade_it_once(store_url: str, tmp_path: Path) -> None:
    """Workers starting together on an old store: each waits for the one upgrading it, none fails."""
    from concurrent.futures import ThreadPoolExecutor

    if store_url.startswith("sqlite"):
        shutil.copy(FIXTURE / "hub.sqlite3", tmp_path / "store.sqlite3")
    else:
        _v1_postgres(store_url)

    def open_it(_: int) -> int:
        db = Database(store_url)
        try:
            return migrations.version(db)
        finally:
            db.close()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_it, range(4))) == [migrations.LATEST] * 4
    db = Database(store_url)
    try:
        assert meta.get_int(db, meta.AUDIT_HIGH_SEQ) == 11
        assert [int(r[0]) for r in db.execute("SELECT COUNT(*) FROM meta WHERE name = ?",
                                               (meta.SCHEMA_VERSION,))] == [1]
    finally:
        db.close()


def test_fresh_store_starts_at_the_latest_version(store_url: str) -> None:
    db = Database(store_url)
    try:
        assert migrations.version(db) == migrations.LATEST
        assert meta.get_int(db, meta.AUDIT_HIGH_SEQ) == 0
        AuditLog(db, KEY).append([AuditRecord(action="received", actor="ciz") for _ in range(3)])
        assert meta.get_int(db, meta.AUDIT_HIGH_SEQ) == 3
    finally:
        db.close()


def test_a_newer_store_is_refused(store_url: str) -> None:
    db = Database(store_url)
    meta.put(db, meta.SCHEMA_VERSION, str(migrations.LATEST + 1))
    db.close()
    with pytest.raises(SchemaTooNew, match=f"schema version {migrations.LATEST + 1}"):
        Database(store_url)


def _layout(path: Path) -> dict[str, str]:
    """Each table's CREATE statement in an SQLite file."""
    conn = sqlite3.connect(path)
    try:
        return {str(n): str(s) for n, s in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_v6_sqlite_store_gets_one_btree_a_row_and_keeps_every_row(tmp_path: Path) -> None:
    """Version 7: the audit table keyed by its rowid; processed, data keys and outbox without one; nothing lost."""
    from hub.settings import Settings
    from hub.testing import TestHub

    s = Settings.load(environ={"ZORGHUB_HOME": str(tmp_path / "home")})
    with TestHub(s, out=lambda _: None) as hub:
        for n in range(3):
            hub.send("ciz", "echo", {"to": "cak", "text": f"ping {n}"}, client_key="c1")
        # a version-6 store's worker marked each message in ``processed``; this one's log is its mark
        with hub.app.db.transaction():
            marks = [(f"v6-msg-{n}", "ciz", "delivered", "2026-01-01T00:00:00Z") for n in range(3)]
            hub.app.processed.mark_in_tx(marks, published=True)
        path = Path(hub.app.db._path)
    counts = {t: int(r[0][0]) for t in ("audit", *migrations.V7_WITHOUT_ROWID)
              if (r := sqlite3.connect(path).execute(f"SELECT COUNT(*) FROM {t}").fetchall())}
    assert all(counts.values()), counts
    # back to the version-6 layout: a BIGINT audit key, rowid tables with their keys beside them
    conn = sqlite3.connect(path, isolation_level=None)
    for table, sql in _layout(path).items():
        old = sql.replace("seq INTEGER PRIMARY KEY", "seq BIGINT PRIMARY KEY").replace(" WITHOUT ROWID", "")
        if old != sql:
            indexes = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                                                  "tbl_name = ? AND sql IS NOT NULL", (table,))]
            conn.execute(old.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_v6", 1))
            conn.execute(f"INSERT INTO {table}_v6 SELECT * FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_v6 RENAME TO {table}")
            for index in indexes:
                conn.execute(index)
    conn.execute("UPDATE meta SET value = '6' WHERE name = ?", (meta.SCHEMA_VERSION,))
    conn.close()
    assert "seq BIGINT PRIMARY KEY" in _layout(path)["audit"]

    db = Database(f"sqlite:///{path}")
    try:
        assert migrations.version(db) == migrations.LATEST
        layout = _layout(path)
        assert "seq INTEGER PRIMARY KEY" in layout["audit"]
        assert all(layout[t].rstrip().endswith("WITHOUT ROWID") for t in migrations.V7_WITHOUT_ROWID), layout
        assert {t: int(db.execute(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in counts} == counts
        assert "outbox_unsent" in {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()
    with TestHub(s, out=lambda _: None) as hub:  # the upgraded store carries on: the chain and its bodies check
        hub.send("ciz", "echo", {"to": "cak", "text": "after"}, client_key="c1")
        assert hub.app.audit.verify().ok
    assert verify_store(f"sqlite:///{path}", s.key_bytes(), kek_source=s.kek_source).ok
