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
from hub.cli.status import ExitStatus
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
    from hub.testing import GEELHOED, TestHub

    ctx = TestHub(settings.replace(audit_checkpoint_every=10), out=lambda _: None)
    try:
        for n in range(8):  # 5 records each: received, 4 delivered
            ctx.send("ciz", "indicatiebesluit", {"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01",
                                                 "zzp": "5VV", "client": GEELHOED,
                                                 "voorkeurZorgaanbieder": "73730800"}, client_key="c1")
        log = ctx.app.audit
        signed = log.records("action = ?", (CHECKPOINT_ACTION,))
        # one batch per message here: a checkpoint after every second one (10 records), signing the head
        assert [int(r.record_id) for r in signed] == [10, 21, 32, 43]
        assert all(r.seq == int(r.record_id) + 1 for r in signed)
        assert check_stored(log, settings.key_bytes()).ok
        assert log.verify().ok
    finally:
        ctx.close()


def test_checkpoints_as_it_goes_can_be_off(settings: Settings) -> None:
    from hub.testing import GEELHOED, TestHub

    ctx = TestHub(settings.replace(audit_checkpoint_every=0), out=lambda _: None)
    try:
        for n in range(3):
            ctx.send("ciz", "indicatiebesluit", {"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01",
                                                 "zzp": "5VV", "client": GEELHOED,
                                                 "voorkeurZorgaanbieder": "73730800"}, client_key="c1")
        assert ctx.app.audit.records("action = ?", (CHECKPOINT_ACTION,)) == []
        assert ctx.app.audit.count() == 15
    finally:
        ctx.close()


# ----- acceptance 4: what the chain alone cannot show (issue 13) ------------------------------------
def _cli_store(url: str, tmp_path: Path, home: Path | None = None) -> Path:
    """A config file naming the store and a home that holds the key the test log was written with."""
    home = home or tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "hub.key").write_text(KEY.decode())
    cfg = tmp_path / f"{home.name}.toml"
    cfg.write_text(f'home = "{home}"\nstore_url = "{url}"\n')
    return cfg


def _checkpointed_log(url: str) -> AuditLog:
    """40 records, a checkpoint record (41), 4 more records (42-45)."""
    log = _log(url)
    append_checkpoint(log, KEY)
    log.append([AuditRecord(action="received", actor="ciz", payload=f"after {i}".encode()) for i in range(4)])
    return log


