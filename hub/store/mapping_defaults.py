"""The mapping defaults the hub last saw, so a newly installed default version can be announced once.

Installing a package with a new mapping version silently moves every party that does not pin a
version to it. The hub compares the registry's defaults with this table at start-up, warns about
what moved, and then records the new defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from hub.store.audit import now_iso
from hub.store.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS mapping_defaults (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    seen_at TEXT NOT NULL
)
"""


class MappingDefaults:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def load(self) -> dict[str, str]:
        return {str(n): str(v) for n, v in self.db.execute("SELECT name, version FROM mapping_defaults")}

    def swap(self, defaults: Mapping[str, str]) -> dict[str, str]:
        """Record these defaults and return the ones seen before, in one locked transaction.

        Workers start together; the lock lets exactly one of them see the old defaults, so a move is
        announced once. Names not in ``defaults`` keep their row: an uninstalled mapping may come back.
        """
        with self.db.transaction(lock="mapping_defaults"):
            previous = self.load()
            changed = [(n, v, now_iso()) for n, v in sorted(defaults.items()) if previous.get(n) != v]
            self.db.executemany(
                "INSERT INTO mapping_defaults (name, version, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, seen_at = excluded.seen_at",
                changed,
            )
        return previous
