"""The NZa flow's tables: OHW delivery attempts per provider and period, and care-cluster trajectories."""

from __future__ import annotations

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS nza_delivery (
    message_id TEXT PRIMARY KEY, provider TEXT NOT NULL, period TEXT NOT NULL, received_at TEXT NOT NULL,
    status TEXT NOT NULL, ok_rows BIGINT NOT NULL, bad_rows BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS nza_trajectory (
    provider TEXT NOT NULL, trajectory TEXT NOT NULL, client TEXT NOT NULL, cluster INTEGER NOT NULL,
    started TEXT NOT NULL, evaluation_due TEXT NOT NULL, evaluated TEXT NOT NULL DEFAULT '',
    left_care TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, trajectory)
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def attempts(db: Database, provider: str, period: str) -> list[Row]:
    """(status, received_at, message_id) of every delivery of one provider for one period, oldest first."""
    return db.execute("SELECT status, received_at, message_id FROM nza_delivery WHERE provider = ? "
                      "AND period = ? ORDER BY received_at", (provider, period))


def add_rejected(db: Database, message_id: str, provider: str, period: str, received_at: str, ok_rows: int,
                 bad_rows: int) -> None:
    db.execute("INSERT INTO nza_delivery (message_id, provider, period, received_at, status, ok_rows, "
               "bad_rows) VALUES (?, ?, ?, ?, 'rejected', ?, ?)",
               (message_id, provider, period, received_at, ok_rows, bad_rows))


def add_accepted(db: Database, message_id: str, provider: str, period: str, received_at: str, status: str,
                 ok_rows: int) -> None:
    db.execute("INSERT INTO nza_delivery (message_id, provider, period, received_at, status, ok_rows, bad_rows) "
               "VALUES (?, ?, ?, ?, ?, ?, 0)", (message_id, provider, period, received_at, status, ok_rows))


def trajectory_client(db: Database, provider: str, trajectory: str) -> list[Row]:
    """(client,) of the trajectory, or no row."""
    return db.execute("SELECT client FROM nza_trajectory WHERE provider = ? AND trajectory = ?",
                      (provider, trajectory))


def trajectory_state(db: Database, provider: str, trajectory: str) -> list[Row]:
    """(client, started, evaluated) of the trajectory, or no row."""
    return db.execute("SELECT client, started, evaluated FROM nza_trajectory WHERE provider = ? AND trajectory = ?",
                      (provider, trajectory))


def start_trajectory(db: Database, provider: str, trajectory: str, client: str, cluster: int, started: str,
                     evaluation_due: str) -> None:
    db.execute("INSERT INTO nza_trajectory (provider, trajectory, client, cluster, started, evaluation_due) "
               "VALUES (?, ?, ?, ?, ?, ?)", (provider, trajectory, client, cluster, started, evaluation_due))


def evaluate_trajectory(db: Database, provider: str, trajectory: str, evaluated: str, cluster: int) -> None:
    db.execute("UPDATE nza_trajectory SET evaluated = ?, cluster = ? WHERE provider = ? AND trajectory = ?",
               (evaluated, cluster, provider, trajectory))


def leave_care(db: Database, provider: str, trajectory: str, left_care: str) -> None:
    db.execute("UPDATE nza_trajectory SET left_care = ? WHERE provider = ? AND trajectory = ?",
               (left_care, provider, trajectory))