def _verify(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", str(cfg), "audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _digest(log: AuditLog, seq: int) -> str:
    return str(log.db.execute("SELECT payload_sha256 FROM audit WHERE seq = ?", (seq,))[0][0])


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)  # each test's store is the one its config file names


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_passes_an_intact_store(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _checkpointed_log(store_url)
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 0 and "ok: 45 records verified" in out, out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_fails_on_an_emptied_log(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    log.db.execute("DELETE FROM audit")
    assert log.verify().ok and log.count() == 0  # an empty chain is a valid chain...
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1  # ...but not an empty log where 45 records were written
    assert "BROKEN at record 1" in out and "the audit log is empty, but the store has written 45 record(s)" in out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_fails_on_a_tail_cut_behind_the_last_checkpoint(store_url: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    log.db.execute("DELETE FROM audit WHERE seq > ?", (37,))  # the checkpoint record (41) goes with the tail
    assert log.verify().ok
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1
    assert "BROKEN at record 38" in out and "truncated: it ends at record 37, before its last checkpoint (record 41)" \
        in out, out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_fails_on_a_tail_cut_after_the_last_checkpoint(store_url: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    log.db.execute("DELETE FROM audit WHERE seq > ?", (43,))
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1 and "BROKEN at record 44" in out and "written up to record 45" in out, out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_fails_on_an_altered_payload_body(store_url: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    digest = _digest(log, 7)
    log.db.execute("UPDATE payloads SET body = ? WHERE sha256 = ?", (b'{"forged": true}', digest))
    assert log.verify().ok  # the chain signs the digest, not the row that holds the body
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1
    assert f"BROKEN at record 7: record 7's payload {digest[:12]}… was altered" in out, out


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("how", ["row deleted", "body emptied"])
def test_cli_verify_fails_on_a_deleted_payload_body(store_url: str, tmp_path: Path, how: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    digest = _digest(log, 23)
    if how == "row deleted":
        log.db.execute("DELETE FROM payloads WHERE sha256 = ?", (digest,))
    else:  # as retention would, but without saying so
        log.db.execute("UPDATE payloads SET body = NULL WHERE sha256 = ?", (digest,))
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1
    assert f"BROKEN at record 23: record 23's payload {digest[:12]}… is missing" in out, out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_accepts_a_body_pruned_by_retention(store_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from hub.auditor.retention import RetentionPolicy, prune_payloads

    log = _checkpointed_log(store_url)
    assert prune_payloads(log, RetentionPolicy(payload_days=1), now=datetime.now(UTC) + timedelta(days=3)).pruned == 44
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 0 and "ok: 45 records verified" in out, out


@pytest.mark.usefixtures("cli_env")
def test_cli_verify_fails_when_the_stores_own_record_is_removed(store_url: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    log = _checkpointed_log(store_url)
    log.db.execute("DELETE FROM meta WHERE name = ?", ("audit_high_seq",))
    code, out = _verify(_cli_store(store_url, tmp_path), capsys)
    assert code == 1 and "meta audit_high_seq" in out, out


@pytest.mark.usefixtures("cli_env")
def test_a_wrong_key_is_refused_not_reported_as_tampering(store_url: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from hub.store.audit import key_fingerprint
    from hub.store.errors import WrongKey

    _checkpointed_log(store_url)
    cfg = _cli_store(store_url, tmp_path, tmp_path / "other-home")
    (tmp_path / "other-home" / "hub.key").write_text("a-different-hubs-key")
    for command in (["audit", "verify"], ["status"], ["audit", "search", "--as", "auditor"]):
        assert main(["--config", str(cfg), *command]) == ExitStatus.CONFIG
        err = capsys.readouterr().err
        assert (f"wrong hub key (fingerprint {key_fingerprint(b'a-different-hubs-key')[:8]}… "
                f"expected {key_fingerprint(KEY)[:8]}…)") in err, err
        assert "altered" not in err and "BROKEN" not in err
    with pytest.raises(WrongKey):
        AuditLog(Database(store_url), b"another key")


def test_replay_refuses_an_altered_body(settings: Settings, tmp_path: Path) -> None:
    from hub.auditor.replay import Replayer, Target
    from hub.auditor.search import AuditFilter
    from tests.audit_helpers import feed, hub_settings, open_hub

    hub = open_hub(hub_settings(settings, tmp_path, f"sqlite:///{tmp_path / 'replay.sqlite3'}"))
    try:
        feed(hub, 40, seed=3)
        log = hub.app.audit
        delivered = log.records("action = ? AND kind = ?", ("delivered", "echo"))
        victim = delivered[2]
        log.db.execute("UPDATE payloads SET body = ? WHERE sha256 = ?", (b'{"forged": 1}', victim.payload_sha256))
        replayer = Replayer(log, hub.transport, hub.app.topology, "auditor")
        result = replayer.run(replayer.start(AuditFilter(kind="echo"), Target(sandbox="zh-sb")))
        got = hub.transport.get("zh-sb", 1000)
        assert b'{"forged": 1}' not in [m.body for m in got]
        assert [seq for seq, _, _ in result.skipped] == [victim.seq] and "altered" in result.skipped[0][2]
        assert result.delivered == len(got) == len(delivered) - 1
    finally:
        hub.close()


def test_the_workers_resend_refuses_an_altered_body(settings: Settings, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A redelivered message whose output was never confirmed is sent again from the store: never a changed body."""
    import dataclasses

    from tests.audit_helpers import hub_settings, open_hub

    hub = open_hub(hub_settings(settings, tmp_path, f"sqlite:///{tmp_path / 'resend.sqlite3'}"))
    try:
        def process_unconfirmed(message_id: str) -> str:
            """Processed and delivered, but (as after a crash) the broker's confirm never recorded."""
            hub.client("ciz").send("echo", {"to": "cak", "text": f"ping {message_id}"}, message_id=message_id)
            hub.drain()
            assert len(hub.inbox("cak")) == 1
            with hub.app.db.transaction():  # as a store from before the outbox marked it: done, not published
                hub.app.processed.mark_in_tx([(message_id, "ciz", "delivered", "2026-01-01T00:00:00Z")])
            (digest,) = [r.payload_sha256 for r in hub.app.audit.for_message(message_id) if r.action == "delivered"]
            return digest

        def redeliver(message_id: str) -> None:
            hub.client("ciz").send("echo", {"to": "cak", "text": f"ping {message_id}"}, message_id=message_id)
            raws = hub.transport.get(hub.app.topology.shard(0), 10, ack=False)
            assert len(raws) == 1
            hub.worker.handle_batch([dataclasses.replace(raws[0], redelivered=True)])

        digest = process_unconfirmed("m-intact")
        redeliver("m-intact")
        assert [m.body for m in hub.inbox("cak")] == [hub.app.audit.payload(digest)]  # sent again, as stored

        digest = process_unconfirmed("m-altered")
        hub.app.db.execute("UPDATE payloads SET body = ? WHERE sha256 = ?", (b'{"forged": 1}', digest))
        with caplog.at_level("ERROR", logger="zorghub"):
            redeliver("m-altered")
        assert hub.inbox("cak") == []
        assert any("m-altered: not sent again to cak" in r.getMessage() and "altered" in r.getMessage()
                   for r in caplog.records)
    finally:
        hub.close()
