"""The iWlz flow's memory: the heenberichten it accepted, their toewijzingen, besluiten and aanleveringen,
and every iWlz message the hub wrote for a party, so that party's retour finds it.

What the history rules (``hub/flows/iwlz/history.py``) need and the official XSLT cannot see: a
sender's earlier Identificaties, the zorgtoewijzingen of earlier AW33s, the besluitnummers of
earlier IO31s, the StatusAanlevering of each earlier melding aanvang zorg. A client is kept by its
keyed pseudonym, never by BSN. Rows are written in the batch's transaction, so a message that is
not committed leaves nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS iwlz_message (
    sender TEXT NOT NULL, msg_code TEXT NOT NULL, identificatie TEXT NOT NULL, message_id TEXT NOT NULL,
    PRIMARY KEY (sender, msg_code, identificatie)
);
CREATE TABLE IF NOT EXISTS iwlz_toewijzing (
    client TEXT NOT NULL, besluitnummer TEXT NOT NULL, product TEXT NOT NULL, instelling TEXT NOT NULL,
    ingangsdatum TEXT NOT NULL, zorgkantoor TEXT NOT NULL, message_id TEXT NOT NULL,
    PRIMARY KEY (client, besluitnummer, product, instelling, ingangsdatum)
);
CREATE TABLE IF NOT EXISTS iwlz_besluit (
    sender TEXT NOT NULL, client TEXT NOT NULL, besluitnummer BIGINT NOT NULL, afgiftedatum TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (sender, client, besluitnummer)
);
CREATE TABLE IF NOT EXISTS iwlz_aanlevering (
    sender TEXT NOT NULL, msg_code TEXT NOT NULL, client TEXT NOT NULL, unit_key TEXT NOT NULL,
    status TEXT NOT NULL, message_id TEXT NOT NULL,
    PRIMARY KEY (sender, msg_code, client, unit_key)
);
CREATE TABLE IF NOT EXISTS iwlz_sent (
    recipient TEXT NOT NULL, identificatie TEXT NOT NULL, message_id TEXT NOT NULL, msg TEXT NOT NULL,
    subject TEXT NOT NULL, record_id TEXT NOT NULL, origin TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (recipient, identificatie)
)
"""


def create(db: Database) -> None:
    db.script(DDL)


def message_of(db: Database, sender: str, msg_code: str, identificatie: str) -> str | None:
    """The message id that first used this Identificatie for this sender and message code."""
    rows = db.execute("SELECT message_id FROM iwlz_message WHERE sender = ? AND msg_code = ? AND identificatie = ?",
                      (sender, msg_code, identificatie))
    return str(rows[0][0]) if rows else None


def add_message(db: Database, sender: str, msg_code: str, identificatie: str, message_id: str) -> None:
    if message_of(db, sender, msg_code, identificatie) is None:
        db.execute("INSERT INTO iwlz_message (sender, msg_code, identificatie, message_id) VALUES (?, ?, ?, ?)",
                   (sender, msg_code, identificatie, message_id))


def has_toewijzingen(db: Database, client: str) -> bool:
    return bool(db.execute("SELECT 1 FROM iwlz_toewijzing WHERE client = ? LIMIT 1", (client,)))


def has_toewijzing(db: Database, client: str, besluitnummer: str, product: str, instelling: str,
                   ingangsdatum: str) -> bool:
    return bool(db.execute("SELECT 1 FROM iwlz_toewijzing WHERE client = ? AND besluitnummer = ? AND product = ? "
                           "AND instelling = ? AND ingangsdatum = ?",
                           (client, besluitnummer, product, instelling, ingangsdatum)))


def add_toewijzing(db: Database, client: str, besluitnummer: str, product: str, instelling: str,
                   ingangsdatum: str, zorgkantoor: str, message_id: str) -> None:
    if not has_toewijzing(db, client, besluitnummer, product, instelling, ingangsdatum):
        db.execute("INSERT INTO iwlz_toewijzing (client, besluitnummer, product, instelling, ingangsdatum, "
                   "zorgkantoor, message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (client, besluitnummer, product, instelling, ingangsdatum, zorgkantoor, message_id))


def besluiten(db: Database, sender: str, client: str) -> list[Row]:
    """(besluitnummer, afgiftedatum) of every earlier indicatiebesluit of this indicatieorgaan for one client."""
    return db.execute("SELECT besluitnummer, afgiftedatum FROM iwlz_besluit WHERE sender = ? AND client = ? "
                      "ORDER BY besluitnummer", (sender, client))


def add_besluit(db: Database, sender: str, client: str, besluitnummer: int, afgiftedatum: str,
                message_id: str) -> None:
    if not db.execute("SELECT 1 FROM iwlz_besluit WHERE sender = ? AND client = ? AND besluitnummer = ?",
                      (sender, client, besluitnummer)):
        db.execute("INSERT INTO iwlz_besluit (sender, client, besluitnummer, afgiftedatum, message_id) "
                   "VALUES (?, ?, ?, ?, ?)", (sender, client, besluitnummer, afgiftedatum, message_id))


def has_aanleveringen(db: Database, sender: str, msg_code: str, client: str) -> bool:
    return bool(db.execute("SELECT 1 FROM iwlz_aanlevering WHERE sender = ? AND msg_code = ? AND client = ? LIMIT 1",
                           (sender, msg_code, client)))


def aanlevering_status(db: Database, sender: str, msg_code: str, client: str, unit_key: str) -> str | None:
    """The StatusAanlevering of the latest accepted aanlevering with this key, or None."""
    rows = db.execute("SELECT status FROM iwlz_aanlevering WHERE sender = ? AND msg_code = ? AND client = ? "
                      "AND unit_key = ?", (sender, msg_code, client, unit_key))
    return str(rows[0][0]) if rows else None


def set_aanlevering(db: Database, sender: str, msg_code: str, client: str, unit_key: str, status: str,
                    message_id: str) -> None:
    db.execute("DELETE FROM iwlz_aanlevering WHERE sender = ? AND msg_code = ? AND client = ? AND unit_key = ?",
               (sender, msg_code, client, unit_key))
    db.execute("INSERT INTO iwlz_aanlevering (sender, msg_code, client, unit_key, status, message_id) "
               "VALUES (?, ?, ?, ?, ?, ?)", (sender, msg_code, client, unit_key, status, message_id))


# ----- what the hub wrote for XML-only parties (hub/flows/iwlz/speak.py, retour.py) ---------------
def add_sent(db: Database, row: Sequence[Any]) -> None:
    """(recipient, identificatie, message_id, msg, subject, record_id, origin, sent_at); a repeat is a no-op."""
    db.execute("INSERT INTO iwlz_sent (recipient, identificatie, message_id, msg, subject, record_id, origin, "
               "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", row)


def sent(db: Database, recipient: str, identificatie: str) -> Row | None:
    """(message_id, msg, subject, record_id, origin) of the message sent to ``recipient`` under ``identificatie``."""
    rows = db.execute("SELECT message_id, msg, subject, record_id, origin FROM iwlz_sent "
                      "WHERE recipient = ? AND identificatie = ?", (recipient, identificatie))
    return rows[0] if rows else None
