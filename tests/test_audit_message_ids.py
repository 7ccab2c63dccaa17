"""Message ids may be typed short: a unique prefix names one message, a full id wins over ids derived from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.auditor.search import AuditFilter, UnknownMessage, format_table, resolve_message_id, search
from hub.settings import Settings
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database

FIRST = "4f1c2a9e-0001-4000-8000-000000000001"
SECOND = "4f1c2a9e-0002-4000-8000-000000000002"


@pytest.fixture
def log(settings: Settings) -> Iterator[AuditLog]:
    db = Database(settings.effective_store_url)
    log = AuditLog(db, settings.key_bytes())
    log.append([AuditRecord(action="received", actor="ciz", message_id=m)
                for m in (FIRST, f"{FIRST}:receipt", SECOND)])
    yield log
    db.close()


def test_a_unique_prefix_names_one_message(log: AuditLog) -> None:
    assert resolve_message_id(log, "4f1c2a9e-0002") == SECOND
    assert resolve_message_id(log, FIRST) == FIRST  # a full id, though FIRST:receipt starts with it too
    assert resolve_message_id(log, f"{FIRST}:r") == f"{FIRST}:receipt"


def test_an_ambiguous_or_unknown_prefix_is_refused(log: AuditLog) -> None:
    with pytest.raises(UnknownMessage, match="ambiguous: 3 message ids start with it"):
        resolve_message_id(log, "4f1c")
    with pytest.raises(UnknownMessage, match="no recorded message id starts with 'abc'"):
        resolve_message_id(log, "abc")


def test_listings_show_message_ids_in_full(log: AuditLog) -> None:
    table = format_table(search(log, AuditFilter(message_id=SECOND)))
    assert SECOND in table
