"""The four source registers (bronregisters) of the network model, versioned.

One table holds every version of every register record: a change appends a
new version, nothing is updated or deleted, so the whole history stays. The
current state of a record is its highest version. Each record belongs to one
register, is written by one owner party, and belongs to one client (a keyed
pseudonym: the BSN stays inside the record data, where the real contracts put
it).

Record types (subjects) follow the real GraphQL contracts:
``WlzIndicatie`` (Indicatieregister.graphql), ``Bemiddeling``,
``Bemiddelingspecificatie``, ``Regiehouder`` and ``Overdracht``
(Bemiddelingregister.graphql). ``Clientgegevens`` (Cliëntregister) and
``Zorglevering`` (Zorgleveringsregister) have no published contract; their
fields are documented in ``hub/flows/network/schemas/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from hub.store.audit import now_iso
from hub.store.db import Database


@dataclass(frozen=True)
class Subject:
    name: str
    register: str
    id_field: str
    owner_role: str
    event_name: str
    parent: tuple[str, str] | None = None  # (field holding the parent's id, parent subject)


SUBJECTS: dict[str, Subject] = {s.name: s for s in (
    Subject("Clientgegevens", "clientregister", "clientgegevensID", "client", "CLIENTGEGEVENS"),
    Subject("WlzIndicatie", "indicatieregister", "wlzindicatieID", "indicatieorgaan", "INDICATIE"),
    Subject("Bemiddeling", "bemiddelingsregister", "bemiddelingID", "zorgkantoor", "BEMIDDELING",
            ("wlzIndicatieID", "WlzIndicatie")),
    Subject("Bemiddelingspecificatie", "bemiddelingsregister", "bemiddelingspecificatieID", "zorgkantoor",
            "BEMIDDELINGSPECIFICATIE", ("bemiddelingID", "Bemiddeling")),
    Subject("Regiehouder", "bemiddelingsregister", "regiehouderID", "zorgkantoor", "REGIEHOUDER",
            ("bemiddelingID", "Bemiddeling")),
    Subject("Overdracht", "bemiddelingsregister", "overdrachtID", "zorgkantoor", "OVERDRACHT",
            ("bemiddelingID", "Bemiddeling")),
    Subject("Zorglevering", "zorgleveringsregister", "zorgleveringID", "zorgaanbieder", "ZORGLEVERING",
            ("bemiddelingspecificatieID", "Bemiddelingspecificatie")),
)}

REGISTERS = {
    "clientregister": "client",
    "indicatieregister": "indicatieorgaan",
    "bemiddelingsregister": "zorgkantoor",
    "zorgleveringsregister": "zorgaanbieder",
}

ACTIONS = ("nieuw", "gewijzigd", "ingetrokken")

DDL = """
CREATE TABLE IF NOT EXISTS nw_record (
    subject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    register TEXT NOT NULL,
    client TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_id TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    ts TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (subject, record_id, version)
);
CREATE INDEX IF NOT EXISTS nw_record_client ON nw_record (client);
CREATE INDEX IF NOT EXISTS nw_record_parent ON nw_record (parent_id)
"""


@dataclass(frozen=True)
class Record:
    subject: str
    record_id: str
    version: int
    register: str
    client: str
    owner: str
    status: str  # actief | ingetrokken
    parent_id: str
    data: dict[str, Any]
    ts: str
    message_id: str = ""

    @property
    def active(self) -> bool:
        return self.status == "actief"

    def ref(self) -> dict[str, str]:
        return {"subject": self.subject, "recordID": self.record_id}


_COLS = "subject, record_id, version, register, client, owner, status, parent_id, data, ts, message_id"
_CURRENT = ("version = (SELECT MAX(v.version) FROM nw_record v "
            "WHERE v.subject = nw_record.subject AND v.record_id = nw_record.record_id)")


def _row(row: tuple[Any, ...]) -> Record:
    return Record(str(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]), str(row[6]),
                  str(row[7]), orjson.loads(row[8]), str(row[9]), str(row[10]))


class Registers:
    """Append-only versioned storage of the four registers, on the hub's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(DDL)

    def current(self, subject: str, record_id: str) -> Record | None:
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE subject = ? AND record_id = ? "
                               "ORDER BY version DESC LIMIT 1", (subject, record_id))
        return _row(rows[0]) if rows else None

    def find(self, record_id: str) -> Record | None:
        """The current version of a record by id alone (ids are UUIDs, unique over all registers)."""
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE record_id = ? "
                               "ORDER BY version DESC LIMIT 1", (record_id,))
        return _row(rows[0]) if rows else None

    def history(self, subject: str, record_id: str) -> list[Record]:
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE subject = ? AND record_id = ? "
                               "ORDER BY version", (subject, record_id))
        return [_row(r) for r in rows]

    def for_client(self, client: str, subjects: Iterable[str] = ()) -> list[Record]:
        """Current versions of every record of one client, in a stable order."""
        wanted = sorted(set(subjects))
        # filter in SQL: the responsibility check asks for one subject on every decision, and decoding
        # every record of the client for it made a query's cost grow with the square of its records
        only = f" AND subject IN ({', '.join('?' for _ in wanted)})" if wanted else ""
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE client = ?{only} AND {_CURRENT} "
                               "ORDER BY ts, subject, record_id", (client, *wanted))
        return list(map(_row, rows))

    def where(self, subject: str, field: str, value: str) -> list[Record]:
        """Current versions of one subject whose top-level ``field`` equals ``value``."""
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE subject = ? AND {_CURRENT} "
                               "ORDER BY ts, record_id", (subject,))
        return [r for r in map(_row, rows) if str(r.data.get(field, "")) == value]

    def children(self, parent_id: str) -> list[Record]:
        rows = self.db.execute(f"SELECT {_COLS} FROM nw_record WHERE parent_id = ? AND {_CURRENT} "
                               "ORDER BY ts, record_id", (parent_id,))
        return [_row(r) for r in rows]

    def append(self, subject: str, record_id: str, *, client: str, owner: str, status: str, parent_id: str,
               data: dict[str, Any], message_id: str) -> Record:
        """Write a new version (inside the caller's transaction)."""
        prev = self.current(subject, record_id)
        version = prev.version + 1 if prev else 1
        rec = Record(subject, record_id, version, SUBJECTS[subject].register, client, owner, status, parent_id,
                     data, now_iso(), message_id)
        self.db.execute(f"INSERT INTO nw_record ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (rec.subject, rec.record_id, rec.version, rec.register, rec.client, rec.owner,
                         rec.status, rec.parent_id, orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode(),
                         rec.ts, rec.message_id))
        return rec

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM nw_record")[0][0])
