"""Issue 18, acceptance 3 and 4: no BSN in clear at rest after the demo, and crypto-shredding by retention."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.auditor.replay import fetch_payloads, missing_reason
from hub.auditor.retention import RetentionPolicy, prune_payloads
from hub.cli.main import main
from hub.settings import Settings
from hub.store import payloads
from hub.testing import GEELHOED, TestHub

#: every BSN the demo's seeds carry (Mr Geelhoed and the second client of the network seed)
DEMO_BSNS = (b"999990019", b"999991772")
BSN = GEELHOED["bsn"].encode()


def _store_files(home: Path) -> list[Path]:
    return [p for p in home.iterdir() if p.name.startswith("hub.sqlite3")]


def test_no_bsn_in_the_sqlite_file_or_its_wal_after_the_demo(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)
    assert main(["demo"]) == 0
    assert "Seed 004 passed every check." in capsys.readouterr().out
    files = _store_files(Path(settings.home))
    assert any(p.name == "hub.sqlite3" for p in files)
    for path in files:
        data = path.read_bytes()
        for bsn in DEMO_BSNS:
            assert bsn not in data, f"a BSN in clear in {path.name}"
    # and the key-encryption key is not in the data directory
    assert not any("kek" in p.name for p in Path(settings.home).iterdir())
    assert main(["audit", "verify"]) == 0


@pytest.mark.postgres
def test_no_bsn_in_a_pg_dump_after_the_seeds(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZORGHUB_STORE_URL", pg_url)
    assert main(["demo"]) == 0
    capsys.readouterr()
    base, _, query = pg_url.partition("?")
    schema = query.removeprefix("schema=")
    assert schema.startswith("zh_")  # this test's own schema, not the database others share
    args = [pg_dump, "--data-only", "--schema", schema, base]
    dump = subprocess.run(args, capture_output=True, check=True).stdout
    assert b"COPY " + schema.encode() + b".audit" in dump and b".nw_record" in dump  # the hub's tables
    for bsn in DEMO_BSNS:
        assert bsn not in dump


def _send(ctx: TestHub, n: int, client: str) -> None:
    ctx.send("ciz", "indicatiebesluit", {"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01", "zzp": "5VV",
                                         "client": client, "voorkeurZorgaanbieder": "73730800"}, client_key=f"k{n}")


def test_shredded_payloads_are_gone_and_verify_still_passes(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ctx = TestHub(settings, out=lambda _: None)
    try:
        for n in range(3):
            _send(ctx, n, GEELHOED)
        log = ctx.app.audit
        delivered = log.records("action = ?", ("delivered",))
        digest = delivered[0].payload_sha256
        raw = bytes(log.db.execute("SELECT body FROM payloads WHERE sha256 = ?", (digest,))[0][0])
        assert raw.startswith(payloads.MAGIC) and BSN not in raw  # sealed
        body = log.payload(digest, verify=True)
        assert body is not None and BSN in body  # and opens byte for byte
        live = payloads.key_counts(log.db)
        assert live.live > 0 and live.shredded == 0

        later = datetime.now(UTC) + timedelta(days=62)
        assert prune_payloads(log, RetentionPolicy(payload_days=30), now=later).pruned > 0
        counts = payloads.key_counts(log.db)
        assert counts.shredded > 0
        # the ciphertext is still in the file, but nothing opens it any more
        assert bytes(log.db.execute("SELECT body FROM payloads WHERE sha256 = ?", (digest,))[0][0]) == raw
        assert log.payload(digest) is None
        # what replay (delivering and dry run) tells of each such message
        digests = {r.payload_sha256 for r in delivered}
        stored = fetch_payloads(log, digests)
        why = {missing_reason(d, stored) for d in digests}
        assert all(w.startswith("the payload is gone: shredded on " + later.date().isoformat()) for w in why)
    finally:
        ctx.close()
    _cli_at(monkeypatch, settings)
    assert main(["audit", "tree-head"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0  # the chain, the tree and the heads do not need the bodies
    assert "Merkle tree over" in capsys.readouterr().out


def test_key_rotation_rewraps_the_data_keys_only(settings: Settings, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ctx = TestHub(settings, out=lambda _: None)
    try:
        _send(ctx, 1, GEELHOED)
        log = ctx.app.audit
        digest = log.records("action = ?", ("delivered",))[0].payload_sha256
        before = log.db.execute("SELECT sha256, body FROM payloads ORDER BY sha256")
        wrapped = log.db.execute("SELECT key_id, wrapped FROM data_keys ORDER BY key_id")
    finally:
        ctx.close()
    _cli_at(monkeypatch, settings)
    new = tmp_path / "new-kek.key"
    assert main(["audit", "payload-keys", "rotate", "--to", f"file:{new}", "--as", "auditor"]) == 0
    assert "re-wrapped" in capsys.readouterr().out
    monkeypatch.setenv("ZORGHUB_PAYLOAD_KEK", f"file:{new}")
    again = TestHub(settings.replace(payload_kek=f"file:{new}"), out=lambda _: None)  # the same home and store
    try:
        db = again.app.db
        assert db.execute("SELECT sha256, body FROM payloads ORDER BY sha256") == before  # bodies untouched
        assert db.execute("SELECT key_id, wrapped FROM data_keys ORDER BY key_id") != wrapped
        body = again.app.audit.payload(digest, verify=True)
        assert body is not None and BSN in body
    finally:
        again.close()


def _cli_at(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI on the test's own home and store (SQLite in the home, or the PostgreSQL pass's schema)."""
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    if settings.store_url:
        monkeypatch.setenv("ZORGHUB_STORE_URL", settings.store_url)
    else:
        monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)


