"""One thin database layer over SQLite (default) and PostgreSQL (by URL).

SQL is written once with ``?`` placeholders and portable types; this module
adapts it. ``sqlite:///path`` or ``postgresql://host/db?schema=name``; the
schema parameter gives each test (or tenant) its own namespace.

A lost connection (a terminated PostgreSQL backend, a server restart, a closed
SQLite handle) surfaces as ``StoreUnavailable``, never as a driver error, and
``Database.reopen`` replaces the connection in place: everything that holds the
Database (the audit log, the idempotency marks, the flows' registers) keeps
working without being rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlparse, urlunparse

from hub.errors import ConfigError, RetryLater
from hub.store import migrations, private
from hub.store.errors import StoreMissing

Row = tuple[Any, ...]


class StoreUnavailable(RetryLater):
    """The store's connection is gone: reopen it (``Database.reopen``) and retry what was not committed."""

    code = "STORE_UNAVAILABLE"


#: a worker's page cache (KiB; SQLite's default is 2,000): the random-key indexes (audit by message id,
#: the processed marks) outgrow 2 MB within minutes, and each page missed is a read through the WAL's
#: index; 32 MB left a fanout worker 10-20% less CPU a message in paired short runs
WORKER_CACHE_KIB = 32 * 1024

# SQLite's words for a handle that can no longer be used, whatever the statement
_SQLITE_LOST = ("closed database", "disk i/o error", "unable to open database file")


