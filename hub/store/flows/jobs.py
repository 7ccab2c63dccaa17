"""The jobs flow's table: each scheduled job's last run, outcome, result and number of runs."""

from __future__ import annotations

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS flow_jobs (
    name TEXT PRIMARY KEY, last_run TEXT NOT NULL, outcome TEXT NOT NULL, result TEXT NOT NULL,
    runs BIGINT NOT NULL
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def record_run(db: Database, name: str, stamp: str, outcome: str, result: str) -> None:
    """Count one more run of the job and keep its outcome, in a transaction of its own."""
    with db.transaction():
        db.execute("INSERT INTO flow_jobs (name, last_run, outcome, result, runs) VALUES (?, ?, ?, ?, 1) "
                   "ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run, outcome = excluded.outcome, "
                   "result = excluded.result, runs = flow_jobs.runs + 1", (name, stamp, outcome, result))


def runs(db: Database) -> list[Row]:
    """(name, last_run, outcome, result, runs) of every job that ran."""
    return db.execute("SELECT name, last_run, outcome, result, runs FROM flow_jobs")
