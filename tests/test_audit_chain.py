"""Tamper evidence of the message store, through `zorghub audit verify`, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli.main import main
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database

KEY = b"test-key-for-the-audit-chain"


def build(url: str, n: int = 20) -> Database:
    db = Database(url)
    log = AuditLog(db, KEY)
    log.append(AuditRecord(action="received", actor="ciz", message_id=f"m{i}", kind="echo",
                           payload=f"payload {i}".encode()) for i in range(n // 2))
    log.append(AuditRecord(action="delivered", actor="ciz", recipient="cak", message_id=f"m{i}")
               for i in range(n - n // 2))
    return db


def edit(db: Database) -> None:
    db.execute("UPDATE audit SET reason = 'nothing to see' WHERE seq = 7")


def delete(db: Database) -> None:
    db.execute("DELETE FROM audit WHERE seq = 7")


def insert(db: Database) -> None:
    cols = [r for r in db.execute("SELECT * FROM audit WHERE seq = 6")][0]
    db.execute("UPDATE audit SET seq = seq + 1000 WHERE seq >= 7")
    db.execute("UPDATE audit SET seq = seq - 999 WHERE seq >= 1000")
    forged = list(cols)
    forged[0] = 7
    forged[-2] = cols[-1]  # links correctly to record 6 ...
    forged[-1] = "f" * 64  # ... but no one without the key can compute its hash
    db.execute(f"INSERT INTO audit VALUES ({', '.join('?' for _ in forged)})", forged)


def swap(db: Database) -> None:
    db.execute("UPDATE audit SET seq = -1 WHERE seq = 7")
    db.execute("UPDATE audit SET seq = 7 WHERE seq = 8")
    db.execute("UPDATE audit SET seq = 8 WHERE seq = -1")


@pytest.mark.parametrize("tamper,expected", [
    (edit, "record 7 was altered"),
    (delete, "record 7 is missing"),
    (insert, "BROKEN at record 7"),
    (swap, "record 7 does not link to record 6"),
], ids=["edited", "deleted", "inserted", "swapped"])
def test_verify_names_the_tampered_record(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tamper: Callable[[Database], None], expected: str,
) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZORGHUB_PSEUDONYM_KEY", KEY.decode())
    db = build(store_url)
    assert main(["--store", store_url, "audit", "verify"]) == 0
    assert "ok: 20 records verified" in capsys.readouterr().out
    tamper(db)
    assert main(["--store", store_url, "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert expected in err and "BROKEN at record 7" in err
    db.close()


def test_verify_with_another_key_fails(tmp_path: Path) -> None:
    """Refused as a wrong key when the store is opened, by its fingerprint, and by the oldest record without one."""
    from hub.store.errors import WrongKey

    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    build(url)
    with pytest.raises(WrongKey, match=r"wrong hub key \(fingerprint"):
        AuditLog(Database(url), b"another key")
    Database(url).execute("DELETE FROM meta WHERE name = ?", ("key_fingerprint",))
    with pytest.raises(WrongKey, match="wrong hub key: record 1, the oldest in the store, does not verify"):
        AuditLog(Database(url), b"another key")


def test_group_commit_of_many_records_verifies(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    log = AuditLog(db, KEY)
    for _ in range(5):
        log.append(AuditRecord(action="received", actor="ciz", message_id=str(i)) for i in range(1000))
    result = log.verify()
    assert result.ok and result.checked == 5000


@pytest.mark.parametrize("tamper,expected_seq", [
    (lambda db: db.execute("UPDATE audit SET reason = 'x' WHERE seq = 1400"), 1400),
    (lambda db: db.execute("DELETE FROM audit WHERE seq = 1500"), 1500),  # the last record of the first slice
    (lambda db: db.execute("DELETE FROM audit WHERE seq = 1501"), 1501),  # the first record of the second
    (lambda db: db.execute("UPDATE audit SET seq = -1 WHERE seq = 1500")
     or db.execute("UPDATE audit SET seq = 1500 WHERE seq = 1501")
     or db.execute("UPDATE audit SET seq = 1501 WHERE seq = -1"), 1500),  # a swap across the boundary
    (lambda db: db.execute("UPDATE audit SET reason = 'x' WHERE seq = 2900"), 2900),
], ids=["edit-first-slice", "delete-slice-end", "delete-slice-start", "swap-across-boundary", "edit-last-slice"])
def test_parallel_verify_gives_the_single_pass_verdict(tmp_path: Path, tamper: Callable[[Database], object],
                                                       expected_seq: int) -> None:
    from hub.store.audit import verify_parallel

    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    db = build(url, n=3000)
    assert verify_parallel(url, KEY, workers=2, min_records=1).ok
    tamper(db)
    single = AuditLog(db, KEY).verify()
    parallel = verify_parallel(url, KEY, workers=2, min_records=1)
    assert not parallel.ok and parallel.first_bad_seq == single.first_bad_seq == expected_seq
    assert parallel.problem == single.problem
    db.close()


def test_a_record_made_in_one_step_is_the_one_the_constructor_makes() -> None:
    fields = {"action": "delivered", "actor": "ciz", "actor_role": "indicatiesteller", "kind": "indicatiebesluit",
              "message_id": "m-1", "recipient": "zk-utrecht", "payload": b"{}", "content_type": "application/json"}
    made, built = AuditRecord.of(dict(fields)), AuditRecord(**fields)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert (made.payload, made.content_type, made.seq, made.outcome) == (b"{}", "application/json", 0, "success")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.action = "rewritten"  # type: ignore[misc]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        AuditRecord.of({"action": "x", "actor": "y", "bogus": 1})
    with pytest.raises(TypeError, match="actor"):
        AuditRecord.of({"action": "x"})
