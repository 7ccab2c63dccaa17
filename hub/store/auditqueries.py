"""What the auditor, the metrics and beheer ask of the audit log, beyond appending and verifying it.

Named by the question they answer. Facets come in as plain values (the auditor's
``AuditFilter`` turns them into ``Facets``); rows go out as tuples or ``AuditRecord``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hub.store.audit import COLUMNS, AuditRecord
from hub.store.db import Database, Row
from hub.store.migrations import CHECKPOINT_ACTION

#: No index on ``action`` as a whole: a column of some twenty values, where most records are ``received``
#: or ``delivered``, so a search by a frequent action reads most of the log anyway, in seq order. Every
#: commit still paid for it, a leaf page per action in the batch (4 of the 24 pages a query's commit wrote
#: at a light load). What is looked up by action is rare: the signed checkpoints and the refusals. Their
#: partial indexes are written by their own records alone, and used by queries that name the same literal
#: condition (``CHECKPOINT``, ``DENIED``).
CHECKPOINT = f"action = '{CHECKPOINT_ACTION}'"
DENIED = "outcome = 'deny'"
SEARCH_INDEXES = f"""
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor);
CREATE INDEX IF NOT EXISTS audit_recipient ON audit (recipient);
CREATE INDEX IF NOT EXISTS audit_checkpoints ON audit (seq) WHERE {CHECKPOINT};
CREATE INDEX IF NOT EXISTS audit_denied ON audit (seq) WHERE {DENIED};
DROP INDEX IF EXISTS audit_action
"""


def ensure_search_indexes(db: Database) -> None:
    """The indexes a search by time, actor or recipient needs on a large log, and those of the rare actions."""
    db.script(SEARCH_INDEXES)


def _action_is(action: str) -> tuple[str, tuple[Any, ...]]:
    """The condition "the record's action is ``action``", in the words its partial index answers to."""
    return (CHECKPOINT, ()) if action == CHECKPOINT_ACTION else ("action = ?", (action,))


@dataclass(frozen=True)
class Facets:
    """A selection of audit records; every field narrows it, empty means "any"."""

    equal: tuple[tuple[str, str], ...] = ()  # (column, value): client, actor, recipient, kind, outcome, message_id
    party: str = ""  # acting, receiving or on whose behalf
    role: str = ""  # one of the actor's roles
    actions: tuple[str, ...] = ()
    not_action_prefix: str = ""  # leave out actions starting with this
    since: str = ""  # an instant, inclusive
    until: str = ""
    first_seq: int = 0
    last_seq: int = 0

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        for column, value in self.equal:
            if column not in COLUMNS:
                raise ValueError(f"not an audit column: {column!r}")
            if value:
                parts.append(f"{column} = ?")
                params.append(value)
        if self.party:
            parts.append("(actor = ? OR recipient = ? OR on_behalf_of = ?)")
            params += [self.party] * 3
        if self.role:
            parts.append("(',' || actor_role || ',') LIKE ?")
            params.append(f"%,{self.role},%")
        if self.actions:
            parts.append(f"action IN ({', '.join('?' for _ in self.actions)})")
            params += list(self.actions)
        if self.not_action_prefix:
            parts.append("action NOT LIKE ?")
            params.append(self.not_action_prefix + "%")
        if self.since:
            parts.append("ts >= ?")
            params.append(self.since)
        if self.until:
            parts.append("ts <= ?")
            params.append(self.until)
        if self.first_seq:
            parts.append("seq >= ?")
            params.append(self.first_seq)
        if self.last_seq:
            parts.append("seq <= ?")
            params.append(self.last_seq)
        return " AND ".join(parts) or "1 = 1", params


def matching(db: Database, facets: Facets, chunk: int = 5000) -> Iterator[AuditRecord]:
    """The matching records in seq order, fetched in chunks (keyset paging), so millions stream."""
    where, params = facets.where()
    after = 0
    cols = ", ".join(COLUMNS)
    while True:
        rows = db.execute(f"SELECT {cols} FROM audit WHERE seq > ? AND {where} ORDER BY seq LIMIT {int(chunk)}",
                          [after, *params])
        for row in rows:
            yield AuditRecord(**dict(zip(COLUMNS, row, strict=True)))
        if len(rows) < chunk:
            return
        after = int(rows[-1][0])


def count_matching(db: Database, facets: Facets) -> int:
    where, params = facets.where()
    return int(db.execute(f"SELECT COUNT(*) FROM audit WHERE {where}", params)[0][0])


def client_trail(db: Database, client: str) -> list[Row]:
    """(action, outcome, actor, recipient, ts) of every record about one client (a pseudonym), in seq order."""
    return db.execute("SELECT action, outcome, actor, recipient, ts FROM audit WHERE client = ? ORDER BY seq",
                      (client,))


def traffic(db: Database, party: str | None = None) -> list[Row]:
    """(actor, recipient, action, outcome, count) over the whole log, or over the records a party is in."""
    where, params = ("WHERE actor = ? OR recipient = ?", (party, party)) if party else ("", ())
    return db.execute(f"SELECT actor, recipient, action, outcome, COUNT(*) FROM audit {where} "
                      "GROUP BY actor, recipient, action, outcome", params)


#: the actions by which a party received something (the beheer view's "received")
RECEIVED_ACTIONS = ("delivered", "notified", "replied", "query", "receipt", "rejected", "proposed",
                    "evaluation_requested")


def communication(db: Database, party: str | None = None) -> dict[str, dict[str, int]]:
    """Per party: messages sent, sent and failed, received, and rejections received (beheer)."""
    stats: dict[str, dict[str, int]] = {}
    for actor, recipient, action, outcome, n in traffic(db, party):
        if action == "received":
            key, who = ("sent" if outcome == "success" else "sent_failed"), actor
        elif recipient and action in RECEIVED_ACTIONS:
            key, who = ("rejections" if action == "rejected" else "received"), recipient
        else:
            continue
        stats.setdefault(str(who), {}).setdefault(key, 0)
        stats[str(who)][key] += int(n)
    return stats


def received_payloads(db: Database, message_ids: Sequence[str]) -> list[Row]:
    """(message_id, payload_sha256) of the successful ``received`` records of these messages, in seq order."""
    return db.execute(f"SELECT message_id, payload_sha256 FROM audit WHERE action = ? AND outcome = ? "
                      f"AND message_id IN ({', '.join('?' for _ in message_ids)}) ORDER BY seq",
                      ["received", "success", *message_ids])


def last_seq_of(db: Database, action: str) -> int:
    """The seq of the newest record with this action, 0 when there is none."""
    condition, params = _action_is(action)
    return int(db.execute(f"SELECT MAX(seq) FROM audit WHERE {condition}", params)[0][0] or 0)


def hash_at(db: Database, seq: int) -> str | None:
    """The chain hash of record ``seq``, None when the record is missing."""
    rows = db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,))
    return str(rows[0][0]) if rows else None


def with_action(db: Database, action: str, first_seq: int = 1, last_seq: int | None = None) -> list[AuditRecord]:
    """The records with this action from ``first_seq`` (to ``last_seq``), in seq order."""
    condition, params = _action_is(action)
    where = f"{condition} AND seq >= ?" + (" AND seq <= ?" if last_seq is not None else "")
    params += (first_seq,) + ((last_seq,) if last_seq is not None else ())
    rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE {where} ORDER BY seq", params)
    return [AuditRecord(**dict(zip(COLUMNS, row, strict=True))) for row in rows]


def head_seq(db: Database) -> int:
    """The newest record's seq, 0 for an empty log."""
    return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit")[0][0])


