"""The store's schema version and its forward migrations, one mechanism on SQLite and PostgreSQL.

The version is a row in ``meta`` (``schema_version``). Version 1 is the first release's store:
the ``audit``, ``payloads``, ``processed`` and ``dead_letters`` tables and no ``meta``, so a store
without ``meta`` that holds any of those tables is version 1. Each step in ``STEPS`` takes an
existing store from the version before it to its own, inside one transaction that also stamps the
new version, under a lock so that two processes opening an old store at once upgrade it once.

A fresh store is stamped with the latest version at once: its tables are made by each store
class's own DDL, which is always the current schema. So a change to a table's DDL needs a step
here too, for the stores that already exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.store import meta
from hub.store.errors import SchemaTooNew, SchemaUnknown

if TYPE_CHECKING:
    from hub.store.db import Database

LOCK = "zorghub.schema"
V1_TABLES = frozenset({"audit", "payloads", "processed", "dead_letters"})
CHECKPOINT_ACTION = "checkpoint"


@dataclass(frozen=True)
class Step:
    version: int
    why: str
    apply: Callable[[Database], None]


def _v2_meta(db: Database) -> None:
    """Version 2: the meta table, filled from what the version-1 log already holds."""
    db.execute(meta.DDL)
    names = tables(db)
    high = checkpoint = 0
    if "audit" in names:
        high = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit")[0][0])
        checkpoint = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit WHERE action = ?",
                                    (CHECKPOINT_ACTION,))[0][0])
    meta.put(db, meta.AUDIT_HIGH_SEQ, str(high))
    meta.put(db, meta.AUDIT_CHECKPOINT_SEQ, str(checkpoint))


def columns(db: Database, table: str) -> set[str]:
    if db.is_postgres:
        rows = db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                          "AND table_schema = current_schema()", (table,))
        return {str(r[0]) for r in rows}
    return {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}


#: the columns version 3 adds to version 1's dead_letters table
V3_DEAD_LETTER_COLUMNS = {
    "headers": "TEXT NOT NULL DEFAULT '{}'",
    "requeue_gen": "INTEGER",
    "requeued_by": "TEXT",
    "requeue_reason": "TEXT",
}


def _v3_requeue(db: Database) -> None:
    """Version 3: dead letters keep their original headers and their requeue generation, by whom and why."""
    if "dead_letters" not in tables(db):
        return  # made whole by its own DDL
    have = columns(db, "dead_letters")
    for name, ddl in V3_DEAD_LETTER_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE dead_letters ADD COLUMN {name} {ddl}")


#: the version-4 ``processed`` table (``hub.store.idempotency.DDL``, made here under its own name)
_V4_PROCESSED = """
CREATE TABLE processed_v4 (
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ts TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sender, message_id)
)
"""


def _v4_sender_key(db: Database) -> None:
    """Version 4: a message is done per (sender, message id), so another party's id never hides one.

    The rows keep their sender, which each always had (the original sender for the hub's own retry
    and requeue); only the key changes. A table is rekeyed by copying it, the one way that works on
    both SQLite and PostgreSQL; a store from before the published mark counts its marks as published.
    """
    if "processed" not in tables(db):
        return  # made whole by its own DDL
    published = "published" if "published" in columns(db, "processed") else "1"
    db.execute(_V4_PROCESSED)
    db.execute("INSERT INTO processed_v4 (sender, message_id, outcome, ts, published) "
               f"SELECT sender, message_id, outcome, ts, {published} FROM processed")
    db.execute("DROP TABLE processed")
    db.execute("ALTER TABLE processed_v4 RENAME TO processed")


def _v5_outbox(db: Database) -> None:
    """Version 5: the transactional outbox (``hub.store.outbox``): what the hub sends, committed with its batch.

    Its two tables are new, so their own DDL makes them whole when the outbox is first opened; a mark
    written before counts as published already (its output went out under the old protocol).
    """


def _v6_webhooks(db: Database) -> None:
    """Version 6: webhook subscriptions and their numbered events (``hub.store.webhooks``)."""
    from hub.store import webhooks

    db.script(webhooks.DDL)


#: the tables version 7 keeps without a rowid on SQLite: a composite or text key, small rows
V7_WITHOUT_ROWID = ("processed", "data_keys", "outbox")


def _v7_one_btree(db: Database) -> None:
    """Version 7, on SQLite: a row in one B-tree, not a row plus its key's index beside it.

    The audit table is keyed by its rowid (``seq INTEGER PRIMARY KEY``), and the tables keyed by text or
    by two columns (``V7_WITHOUT_ROWID``) are their key's B-tree alone (``WITHOUT ROWID``): each append
    wrote two B-trees where one holds it all. PostgreSQL's tables are as they were.
    """
    if db.is_postgres:
        return
    names = tables(db)
    if "audit" in names:
        _rebuild(db, "audit", lambda sql: re.subn(r"\bseq\s+BIGINT\s+PRIMARY\s+KEY\b", "seq INTEGER PRIMARY KEY",
                                                  sql, count=1, flags=re.IGNORECASE))
    for table in V7_WITHOUT_ROWID:
        if table in names:
            _rebuild(db, table, lambda sql: (sql, 0) if _WITHOUT_ROWID.search(sql) else (f"{sql} WITHOUT ROWID", 1))


_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)
_CREATE = re.compile(r"^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?[\"`]?(\w+)[\"`]?", re.IGNORECASE)


def _rebuild(db: Database, table: str, change: Callable[[str], tuple[str, int]]) -> None:
    """Make an SQLite table anew from its own ``CREATE`` as ``change`` rewrites it (unless it changes nothing):
    SQLite changes no table's key in place. The copy takes the old one's place; the indexes, dropped with
    the old table, are made again as they were."""
    (sql,) = [str(r[0]) for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                            (table,))]
    if _CREATE.match(sql) is None:
        raise SchemaUnknown(f"the store's {table} table was made in a way no zorghub release made: not upgraded")
    changed, count = change(sql)
    if not count:
        return  # made whole by its own DDL
    indexes = [str(r[0]) for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                             "AND sql IS NOT NULL", (table,))]
    db.execute(_CREATE.sub(f"CREATE TABLE {table}_v7", changed, count=1))
    shared = ", ".join(sorted(columns(db, table)))
    db.execute(f"INSERT INTO {table}_v7 ({shared}) SELECT {shared} FROM {table}")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_v7 RENAME TO {table}")
    for index in indexes:
        db.execute(index)


STEPS: tuple[Step, ...] = (
    Step(2, "meta: schema version, key fingerprint, highest audit seq written, last checkpoint", _v2_meta),
    Step(3, "dead letters: original headers, requeue generation, who requeued and why", _v3_requeue),
    Step(4, "processed: keyed by (sender, message id), not the message id alone", _v4_sender_key),
    Step(5, "outbox: every message the hub sends, per stream and sequence number, and each stream's last number",
         _v5_outbox),
    Step(6, "webhooks: rest-hook subscriptions and their numbered events", _v6_webhooks),
    Step(7, "on SQLite, a row in one B-tree: audit keyed by its rowid; processed, data keys, outbox without one",
         _v7_one_btree),
)
LATEST = STEPS[-1].version


def tables(db: Database) -> set[str]:
    if db.is_postgres:
        rows = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    else:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}


def drop_all(db: Database) -> None:
    """Empty the store: every table of its schema (the demo's ``--reset``); the next open starts afresh."""
    with db.transaction():
        for table in sorted(tables(db)):
            db.execute(f'DROP TABLE IF EXISTS "{table}"' + (" CASCADE" if db.is_postgres else ""))


def version(db: Database) -> int:
    """0: no hub store here at all; 1: the first release's; otherwise what ``meta`` says."""
    names = tables(db)
    if "meta" in names:
        found = meta.get_int(db, meta.SCHEMA_VERSION)
        if found is not None:
            return found
    return 1 if names & V1_TABLES else 0


def upgrade(db: Database) -> int:
    """Bring the store to ``LATEST``; returns the version it had. A fresh store is stamped directly."""
    before = version(db)
    if before == LATEST:
        return before
    if before > LATEST:
        raise SchemaTooNew(f"the store has schema version {before}, newer than this release knows ({LATEST}): "
                           "run a newer zorghub")
    with db.transaction(lock=LOCK):
        before = version(db)  # again, under the lock: another process may have upgraded it meanwhile
        if before == 0:
            db.execute(meta.DDL)
            for name in (meta.AUDIT_HIGH_SEQ, meta.AUDIT_CHECKPOINT_SEQ):
                meta.put(db, name, "0")
            meta.put(db, meta.SCHEMA_VERSION, str(LATEST))
            return before
        for step in STEPS:
            if step.version > before:
                step.apply(db)
                meta.put(db, meta.SCHEMA_VERSION, str(step.version))
    return before
