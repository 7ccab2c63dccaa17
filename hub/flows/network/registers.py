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
from hub.store.flows.network import RecordVersions


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


def _row(row: tuple[Any, ...]) -> Record:
    return Record(str(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]), str(row[6]),
                  str(row[7]), orjson.loads(row[8]), str(row[9]), str(row[10]))


class Registers:
    """Append-only versioned storage of the four registers, on the hub's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows = RecordVersions(db)

    def current(self, subject: str, record_id: str) -> Record | None:
        row = self.rows.latest(subject, record_id)
        return _row(row) if row else None

    def find(self, record_id: str) -> Record | None:
        """The current version of a record by id alone (ids are UUIDs, unique over all registers)."""
        row = self.rows.latest_by_id(record_id)
        return _row(row) if row else None

    def history(self, subject: str, record_id: str) -> list[Record]:
        return [_row(r) for r in self.rows.versions(subject, record_id)]

    def for_client(self, client: str, subjects: Iterable[str] = ()) -> list[Record]:
        """Current versions of every record of one client, in a stable order."""
        # filter in SQL: the responsibility check asks for one subject on every decision, and decoding
        # every record of the client for it made a query's cost grow with the square of its records
        return list(map(_row, self.rows.current_of_client(client, sorted(set(subjects)))))

    def where(self, subject: str, field: str, value: str) -> list[Record]:
        """Current versions of one subject whose top-level ``field`` equals ``value``."""
        return [r for r in map(_row, self.rows.current_of_subject(subject)) if str(r.data.get(field, "")) == value]

    def children(self, parent_id: str) -> list[Record]:
        return [_row(r) for r in self.rows.current_children(parent_id)]

    def append(self, subject: str, record_id: str, *, client: str, owner: str, status: str, parent_id: str,
               data: dict[str, Any], message_id: str) -> Record:
        """Write a new version (inside the caller's transaction)."""
        prev = self.current(subject, record_id)
        version = prev.version + 1 if prev else 1
        rec = Record(subject, record_id, version, SUBJECTS[subject].register, client, owner, status, parent_id,
                     data, now_iso(), message_id)
        self.rows.add((rec.subject, rec.record_id, rec.version, rec.register, rec.client, rec.owner,
                       rec.status, rec.parent_id, orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode(),
                       rec.ts, rec.message_id))
        return rec

    def count(self) -> int:
        return self.rows.count()