class Database:
    """A connection with a transaction helper. Not shared between threads.

    ``background_checkpoint`` (SQLite, for long-running writers such as a worker): copy the
    write-ahead log into the database from a thread of its own, instead of inside whichever commit
    crosses SQLite's threshold; that copy and its fsync were about a third of a worker's audit cost.
    Such a writer also keeps a larger page cache (``WORKER_CACHE_KIB``).

    SQLite writers of one store take turns through a lock file (``<store>-lock``, ``_WriterTurn``)
    before ``BEGIN IMMEDIATE``: a waiting writer is woken when the other commits, instead of SQLite's
    busy handler sleeping 1, 2, 5, 10 ... ms between tries, which held two workers back from doubling.

    ``create=False`` (``open_existing``) is the path of a command that only reads: a store that is not
    there is ``StoreMissing``, and no file, folder or schema is made. Either way the store is brought to
    the current schema version (``hub.store.migrations``) once it is open.
    """

    def __init__(self, url: str, *, background_checkpoint: bool = False, create: bool = True,
                 application_name: str = "zorghub") -> None:
        self.url = url
        self.is_postgres = url.startswith(("postgres://", "postgresql://"))
        #: shown in pg_stat_activity, so an operator can tell (and terminate) the hub's own backends
        self.application_name = application_name
        self._local_tx = threading.local()
        self._checkpointer: _Checkpointer | None = None
        self._background_checkpoint = background_checkpoint
        self._create = create
        if not self.is_postgres and not url.startswith("sqlite:///"):
            raise ConfigError(f"unsupported store URL {redact_url(url)!r}: use sqlite:/// or postgresql://")
        self._depth = 0
        self._committed: list[Callable[[], None]] = []  # run once the open transaction commits
        self._lost = False
        self._turn: _WriterTurn | None = None
        self._conn: Any = self._open()
        self._open_schema(create)
        if not self.is_postgres and self._path != ":memory:":
            private.check_store_files(Path(self._path))
            if background_checkpoint:
                self._checkpointer = _Checkpointer(self._path)

    @classmethod
    def open_existing(cls, url: str, **options: Any) -> Database:
        """The store a read-only command needs: ``StoreMissing`` (naming where it looked) if it is not there."""
        return cls(url, create=False, **options)

    def _open_schema(self, create: bool) -> None:
        try:
            if not create and migrations.version(self) == 0:
                raise StoreMissing(missing_store(self.url))
            migrations.upgrade(self)
        except BaseException:
            self.close()
            raise

    @property
    def _path(self) -> str:
        return self.url[len("sqlite:///"):]

    def _open(self) -> Any:
        """A new connection; only the first one of a store that may be created makes its file or schema."""
        create = self._create
        if self.is_postgres:
            return _connect_postgres(self.url, self.application_name, create=create)
        path = self._path
        target = path
        if path != ":memory:":
            sqlite_path = Path(path)
            if create:
                private.make_private_dir(sqlite_path.parent)
                private.create_private_file(sqlite_path)
            elif not sqlite_path.is_file():
                raise StoreMissing(missing_store(self.url))
            else:
                target = f"file:{quote(str(sqlite_path.absolute()))}?mode=rw"  # never creates the file
        self._conn = sqlite3.connect(target, isolation_level=None, timeout=30, check_same_thread=False,
                                     uri=target.startswith("file:"))
        if path != ":memory:" and self._turn is None:
            self._turn = _WriterTurn(Path(f"{path}-lock"), create=create)
        self._set_wal()
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if self._background_checkpoint and path != ":memory:":
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn.execute(f"PRAGMA cache_size=-{WORKER_CACHE_KIB}")
        return self._conn
    @property
    def lost(self) -> bool:
        """Whether the connection is known to be gone (a statement failed because of it)."""
        if self.is_postgres:
            return bool(self._conn.closed or self._conn.broken)
        return self._lost

    def reopen(self) -> None:
        """Replace a lost connection with a new one; raises ``RetryLater`` while the store stays out of reach.

        Whatever the old connection had not committed is gone: the caller retries its unit of work.
        """
        with contextlib.suppress(Exception):
            self._conn.close()
        self._depth = 0
        self._conn = self._open()
        self._lost = False

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a driver error that means "this connection is gone" into ``StoreUnavailable``."""
        try:
            yield
        except StoreUnavailable:
            raise
        except Exception as exc:
            if not self._is_connection_loss(exc):
                raise
            first_line = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            raise StoreUnavailable(f"the store connection was lost ({first_line[:200]})") from exc

    def _is_connection_loss(self, exc: Exception) -> bool:
        if self.is_postgres:
            import psycopg

            return isinstance(exc, psycopg.Error) and self.lost
        if isinstance(exc, sqlite3.ProgrammingError | sqlite3.OperationalError) and any(
                words in str(exc).lower() for words in _SQLITE_LOST):
            self._lost = True
            return True
        return False

    def _set_wal(self) -> None:
        """Switching to WAL takes an exclusive lock that skips the busy handler: retry it."""
        for attempt in range(100):
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise RetryLater(f"database busy: {exc}") from exc
                time.sleep(0.05)

    # ----- SQL -------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        if not self.is_postgres:
            return sql
        sql = sql.replace("?", "%s").replace("BLOB", "BYTEA")
        return re.sub(r"\bINSERT OR IGNORE INTO (\w+)(.*)", r"INSERT INTO \1\2 ON CONFLICT DO NOTHING", sql,
                      flags=re.S)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._guard():
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
                return list(cur.fetchall()) if cur.description else []
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise RetryLater(f"database busy: {exc}") from exc
                raise

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        """Rows one by one from the driver's cursor, for long reads (never materialised as one list)."""
        with self._guard():
            yield from self._conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._guard():
            if self.is_postgres:
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(sql), [tuple(r) for r in rows])
            else:
                self._conn.executemany(sql, [tuple(r) for r in rows])

    #: serialises DDL across processes: PostgreSQL's CREATE ... IF NOT EXISTS is no guard against two
    #: workers creating the same table at once (a unique violation on pg_type)
    DDL_LOCK = "zorghub.ddl"

    #: the DDL spellings that differ between the stores, written once in each table's DDL:
    #: ``{rowid_key}`` a 64-bit key that on SQLite is the rowid itself (a row in one B-tree, not a row and
    #: its key's index), and ``WITHOUT ROWID`` (a table that is its key's B-tree alone), SQLite's only:
    #: PostgreSQL's tables are heaps beside their key's index either way
    DIALECT = {"sqlite": (("{rowid_key}", "INTEGER PRIMARY KEY"),),
               "postgres": (("{rowid_key}", "BIGINT PRIMARY KEY"), (" WITHOUT ROWID", ""))}

    def script(self, ddl: str) -> None:
        """Run ``;``-separated DDL, in this store's spelling (``DIALECT``)."""
        for spelling, here in self.DIALECT["postgres" if self.is_postgres else "sqlite"]:
            ddl = ddl.replace(spelling, here)
        statements = [s for s in ddl.split(";") if s.strip()]
        if not self.is_postgres or self._depth:
            for statement in statements:
                self.execute(statement)
            return
        with self.transaction(lock=self.DDL_LOCK):
            for statement in statements:
                self.execute(statement)

    def hold_lock(self, lock: str) -> None:
        """Inside an open transaction: take ``lock`` till it ends (PostgreSQL's transaction-scoped advisory
        lock; an SQLite transaction holds the one writer's turn already)."""
        if self.is_postgres:
            self.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(lock.encode()),))

    def writing_alone(self) -> bool:
        """Inside a transaction that no other writer can interleave with (SQLite's ``BEGIN IMMEDIATE``
        holds the store's one write lock): what it read is still so when it writes."""
        return self._depth > 0 and not self.is_postgres

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the open transaction has committed (at once outside one); never if it rolls back,
        nor if the savepoint it was asked in does."""
        if self._depth:
            self._committed.append(fn)
        else:
            fn()

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Database]:
        """A write transaction. ``lock`` serialises writers of one chain across processes."""
        if self._depth:
            # nested: a savepoint, so a failing inner step leaves nothing half-applied
            self._depth += 1
            name = f"sp{self._depth}"
            self.execute(f"SAVEPOINT {name}")
            pending = len(self._committed)
            try:
                yield self
            except BaseException:
                del self._committed[pending:]
                self.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                self.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            # a connection lost at BEGIN, inside or at COMMIT is one error: nothing of it may be trusted
            with self._guard():
                if self.is_postgres:
                    with self._conn.transaction():
                        if lock:
                            self.hold_lock(lock)
                        yield self
                else:
                    with self._turn if self._turn is not None else contextlib.nullcontext():
                        self._conn.execute("BEGIN IMMEDIATE")
                        try:
                            yield self
                        except BaseException:
                            if not self._lost:
                                self._conn.execute("ROLLBACK")
                            raise
                        self._conn.execute("COMMIT")
        finally:
            self._depth = 0
            done, self._committed = self._committed, []
        for fn in done:  # reached only when the transaction committed
            fn()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with contextlib.suppress(Exception):  # a lost connection has nothing left to close
            self._conn.close()
        if self._turn is not None:
            self._turn.close()


class _WriterTurn:
    """An exclusive ``flock`` on a file beside the store, held from ``BEGIN IMMEDIATE`` to the commit.

    The kernel hands it to the next writer of any process the moment it is let go. Taken without
    blocking and tried again every fraction of a millisecond, so a writer that already holds the store
    (another connection of the same thread) makes this one give up after ``timeout`` with
    ``RetryLater``, as SQLite's own busy timeout would, never hang. A store whose folder takes no new
    file (a read-only command on someone else's store) goes without: SQLite's busy handler still
    keeps writers apart.
    """

    def __init__(self, path: Path, *, create: bool, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._fd: int | None = None
        try:
            if create or path.exists():
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            self._fd = None

    def __enter__(self) -> None:
        fd = self._fd
        if fd is None:
            return
        deadline = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.timeout
                elif now > deadline:
                    raise RetryLater(f"database busy: another writer held the store for {self.timeout:.0f}s") from None
                time.sleep(0.0002)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class _Checkpointer(threading.Thread):
    """WAL checkpoints at an interval, on a connection of its own, so that the WAL starts over each time.

    A passive checkpoint never blocks a writer, but under steady writes it never ends where the log
    does either (the writers add frames while it copies), and SQLite starts the log over only after one
    that did: the WAL then grew by every commit (20 MB/s at 200 messages/s), and reads from it became
    dearer (each page read looks through the index of every 4,096 frames). So the passive pass copies
    the bulk beside the writers; once the log is ``restart_frames`` long, a second one copies the few
    frames written meanwhile between two writers' transactions (holding the writer's turn), and the
    next writer starts the log from the beginning. Each pass holds up the messages behind it a little
    (it competes for the disk and the cores); every 0.2 s the passes are short, where at 0.5 s a light
    load's messages met one of 10-15 ms twice a second (query p99 13 -> 8-10 ms at 200 a second, and the
    drain rate no lower).

    Under a heavy load (a pass that found ``busy_frames`` or more written since the last one) the next
    pass waits ``busy_interval``: the same hot index pages, written again by every commit, are then copied
    once a second instead of five times, which in paired runs left the worker 5-10% more of the machine.
    A light load keeps the short interval and its short passes. The load is the frames added since the
    last pass, not the log's length: a log that was not started over is still long at a light load, which
    then waited a second a pass, and each pass copied and synced a second of commits (20 ms at 200
    queries a second, and the answers behind it met the stall: query p99 7-19 ms over ten runs, 5-9 ms
    over four with the passes of a fifth of a second).
    """

    def __init__(self, path: str, interval: float = 0.2, restart_frames: int = 4096, *,
                 busy_interval: float = 1.0, busy_frames: int = 2048) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self._conn = sqlite3.connect(path, timeout=5, check_same_thread=False)
        self._turn = _WriterTurn(Path(f"{path}-lock"), create=False, timeout=5.0)
        self._interval = interval
        self._busy_interval = busy_interval
        self._busy_frames = busy_frames
        self._restart_frames = restart_frames
        self._log = 0  # the log's length at the last pass
        self._stopping = threading.Event()
        self.start()

    def run(self) -> None:
        wait = self._interval
        while not self._stopping.wait(wait):
            wait = self.next_wait(self.checkpoint())

    def next_wait(self, frames: int) -> float:
        """How long until the next pass, after one that found ``frames`` frames written since the last."""
        return self._busy_interval if frames >= self._busy_frames else self._interval

    def checkpoint(self) -> int:
        """One pass; the frames written since the last pass (0 when it could not look)."""
        try:
            log = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        except sqlite3.OperationalError:  # another process is checkpointing: its copy serves us too
            return 0
        # a shorter log than last time started over since (a pass copied all of it and no reader held it)
        added = log - self._log if log >= self._log else log
        self._log = log
        if log >= self._restart_frames:  # long enough: make it start over (a stall of milliseconds)
            try:
                with self._turn:
                    self._log = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            except (sqlite3.OperationalError, RetryLater):  # a writer kept the turn: the next pass finishes
                pass
        return int(added)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)
        self.checkpoint()
        self._conn.close()
        self._turn.close()


def missing_store(url: str) -> str:
    return f"no hub store at {redact_url(url)} (set ZORGHUB_HOME or --store)"


def _connect_postgres(url: str, application_name: str = "zorghub", *, create: bool = True) -> Any:
    """A connection in autocommit with the URL's schema as search path; ``application_name`` unless the URL sets one."""
    import psycopg

    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    schema = query.pop("schema", [None])[0]
    if schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise ConfigError(f"invalid schema name {schema!r}")
    params = {k: v[0] for k, v in query.items()}
    params.setdefault("application_name", application_name[:63])
    clean = urlunparse(parsed._replace(query=urlencode(params, quote_via=quote)))  # libpq reads no '+'
    try:
        conn = psycopg.connect(clean, autocommit=True)
        if schema:
            if not create and not conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                                               (schema,)).fetchall():
                conn.close()
                raise StoreMissing(missing_store(url))
            with conn.transaction():  # one creator at a time: IF NOT EXISTS races between processes
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(Database.DDL_LOCK.encode()),))
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"SET search_path TO {schema}")
    except psycopg.OperationalError as exc:
        raise RetryLater(f"cannot reach PostgreSQL at {redact_url(url)}: {exc}") from exc
    return conn


def redact_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return urlunparse(parsed._replace(netloc=netloc))
    return url
