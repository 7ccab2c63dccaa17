"""Long auditor jobs (replays, dry runs): their stored cursor, so a stopped job resumes where it stopped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hub.errors import ConfigError
from hub.store.audit import now_iso
from hub.store.db import Database

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


def create(db: Database) -> None:
    db.script(JOBS_DDL)


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
        create(db)

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