def test_bodies_with_no_client_share_the_days_data_key_and_todays_key_outlives_a_prune(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """One data key a day for the bodies with no client (not one a message); a store's older per-message
    keys still open their bodies; a prune shreds a past day's key and spares today's, emptying its bodies."""
    from hub.store import audit as auditmod
    from hub.store.audit import AuditRecord, sha256

    ctx = TestHub(settings, out=lambda _: None)
    try:
        log = ctx.app.audit
        db = log.db
        bodies = {}
        for n, day in enumerate(("2026-10-01", "2026-10-01", "2026-10-02")):
            monkeypatch.setattr(auditmod, "now_iso", lambda day=day: f"{day}T10:00:00.000000+00:00")
            body = f'{{"echo": {n}}}'.encode()
            bodies[sha256(body)] = body
            with db.transaction(lock=log.LOCK):
                log.append_in_tx([AuditRecord(action="received", actor="ciz", kind="echo", message_id=f"e-{n}",
                                              ts=f"{day}T10:00:00.000000+00:00", payload=body,
                                              content_type="application/json")])
        old = b'{"echo": "from an earlier release"}'
        with db.transaction():  # sealed as earlier releases did: a key of its own
            payloads.insert(db, [(sha256(old), "application/json", old, "2026-09-30T10:00:00.000000+00:00",
                                  "m:2026-09-30T10:00:00.000000+00:00:0123456789abcdef")])
        bodies[sha256(old)] = old

        def key_of(digest: str) -> str | None:
            return payloads.split(bytes(db.execute("SELECT body FROM payloads WHERE sha256 = ?", (digest,))[0][0]))[0]

        assert [key_of(d) for d in bodies] == ["d:2026-10-01", "d:2026-10-01", "d:2026-10-02",
                                               "m:2026-09-30T10:00:00.000000+00:00:0123456789abcdef"]
        assert payloads.key_counts(db).live == len({key_of(d) for d in bodies})  # 3 keys for 4 bodies
        assert all(log.payload(d, verify=True) == b for d, b in bodies.items())  # each opens byte for byte

        pruned, _ = payloads.prune_older(db, "2026-10-03", (), "2026-10-02T18:00:00.000000+00:00")
        assert pruned == 4
        keys = dict(db.execute("SELECT key_id, wrapped IS NULL FROM data_keys"))
        assert keys == {"d:2026-10-01": 1, "d:2026-10-02": 0,
                        "m:2026-09-30T10:00:00.000000+00:00:0123456789abcdef": 1}  # today's key is spared
        assert all(log.payload(d) is None for d in bodies)  # and yet no body opens any more: emptied or shredded
    finally:
        ctx.close()
