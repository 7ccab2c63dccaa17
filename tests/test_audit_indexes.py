"""The audit log's search indexes: none on ``action`` as a whole, partial ones for the rare actions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.store import auditqueries
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database
from hub.store.migrations import CHECKPOINT_ACTION


def _log(url: str) -> AuditLog:
    log = AuditLog(Database(url), b"k")
    log.db.execute("CREATE INDEX audit_action ON audit (action)")  # a store of an earlier release
    auditqueries.ensure_search_indexes(log.db)
    log.append([AuditRecord(action="received", actor="ciz", message_id=f"m{i}") for i in range(50)])
    log.append([AuditRecord(action=CHECKPOINT_ACTION, actor="hub"),
                AuditRecord(action="authz.read", actor="zk-utrecht", outcome="deny"),
                AuditRecord(action="authz.read", actor="zk-utrecht", outcome="allow"),
                AuditRecord(action="delivered", actor="ciz", recipient="zonnehof")])
    log.append([AuditRecord(action=CHECKPOINT_ACTION, actor="hub")])
    return log


def test_the_rare_actions_are_found_as_before_on_both_stores(store_url: str) -> None:
    log = _log(store_url)
    try:
        assert auditqueries.last_seq_of(log.db, CHECKPOINT_ACTION) == 55
        assert [r.seq for r in auditqueries.with_action(log.db, CHECKPOINT_ACTION)] == [51, 55]
        assert [r.seq for r in auditqueries.with_action(log.db, CHECKPOINT_ACTION, 52, 54)] == []
        assert [r.seq for r in auditqueries.with_action(log.db, "delivered")] == [54]
        assert auditqueries.last_seq_of(log.db, "received") == 50
        assert [(r.seq, r.outcome) for r in auditqueries.refusals(log.db, "authz.")] == [(52, "deny")]
        names = {r[0] for r in log.db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'audit' AND schemaname = current_schema()"
            if log.db.is_postgres else "SELECT name FROM sqlite_master WHERE tbl_name = 'audit'")}
        assert "audit_action" not in names  # an earlier release's index goes
        assert {"audit_checkpoints", "audit_denied", "audit_ts", "audit_actor", "audit_recipient"} <= names
    finally:
        log.db.close()


def test_only_the_rare_records_enter_their_indexes_and_their_queries_use_them(tmp_path: Path) -> None:
    """A commit of ordinary records writes no page of the partial indexes; the lookups read them."""
    path = tmp_path / "store.sqlite3"
    log = _log(f"sqlite:///{path}")
    statements: list[str] = []
    try:
        log.db._conn.set_trace_callback(statements.append)  # the SQL as run, its values bound
        auditqueries.last_seq_of(log.db, CHECKPOINT_ACTION)
        auditqueries.with_action(log.db, CHECKPOINT_ACTION)
        auditqueries.refusals(log.db, "authz.")
        log.db._conn.set_trace_callback(None)
    finally:
        log.db.close()
    con = sqlite3.connect(path)
    try:
        cells = dict(con.execute("SELECT name, SUM(ncell) FROM dbstat WHERE name IN "
                                 "('audit_checkpoints', 'audit_denied') GROUP BY name"))
        assert cells == {"audit_checkpoints": 2, "audit_denied": 1}
        plans = [" ".join(str(row[-1]) for row in con.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]
        assert len(plans) == 3
        assert "audit_checkpoints" in plans[0] and "audit_checkpoints" in plans[1], plans
        assert "audit_denied" in plans[2], plans
    finally:
        con.close()
