"""Acceptance 1: verify detects and names an edited, deleted, inserted or reordered record, and a truncated
tail checked against an exported checkpoint; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hub.auditor.checkpoints import (
    CHECKPOINT_ACTION,
    Checkpoint,
    append_checkpoint,
    check_against,
    check_stored,
    checkpoint_key,
    head_checkpoint,
)
from hub.cli.main import main
from hub.settings import Settings
from hub.store.audit import COLUMNS, AuditLog, AuditRecord, record_hash
from hub.store.db import Database

KEY = b"test-key-for-the-audit-chain-000"
N = 40


def _log(url: str) -> AuditLog:
    log = AuditLog(Database(url), KEY)
    recs = []
    for i in range(N):
        recs.append(AuditRecord(action=("received", "routed", "delivered", "delivered")[i % 4], actor="ciz",
                                actor_role="indicatieorgaan", recipient="zk-utrecht" if i % 4 > 1 else "",
                                kind="indicatiebesluit", message_id=f"m-{i // 4}", client="p-" + "ab" * 16,
                                payload=f"payload {i}".encode(), content_type="application/json"))
    log.append(recs[:N // 2])
    log.append(recs[N // 2:])
    assert log.verify().ok
    return log


def _shift(db: Database, after: int, by: int) -> None:
    db.execute("UPDATE audit SET seq = seq + 1000000 WHERE seq > ?", (after,))
    db.execute("UPDATE audit SET seq = seq - 1000000 + ? WHERE seq > 1000000", (by,))


def test_edited_record_is_named(store_url: str) -> None:
    log = _log(store_url)
    log.db.execute("UPDATE audit SET recipient = ? WHERE seq = ?", ("zk-amsterdam", 12))
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 12 and "altered" in result.problem
    assert result.checked == 11


def test_deleted_record_is_named(store_url: str) -> None:
    log = _log(store_url)
    log.db.execute("DELETE FROM audit WHERE seq = ?", (17,))
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 17 and "missing" in result.problem


def test_deleted_and_renumbered_is_named(store_url: str) -> None:
    log = _log(store_url)  # a careful forger closes the gap
    log.db.execute("DELETE FROM audit WHERE seq = ?", (17,))
    _shift(log.db, 17, -1)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 17


def test_inserted_record_is_named(store_url: str) -> None:
    log = _log(store_url)
    _shift(log.db, 9, 1)  # make room at 10, then forge a record there that links to 9
    prev = log.db.execute("SELECT hash FROM audit WHERE seq = 9")[0][0]
    forged = AuditRecord(action="delivered", actor="ciz", recipient="nza", kind="indicatiebesluit", seq=10,
                         ts="2026-01-01T00:00:00Z")
    values = [getattr(forged, c) for c in COLUMNS[:-2]]
    row = (*values, prev, record_hash(b"not-the-hub-key", prev, values))
    log.db.execute(f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})", row)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 10 and "altered" in result.problem


def test_reordered_records_are_named(store_url: str) -> None:
    log = _log(store_url)
    log.db.execute("UPDATE audit SET seq = -1 WHERE seq = 21")
    log.db.execute("UPDATE audit SET seq = 21 WHERE seq = 22")
    log.db.execute("UPDATE audit SET seq = 22 WHERE seq = -1")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 21


def test_range_verify(store_url: str) -> None:
    log = _log(store_url)
    log.db.execute("UPDATE audit SET reason = ? WHERE seq = ?", ("edited", 30))
    assert log.verify(1, 29).ok
    assert log.verify(25, 35).first_bad_seq == 30


def test_truncated_tail_is_detected_with_an_exported_checkpoint(store_url: str, tmp_path: Path) -> None:
    log = _log(store_url)
    cp = head_checkpoint(log, KEY)
    path = tmp_path / "checkpoint.json"
    cp.save(path)
    assert check_against(log, KEY, Checkpoint.load(path)).ok
    log.db.execute("DELETE FROM audit WHERE seq > ?", (N - 3,))
    assert log.verify().ok  # the shorter chain is still a valid chain...
    result = check_against(log, KEY, Checkpoint.load(path))  # ...but not the one the checkpoint signed
    assert not result.ok and result.bad_seq == N - 2 and "truncated" in result.problem


def test_truncate_and_regrow_is_detected(store_url: str) -> None:
    log = _log(store_url)
    cp = head_checkpoint(log, KEY)
    log.db.execute("DELETE FROM audit WHERE seq > ?", (N - 5,))
    log.append([AuditRecord(action="received", actor="ciz") for _ in range(10)])  # regrown past the checkpoint
    assert log.verify().ok
    result = check_against(log, KEY, cp)
    assert not result.ok and result.bad_seq == N and "rewritten" in result.problem


def test_forged_checkpoint_is_refused(store_url: str) -> None:
    log = _log(store_url)
    cp = head_checkpoint(log, KEY)
    forged = Checkpoint.from_dict({**orjson.loads(cp.to_json()), "seq": 5})
    assert not check_against(log, KEY, forged).ok
    assert not check_against(log, b"another hub's key", cp).ok
    assert checkpoint_key(KEY) != KEY


def test_checkpoint_records_in_the_log(store_url: str) -> None:
    log = _log(store_url)
    cp, rec = append_checkpoint(log, KEY)
    assert rec.seq == N + 1 and cp.seq == N
    assert log.verify().ok and check_stored(log, KEY).ok
    log.db.execute("UPDATE audit SET hash = ? WHERE seq = ?", ("0" * 64, N))
    assert not check_stored(log, KEY).ok


def test_cli_verify_with_checkpoint(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)  # this test's store is the one its config file names
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    cfg = tmp_path / "zorghub.toml"
    cfg.write_text(f'home = "{settings.home}"\nstore_url = "{url}"\npseudonym_key = "{KEY.decode()}"\n')
    _log(url)
    cp_file = tmp_path / "cp.json"
    assert main(["--config", str(cfg), "audit", "checkpoint", "--export", str(cp_file)]) == 0
    assert main(["--config", str(cfg), "audit", "verify", "--checkpoint", str(cp_file)]) == 0
    assert "records/s" in capsys.readouterr().out
    Database(url).execute("DELETE FROM audit WHERE seq > ?", (N - 2,))
    assert main(["--config", str(cfg), "audit", "verify", "--checkpoint", str(cp_file)]) == 1
    err = capsys.readouterr().err
    assert f"BROKEN at record {N - 1}" in err and "truncated" in err


def test_a_worker_signs_checkpoints_as_it_goes(settings: Settings) -> None:
    from hub.demo import GEELHOED, DemoContext

    ctx = DemoContext(settings.replace(audit_checkpoint_every=10), out=lambda _: None)
    try:
        for n in range(8):  # 6 records each: received, routed, 4 delivered
            ctx.send("ciz", "indicatiebesluit", {"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01",
                                                 "zzp": "5VV", "client": GEELHOED,
                                                 "voorkeurZorgaanbieder": "73730800"}, client_key="c1")
        log = ctx.app.audit
        signed = log.records("action = ?", (CHECKPOINT_ACTION,))
        # one batch per message here: a checkpoint after every second one (12 records), signing the head
        assert [int(r.record_id) for r in signed] == [12, 25, 38, 51]
        assert all(r.seq == int(r.record_id) + 1 for r in signed)
        assert check_stored(log, settings.key_bytes()).ok
        assert log.verify().ok
    finally:
        ctx.close()


def test_checkpoints_as_it_goes_can_be_off(settings: Settings) -> None:
    from hub.demo import GEELHOED, DemoContext

    ctx = DemoContext(settings.replace(audit_checkpoint_every=0), out=lambda _: None)
    try:
        for n in range(3):
            ctx.send("ciz", "indicatiebesluit", {"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01",
                                                 "zzp": "5VV", "client": GEELHOED,
                                                 "voorkeurZorgaanbieder": "73730800"}, client_key="c1")
        assert ctx.app.audit.records("action = ?", (CHECKPOINT_ACTION,)) == []
        assert ctx.app.audit.count() == 18
    finally:
        ctx.close()