def counts_between(db: Database, after: int, upto: int) -> list[Row]:
    """(action, outcome, kind, count) of the records after seq ``after`` up to ``upto``."""
    return db.execute("SELECT action, outcome, kind, COUNT(*) FROM audit WHERE seq > ? AND seq <= ? "
                      "GROUP BY action, outcome, kind", (after, upto))


def count_before(db: Database, ts: str) -> int:
    """How many records are older than the instant ``ts``."""
    return int(db.execute("SELECT COUNT(*) FROM audit WHERE ts < ?", (ts,))[0][0])


def refusals(db: Database, action_prefix: str) -> list[AuditRecord]:
    """The ``deny`` records of actions starting with ``action_prefix`` (``authz.``), in seq order."""
    rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE {DENIED} AND action LIKE ? ORDER BY seq",
                      (action_prefix + "%",))
    return [AuditRecord(**dict(zip(COLUMNS, row, strict=True))) for row in rows]


def inbound(db: Database, *, message_ids: Sequence[str] = (), correlation_id: str = "", kind: str = "",
            party: str = "", client: str = "", since: str = "", until: str = "", limit: int = 50) -> list[Row]:
    """The ``received`` record of each inbound message that matches, newest first: the console's browser.

    Columns: seq, ts, message_id, actor, kind, client, correlation_id, outcome.
    """
    where: list[str] = ["action = 'received'"]
    params: list[Any] = []
    if message_ids:
        where.append(f"message_id IN ({', '.join('?' for _ in message_ids)})")
        params.extend(message_ids)
    for column, value in (("correlation_id", correlation_id), ("kind", kind), ("actor", party),
                          ("client", client)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("ts >= ?")
        params.append(since)
    if until:
        where.append("ts <= ?")
        params.append(until)
    params.append(int(limit))
    return db.execute("SELECT seq, ts, message_id, actor, kind, client, correlation_id, outcome FROM audit "
                      f"WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?", params)


def caused_by(db: Database, message_id: str) -> list[Row]:
    """What the hub sent because of a message under ids of its own (``<id>:receipt``, ``:answer``,
    ``:notice:...``): seq, ts, action, actor, recipient, kind, message_id, outcome, reason."""
    return db.execute("SELECT seq, ts, action, actor, recipient, kind, message_id, outcome, reason FROM audit "
                      "WHERE message_id > ? AND message_id < ? ORDER BY seq", (message_id + ":", message_id + ";"))


def message_ids_from(db: Database, prefix: str, limit: int = 100) -> list[str]:
    """The distinct message ids starting with ``prefix``, through the message-id index (a range, not a scan)."""
    if not prefix:
        return []
    rows = db.execute("SELECT DISTINCT message_id FROM audit WHERE message_id >= ? AND message_id < ? "
                      "ORDER BY message_id LIMIT ?", (prefix, prefix + "\U0010ffff", int(limit)))
    return [str(r[0]) for r in rows]


#: the columns that name the parties a record is about: who acted, who received, for whom
PARTY_COLUMNS = ("actor", "recipient", "on_behalf_of")
_ABOUT = " OR ".join(f"{c} = ?" for c in PARTY_COLUMNS)


def seqs_about(db: Database, message_id: str, party: str, limit: int) -> list[int]:
    """The records of a message that name ``party`` as actor, recipient or the one acted for."""
    rows = db.execute(f"SELECT seq FROM audit WHERE message_id = ? AND ({_ABOUT}) ORDER BY seq LIMIT ?",
                      (message_id, *([party] * len(PARTY_COLUMNS)), int(limit)))
    return [int(r[0]) for r in rows]
