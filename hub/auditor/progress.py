"""Long auditor jobs: a progress bar with rate and ETA, Ctrl-C to stop cleanly,
and a cursor stored in the database so a stopped job resumes where it stopped."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from hub.errors import ConfigError
from hub.store.audit import now_iso
from hub.store.db import Database


class Progress:
    """``done/total pct rate ETA`` on one line, redrawn at most ``every`` seconds."""

    def __init__(self, total: int, label: str = "", out: TextIO | None = None, every: float = 0.25,
                 done: int = 0) -> None:
        self.total = total
        self.label = label
        self.out = out if out is not None else sys.stderr
        self.every = every
        self.done = done
        self._start_done = done
        self._began = time.monotonic()
        self._drawn = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._began
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        width = 24
        fill = int(width * pct / 100)
        eta = self.eta
        eta_text = "--:--" if eta is None else _clock(eta)
        return (f"{self.label}[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} {pct:5.1f}% "
                f"{self.rate:,.0f}/s ETA {eta_text}")

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._drawn >= self.every or self.done >= self.total:
            self._drawn = now
            if self.out.isatty():
                self.out.write("\r" + self.line())
                self.out.flush()

    def finish(self) -> None:
        if self.out.isatty():
            self.out.write("\r" + self.line() + "\n")
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Cancel:
    """Set by the first Ctrl-C (SIGINT): the job stops after the current step. A second Ctrl-C aborts."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator[Cancel]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            if self._event.is_set():
                raise KeyboardInterrupt
            self._event.set()
            sys.stderr.write("\nstopping after the current step (Ctrl-C again to abort)...\n")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


JOBS_DDL = """
CREATE TABLE IF NOT EXISTS audit_jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    spec TEXT NOT NULL,
    upto_seq BIGINT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    cursor_seq BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    actor: str
    spec: str
    upto_seq: int
    total: int
    done: int
    cursor_seq: int
    status: str
    created_at: str
    updated_at: str


class Cursors:
    """The stored cursor of each job: the last seq it completed, and how many it has done."""

    COLUMNS = ("job_id", "kind", "actor", "spec", "upto_seq", "total", "done", "cursor_seq", "status",
               "created_at", "updated_at")

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(JOBS_DDL)

    def create(self, kind: str, actor: str, spec: str, upto_seq: int, total: int) -> Job:
        job_id = uuid.uuid4().hex[:12]
        now = now_iso()
        self.db.execute(f"INSERT INTO audit_jobs ({', '.join(self.COLUMNS)}) VALUES "
                        f"({', '.join('?' for _ in self.COLUMNS)})",
                        (job_id, kind, actor, spec, upto_seq, total, 0, 0, "running", now, now))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        rows = self.db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM audit_jobs WHERE job_id = ?", (job_id,))
        if not rows:
            raise ConfigError(f"no audit job {job_id!r}")
        return Job(*rows[0])

    def advance(self, job_id: str, cursor_seq: int, done: int) -> None:
        self.db.execute("UPDATE audit_jobs SET cursor_seq = ?, done = ?, updated_at = ? WHERE job_id = ?",
                        (cursor_seq, done, now_iso(), job_id))

    def set_status(self, job_id: str, status: str) -> None:
        self.db.execute("UPDATE audit_jobs SET status = ?, updated_at = ? WHERE job_id = ?",
                        (status, now_iso(), job_id))

    def list(self) -> list[Job]:
        return [Job(*r) for r in self.db.execute(
            f"SELECT {', '.join(self.COLUMNS)} FROM audit_jobs ORDER BY created_at")]
