"""Search the audit log by NEN 7513 facets; "who has seen my data".

A client is given by BSN or by pseudonym; a BSN is turned into the hub's keyed
pseudonym at once and never stored, printed or recorded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any

import orjson

from hub.errors import ConfigError
from hub.formats import bsn as bsnlib
from hub.store import auditqueries
from hub.store.audit import COLUMNS, AuditLog, AuditRecord
from hub.store.db import Database

# what counts as a party having seen a client's data: it received a message about the client (the
# recipient), or it read the client's data (the actor of a read/query that was allowed). Replies and receipts
# go back to the party that sent the message: a query's answer is counted through the allowed reads behind it,
# a melding's receipt tells the author nothing it did not send.
RECEIVE_ACTIONS = ("delivered", "notified", "replayed")
QUERY_ACTIONS = ("authz.read", "network.query", "query", "queried")
GRANTED = ("success", "allow")
REFUSED = ("deny", "failure")
AUDIT_PREFIX = "audit."


def ensure_indexes(db: Database) -> None:
    auditqueries.ensure_search_indexes(db)


@dataclass(frozen=True)
class AuditFilter:
    """Every field narrows the selection; empty means "any"."""

    client: str = ""  # the pseudonym (p-...), never a BSN
    party: str = ""  # acting or receiving party
    actor: str = ""
    recipient: str = ""
    role: str = ""
    kind: str = ""
    actions: tuple[str, ...] = ()
    outcome: str = ""
    since: str = ""
    until: str = ""
    message_id: str = ""
    first_seq: int = 0
    last_seq: int = 0
    include_audit: bool = True  # the auditor's own access records

    @classmethod
    def for_bsn(cls, bsn: str, key: bytes, **kw: Any) -> AuditFilter:
        return cls(client=client_pseudonym(bsn, key), **kw)

    def facets(self) -> auditqueries.Facets:
        """The selection for the store; dates become instants here (a bad one is a ``ConfigError``)."""
        return auditqueries.Facets(
            equal=(("client", self.client), ("actor", self.actor), ("recipient", self.recipient),
                   ("kind", self.kind), ("outcome", self.outcome), ("message_id", self.message_id)),
            party=self.party, role=self.role, actions=self.actions,
            not_action_prefix="" if self.include_audit else AUDIT_PREFIX,
            since=_instant(self.since, end=False) if self.since else "",
            until=_instant(self.until, end=True) if self.until else "",
            first_seq=self.first_seq, last_seq=self.last_seq)

    def describe(self) -> dict[str, Any]:
        """For the auditor's own audit record: never holds a BSN (only the pseudonym)."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) not in ("", 0, (), True)}

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> AuditFilter:
        data = orjson.loads(text)
        data["actions"] = tuple(data.get("actions", ()))
        return cls(**data)


def client_pseudonym(client: str, key: bytes) -> str:
    """A BSN becomes the keyed pseudonym; a pseudonym passes through. Errors never echo the value."""
    client = client.strip()
    if client.startswith("p-"):
        return client
    if not bsnlib.is_valid(client):
        raise ConfigError("the client must be a valid BSN (elfproef) or a pseudonym (p-...)")
    return bsnlib.pseudonym(client, key)


def _instant(value: str, *, end: bool) -> str:
    value = value.strip()
    try:
        if len(value) == 10:  # a date: the whole day
            date.fromisoformat(value)
            return value + ("T23:59:59.999999Z" if end else "T00:00:00Z")
        datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"not a date or ISO 8601 time: {value!r}") from None
    return value.replace("+00:00", "Z")


class UnknownMessage(ConfigError):
    """A message id (or prefix) that names no message, or more than one."""

    code = "UNKNOWN_MESSAGE"


def resolve_message_id(log: AuditLog, given: str, limit: int = 100) -> str:
    """The full message id: ``given`` itself when recorded, else the one id it is a unique prefix of."""
    given = given.strip()
    if not given:
        raise UnknownMessage("an empty message id")
    found = log.message_ids(given, limit=limit)
    if given in found:  # a full id wins over the ids derived from it (``<id>:receipt``)
        return given
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownMessage(f"no recorded message id starts with {given!r}")
    many = f"{len(found)} or more" if len(found) >= limit else str(len(found))
    raise UnknownMessage(f"message id prefix {given!r} is ambiguous: {many} message ids start with it "
                         f"(e.g. {found[0]}, {found[1]}); give more of it")


