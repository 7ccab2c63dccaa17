"""Workers that start together on a fresh PostgreSQL schema each open the store: none may fail.

``CREATE ... IF NOT EXISTS`` is no guard between processes on PostgreSQL (a unique violation on
pg_type or pg_namespace); the store serialises its DDL with an advisory lock.
"""

from __future__ import annotations

import multiprocessing as mp

import pytest

from hub.store.db import Database
from hub.store.deadletters import DeadLetterStore
from hub.store.mapping_defaults import MappingDefaults


def _open(url: str) -> str:
    db = Database(url)
    try:
        MappingDefaults(db)
        DeadLetterStore(db)
    finally:
        db.close()
    return "ok"


@pytest.mark.postgres
def test_six_processes_open_a_fresh_schema_at_once(pg_url: str) -> None:
    with mp.get_context("spawn").Pool(6) as pool:
        assert pool.map(_open, [pg_url] * 12) == ["ok"] * 12
