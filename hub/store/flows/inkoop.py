"""The Zorginkoopportaal flow's tables: uitvragen and their answers, proposals, negotiations, delivery requests."""

from __future__ import annotations

import orjson

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS ik_uitvraag (
    id TEXT PRIMARY KEY, insurer TEXT NOT NULL, addressed TEXT NOT NULL, proposal TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ik_answer (
    uitvraag_id TEXT NOT NULL, provider TEXT NOT NULL, message_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (uitvraag_id, provider)
);
CREATE TABLE IF NOT EXISTS ik_proposal (
    id TEXT PRIMARY KEY, insurer TEXT NOT NULL, provider TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, decided_at TEXT NOT NULL DEFAULT '',
    decision_message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS ik_negotiation (
    id TEXT PRIMARY KEY, insurer TEXT NOT NULL, provider TEXT NOT NULL, product TEXT NOT NULL,
    status TEXT NOT NULL, last_party TEXT NOT NULL, price_cents BIGINT NOT NULL, volume BIGINT NOT NULL,
    rounds INTEGER NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ik_request (
    id TEXT PRIMARY KEY, proposal_id TEXT NOT NULL, insurer TEXT NOT NULL, provider TEXT NOT NULL,
    subject TEXT NOT NULL, due TEXT NOT NULL, received_message TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL DEFAULT ''
)
"""


def create(db: Database) -> None:
    db.script(DDL)


# ----- uitvraag ---------------------------------------------------------------------------------
def uitvraag_exists(db: Database, uitvraag_id: str) -> bool:
    return bool(db.execute("SELECT 1 FROM ik_uitvraag WHERE id = ?", (uitvraag_id,)))


def add_uitvraag(db: Database, uitvraag_id: str, insurer: str, addressed: str, proposal: str, created_at: str) -> None:
    """``addressed`` and ``proposal`` are JSON text."""
    db.execute("INSERT INTO ik_uitvraag (id, insurer, addressed, proposal, created_at) VALUES (?, ?, ?, ?, ?)",
               (uitvraag_id, insurer, addressed, proposal, created_at))


def uitvraag(db: Database, uitvraag_id: str) -> Row | None:
    """(insurer, addressed, proposal) of the uitvraag, or None."""
    rows = db.execute("SELECT insurer, addressed, proposal FROM ik_uitvraag WHERE id = ?", (uitvraag_id,))
    return rows[0] if rows else None


def uitvragen_to(db: Database, provider: str) -> list[Row]:
    """(id, insurer, created_at, answered_at or None) of every uitvraag addressed to ``provider``."""
    rows = db.execute("SELECT u.id, u.insurer, u.created_at, a.created_at, u.addressed FROM ik_uitvraag u "
                      "LEFT JOIN ik_answer a ON a.uitvraag_id = u.id AND a.provider = ? ORDER BY u.created_at, u.id",
                      (provider,))
    return [r[:4] for r in rows if provider in orjson.loads(r[4])]


def answered(db: Database, uitvraag_id: str, provider: str) -> bool:
    return bool(db.execute("SELECT 1 FROM ik_answer WHERE uitvraag_id = ? AND provider = ?",
                           (uitvraag_id, provider)))


def add_answer(db: Database, uitvraag_id: str, provider: str, message_id: str, created_at: str) -> None:
    db.execute("INSERT INTO ik_answer (uitvraag_id, provider, message_id, created_at) VALUES (?, ?, ?, ?)",
               (uitvraag_id, provider, message_id, created_at))


# ----- contracteer ------------------------------------------------------------------------------
def proposal_exists(db: Database, pid: str) -> bool:
    return bool(db.execute("SELECT 1 FROM ik_proposal WHERE id = ?", (pid,)))


def add_proposal(db: Database, pid: str, insurer: str, provider: str, body: str, created_at: str) -> None:
    """A new open proposal; ``body`` is JSON text."""
    db.execute("INSERT INTO ik_proposal (id, insurer, provider, body, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
               (pid, insurer, provider, body, "open", created_at))


def proposal(db: Database, pid: str) -> Row | None:
    """(insurer, provider, status, body) of the proposal, or None."""
    rows = db.execute("SELECT insurer, provider, status, body FROM ik_proposal WHERE id = ?", (pid,))
    return rows[0] if rows else None


def proposals_of(db: Database, party: str) -> list[Row]:
    """(id, insurer, provider, status, body, created_at, decided_at) of every proposal to or from ``party``."""
    return db.execute("SELECT id, insurer, provider, status, body, created_at, decided_at FROM ik_proposal "
                      "WHERE insurer = ? OR provider = ? ORDER BY created_at, id", (party, party))


def decide_proposal(db: Database, pid: str, status: str, decided_at: str, decision_message: str) -> None:
    db.execute("UPDATE ik_proposal SET status = ?, decided_at = ?, decision_message = ? WHERE id = ?",
               (status, decided_at, decision_message, pid))


# ----- onderhandel ------------------------------------------------------------------------------
def negotiation(db: Database, nid: str) -> Row | None:
    """(insurer, provider, product, status, last_party, price_cents, volume, rounds), or None."""
    rows = db.execute("SELECT insurer, provider, product, status, last_party, price_cents, volume, rounds "
                      "FROM ik_negotiation WHERE id = ?", (nid,))
    return rows[0] if rows else None


def negotiations_of(db: Database, party: str) -> list[Row]:
    """(id, insurer, provider, product, status, last_party, price_cents, volume, rounds, updated_at) of ``party``."""
    return db.execute("SELECT id, insurer, provider, product, status, last_party, price_cents, volume, rounds, "
                      "updated_at FROM ik_negotiation WHERE insurer = ? OR provider = ? ORDER BY updated_at, id",
                      (party, party))


def open_negotiation(db: Database, nid: str, insurer: str, provider: str, product: str, last_party: str,
                     price_cents: int, volume: int, updated_at: str) -> None:
    """A new open negotiation with its first offer (round 1)."""
    db.execute("INSERT INTO ik_negotiation (id, insurer, provider, product, status, last_party, "
               "price_cents, volume, rounds, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, 1, ?)",
               (nid, insurer, provider, product, last_party, price_cents, volume, updated_at))


def agree_negotiation(db: Database, nid: str, last_party: str, updated_at: str) -> None:
    db.execute("UPDATE ik_negotiation SET status = 'akkoord', last_party = ?, updated_at = ? WHERE id = ?",
               (last_party, updated_at, nid))


def counter_offer(db: Database, nid: str, last_party: str, price_cents: int, volume: int, rounds: int,
                  updated_at: str) -> None:
    db.execute("UPDATE ik_negotiation SET last_party = ?, price_cents = ?, volume = ?, rounds = ?, "
               "updated_at = ? WHERE id = ?", (last_party, price_cents, volume, rounds, updated_at, nid))


# ----- naleving ---------------------------------------------------------------------------------
def request_exists(db: Database, rid: str) -> bool:
    return bool(db.execute("SELECT 1 FROM ik_request WHERE id = ?", (rid,)))


def add_request(db: Database, rid: str, proposal_id: str, insurer: str, provider: str, subject: str,
                due: str) -> None:
    db.execute("INSERT INTO ik_request (id, proposal_id, insurer, provider, subject, due) "
               "VALUES (?, ?, ?, ?, ?, ?)", (rid, proposal_id, insurer, provider, subject, due))


def request(db: Database, rid: str) -> Row | None:
    """(insurer, provider, received_message) of the delivery request, or None."""
    rows = db.execute("SELECT insurer, provider, received_message FROM ik_request WHERE id = ?", (rid,))
    return rows[0] if rows else None


def receive_request(db: Database, rid: str, message_id: str, received_at: str) -> None:
    db.execute("UPDATE ik_request SET received_message = ?, received_at = ? WHERE id = ?",
               (message_id, received_at, rid))


def requests_of(db: Database, party: str) -> list[Row]:
    """(id, proposal_id, insurer, provider, subject, due, received_at) of the party's requests, by due date."""
    return db.execute("SELECT id, proposal_id, insurer, provider, subject, due, received_at FROM ik_request "
                      "WHERE insurer = ? OR provider = ? ORDER BY due, id", (party, party))