def iter_records(log: AuditLog, flt: AuditFilter, chunk: int = 5000) -> Iterator[AuditRecord]:
    """The matching records in seq order, fetched in chunks (keyset paging), so millions stream."""
    yield from auditqueries.matching(log.db, flt.facets(), chunk)


def search(log: AuditLog, flt: AuditFilter, limit: int | None = None) -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for rec in iter_records(log, flt):
        out.append(rec)
        if limit is not None and len(out) >= limit:
            break
    return out


def count(log: AuditLog, flt: AuditFilter) -> int:
    return auditqueries.count_matching(log.db, flt.facets())


# ----- who has seen ------------------------------------------------------------------
@dataclass
class Sighting:
    party: str
    how: set[str] = field(default_factory=set)
    count: int = 0
    first: str = ""
    last: str = ""


@dataclass
class WhoHasSeen:
    seen: list[Sighting]  # received or read the client's data
    denied: list[Sighting]  # tried to read it and were refused
    audited: list[Sighting]  # auditors who looked the client up (not viewers of care data)

    @property
    def parties(self) -> set[str]:
        return {s.party for s in self.seen}


def sighting(action: str, outcome: str, actor: str, recipient: str) -> tuple[str, str, str] | None:
    """(party, book, how) of one audit record about a client: seen, denied or audited; None if it is neither."""
    if action == "replayed" and str(recipient).startswith("sandbox:"):
        return actor, "audited", f"replay to {recipient}"  # an auditor's sandbox, not a party
    if action in RECEIVE_ACTIONS and recipient and outcome in GRANTED:
        return recipient, "seen", "received"
    if action in QUERY_ACTIONS and outcome in GRANTED:
        return actor, "seen", "queried"
    if action in QUERY_ACTIONS and outcome in REFUSED:
        return actor, "denied", "denied"
    if str(action).startswith(AUDIT_PREFIX):
        return actor, "audited", str(action)[len(AUDIT_PREFIX):]
    return None


def access_records(log: AuditLog, client: str, books: Sequence[str] = ("seen", "denied")) -> list[AuditRecord]:
    """The records behind ``who_has_seen`` in the given books, in seq order: each access, not a summary."""
    facets = auditqueries.Facets(equal=(("client", client),))
    return [r for r in auditqueries.matching(log.db, facets)
            if (found := sighting(r.action, r.outcome, r.actor, r.recipient)) and found[1] in books]


def who_has_seen(log: AuditLog, client: str) -> WhoHasSeen:
    """Parties that received or queried the client's data; apart from them, refused attempts and auditors."""
    books: dict[str, dict[str, Sighting]] = {"seen": {}, "denied": {}, "audited": {}}
    for action, outcome, actor, recipient, ts in auditqueries.client_trail(log.db, client):
        found = sighting(action, outcome, actor, recipient)
        if found is None:
            continue
        party, book, how = found
        s = books[book].setdefault(party, Sighting(party, first=ts))
        s.how.add(how)
        s.count += 1
        s.last = ts

    def ordered(book: str) -> list[Sighting]:
        return sorted(books[book].values(), key=lambda s: s.party)

    return WhoHasSeen(ordered("seen"), ordered("denied"), ordered("audited"))


# ----- output ------------------------------------------------------------------------
TABLE_COLUMNS = ("seq", "ts", "action", "outcome", "actor", "actor_role", "recipient", "kind", "client",
                 "message_id", "reason")
EXPORT_COLUMNS = tuple(c for c in COLUMNS)


def as_dict(rec: AuditRecord, columns: Sequence[str] = EXPORT_COLUMNS) -> dict[str, Any]:
    return {c: getattr(rec, c) for c in columns}


def format_table(records: Sequence[AuditRecord], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    rows = [[_short(c, getattr(r, c)) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _short(column: str, value: Any) -> str:
    text = str(value)
    if column == "client" and len(text) > 14:  # a pseudonym: its head tells clients apart; message ids stay whole
        return text[:14] + "…"
    if column == "reason" and len(text) > 60:
        return text[:59] + "…"
    return text


def format_json(records: Sequence[AuditRecord]) -> str:
    return orjson.dumps([as_dict(r) for r in records], option=orjson.OPT_INDENT_2).decode()


def write_csv(records: Sequence[AuditRecord] | Iterator[AuditRecord], out: io.TextIOBase | Any,
              columns: Sequence[str] = EXPORT_COLUMNS) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for r in records:
        writer.writerow([getattr(r, c) for c in columns])
        n += 1
    return n
