"""Issue 18, acceptance 1 and 2: a witness catches every rewrite of a history it saw a head of, and the
CLI's inclusion and consistency proofs verify in the standalone verifier (and fail when altered)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zorghub_verify as zv
from hub.auditor import treehead
from hub.cli.main import main
from hub.store import integrity, merkle, meta
from hub.store.audit import COLUMNS, GENESIS, AuditLog, AuditRecord, record_hash
from hub.store.db import Database

KEY = b"test-key-for-the-audit-chain-000"
ROOT = Path(zv.__file__).resolve().parent


def _records(n: int, tag: str = "m") -> list[AuditRecord]:
    return [AuditRecord(action="delivered", actor="ciz", recipient="zk-utrecht", kind="indicatiebesluit",
                        message_id=f"{tag}-{i}", client="p-" + "cd" * 16) for i in range(n)]


@pytest.fixture
def cli_env(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config naming the store, a home with the chain key, and the signing key beside (not in) the home."""
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "hub.key").write_text(KEY.decode())
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'home = "{home}"\nstore_url = "{store_url}"\n')
    return cfg


def _run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args])


def _url(cfg: Path) -> str:
    return str(cfg.read_text().split('store_url = "')[1].split('"')[0])


def _sign(cfg: Path, out: Path) -> dict[str, object]:
    assert _run(cfg, "audit", "tree-head", "--export", str(out)) == 0
    return dict(json.loads(out.read_text()))


def _witness(cfg: Path, tmp_path: Path, doc: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = _run(cfg, "audit", "witness", "--public-key", str(tmp_path / "hub.pub"), "--state",
                str(tmp_path / "witness" / "head.json"), str(doc))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _forge_tail(log: AuditLog, keep: int, records: list[AuditRecord]) -> None:
    """What an operator with the store, the hub key and the signing key could do: cut, re-append, re-tree."""
    db = log.db
    db.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    db.execute("DELETE FROM merkle_tile")
    db.execute("DELETE FROM tree_heads")
    meta.put(db, meta.AUDIT_HIGH_SEQ, str(keep))
    if records:
        log.append(records)


def _rekey_from(log: AuditLog, seq: int) -> None:
    """Recompute every chain hash from ``seq`` on with the real hub key, as a forger holding it would."""
    db = log.db
    prev = str(db.execute("SELECT hash FROM audit WHERE seq = ?", (seq - 1,))[0][0]) if seq > 1 else GENESIS
    for row in db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE seq >= ? ORDER BY seq", (seq,)):
        digest = record_hash(KEY, prev, row[:-2])
        db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row[0]))
        prev = digest


@pytest.mark.parametrize("rewrite", ["cut", "cut-and-append", "edit-and-rekey"])
def test_a_witness_catches_each_rewrite(cli_env: Path, tmp_path: Path, rewrite: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_env
    log = AuditLog(Database(_url(cfg)), KEY)
    log.append(_records(300))
    h1 = tmp_path / "h1.json"
    _sign(cfg, h1)
    assert _run(cfg, "audit", "key", "export", "-o", str(tmp_path / "hub.pub")) == 0
    code, out = _witness(cfg, tmp_path, h1, capsys)
    assert code == 0 and "first head kept: 300 records" in out

    if rewrite == "cut":
        log.db.execute("DELETE FROM audit WHERE seq > 200")
        capsys.readouterr()
        assert _run(cfg, "audit", "verify") == 1  # plain verify sees the cut
        assert "BROKEN at record 201" in capsys.readouterr().err
        _forge_tail(log, 200, [])
    elif rewrite == "cut-and-append":
        _forge_tail(log, 200, _records(100, "forged"))
    else:
        log.db.execute("UPDATE audit SET recipient = 'zk-amsterdam' WHERE seq = 7")
        _rekey_from(log, 7)
        _forge_tail(log, 300, _records(50, "later"))
        assert log.verify().ok  # the chain alone cannot tell: it was rebuilt with the real key

    forged = tmp_path / "forged.json"
    head = _sign(cfg, forged)  # with the real signing key
    assert head["tree_size"] == {"cut": 200, "cut-and-append": 300, "edit-and-rekey": 350}[rewrite]
    if rewrite == "edit-and-rekey":
        # a bigger tree needs a consistency proof from H1; the one made on the rewritten tree fails
        forged = tmp_path / "c.json"
        assert _run(cfg, "audit", "consistency", "300", "350", "-o", str(forged)) == 0
    code, out = _witness(cfg, tmp_path, forged, capsys)
    assert code == 1 and out.startswith("ALARM: ") and len(out.strip().splitlines()) == 1
    assert ("rollback" if rewrite == "cut" else "fork") in out
    if rewrite == "edit-and-rekey":
        assert "not consistent with the kept head" in out
    # the witness still keeps H1
    kept = json.loads((tmp_path / "witness" / "head.json").read_text())
    assert kept == json.loads(h1.read_text())


def test_a_witness_follows_an_honest_log(cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_env
    log = AuditLog(Database(_url(cfg)), KEY)
    log.append(_records(5))
    _sign(cfg, tmp_path / "h1.json")
    assert _run(cfg, "audit", "key", "export", "-o", str(tmp_path / "hub.pub")) == 0
    assert _witness(cfg, tmp_path, tmp_path / "h1.json", capsys)[0] == 0
    last = 5
    for n in (1, 7, 64):
        log.append(_records(n, f"b{n}"))
        head = _sign(cfg, tmp_path / "h.json")
        proof = tmp_path / "c.json"
        assert _run(cfg, "audit", "consistency", str(last), "-o", str(proof)) == 0
        code, out = _witness(cfg, tmp_path, proof, capsys)
        assert code == 0 and "consistent" in out, out
        last = int(str(head["tree_size"]))
    # a bare head of a bigger tree, without a proof, is not accepted (nor an alarm of a fork)
    log.append(_records(2, "c"))
    _sign(cfg, tmp_path / "h.json")
    code, out = _witness(cfg, tmp_path, tmp_path / "h.json", capsys)
    assert code == 1 and "without a consistency proof" in out and "ALARM" not in out
    assert json.loads((tmp_path / "witness" / "head.json").read_text())["tree_size"] == last


def _verify_standalone(pub: Path, proof: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The verifier in its own process: -I (no site, no cwd on the path), and it must not load the hub."""
    code = ("import runpy, sys\n"
            "try:\n"
            f"    runpy.run_path({str(ROOT / 'zorghub_verify.py')!r}, run_name='__main__')\n"
            "finally:\n"
            "    assert not any(m == 'hub' or m.startswith('hub.') for m in sys.modules), 'hub was imported'\n")
    return subprocess.run([sys.executable, "-I", "-c", code, "--public-key", str(pub), *extra, str(proof)],
                          capture_output=True, text=True, cwd=str(proof.parent))


def test_proofs_verify_standalone_and_fail_altered(cli_env: Path, tmp_path: Path) -> None:
    cfg = cli_env
    log = AuditLog(Database(_url(cfg)), KEY)
    log.append(_records(37))
    _sign(cfg, tmp_path / "h37.json")
    log.append(_records(1000, "more"))
    _sign(cfg, tmp_path / "h1037.json")
    pub = tmp_path / "hub.pub"
    assert _run(cfg, "audit", "key", "export", "-o", str(pub)) == 0
    inclusion, cons = tmp_path / "inc.json", tmp_path / "cons.json"
    assert _run(cfg, "audit", "prove", "--record", "29", "-o", str(inclusion)) == 0
    assert _run(cfg, "audit", "consistency", "37", "1037", "-o", str(cons)) == 0
    done = _verify_standalone(pub, inclusion)
    assert done.returncode == 0 and "ok: record 29 is in the signed tree of size 1037" in done.stdout, done.stderr
    done = _verify_standalone(pub, cons)
    assert done.returncode == 0 and "extends the one of size 37" in done.stdout, done.stderr
    key = zv.load_public_key(pub.read_bytes())
    for path, check in ((inclusion, zv.check_inclusion), (cons, zv.check_consistency)):
        data = path.read_bytes().rstrip(b"\n")
        for i in range(len(data)):  # every single byte, changed, makes the proof fail
            changed = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
            with pytest.raises((zv.ProofError, ValueError, KeyError, TypeError, AttributeError)):
                check(json.loads(changed), key)
        bad = tmp_path / f"bad-{path.name}"
        bad.write_bytes(data[:60] + bytes([data[60] ^ 0x01]) + data[61:])
        done = _verify_standalone(pub, bad)
        assert done.returncode == 1 and done.stderr.startswith("FAIL: ") and len(done.stderr.splitlines()) == 1


def test_roots_and_proofs_match_a_plain_recomputation(tmp_path: Path) -> None:
    """The stored tree's roots and paths against RFC 9162's recursive definitions, for every small size."""
    db = Database(f"sqlite:///{tmp_path / 't.sqlite3'}")
    merkle.create(db)
    leaves = [f"leaf {i}".encode() for i in range(70)]
    merkle.append_leaves(db, 0, (zv.leaf_hash(x) for x in leaves[:3]))
    merkle.append_leaves(db, 3, (zv.leaf_hash(x) for x in leaves[3:]))

    def mth(d: list[bytes]) -> bytes:
        if len(d) == 1:
            return zv.leaf_hash(d[0])
        k = 1 << ((len(d) - 1).bit_length() - 1)
        return zv.node_hash(mth(d[:k]), mth(d[k:]))

    tree = merkle.Tree(db)
    for n in range(1, 71):
        root = tree.root(n)
        assert root == mth(leaves[:n])
        for i in range(n):
            zv.verify_inclusion(i, n, leaves[i], tree.inclusion(i, n), root)
        for m in range(1, n + 1):
            zv.verify_consistency(m, n, tree.root(m), root, tree.consistency(m, n))
    with pytest.raises(zv.ProofError):
        zv.verify_consistency(5, 9, tree.root(4), tree.root(9), tree.consistency(5, 9))


def test_a_tree_grown_piecemeal_stores_the_tiles_of_one_grown_at_once(tmp_path: Path) -> None:
    """Appends of any size, on any boundary (inside a tile, across tiers), store what one append stores."""
    whole, parts = (Database(f"sqlite:///{tmp_path / name}") for name in ("whole.sqlite3", "parts.sqlite3"))
    leaves = [zv.leaf_hash(f"leaf {i}".encode()) for i in range(700)]
    for db in (whole, parts):
        merkle.create(db)
    merkle.append_leaves(whole, 0, leaves)
    at = 0
    for n in (1, 1, 2, 5, 7, 16, 17, 31, 256, 100, 264):
        assert merkle.append_leaves(parts, at, leaves[at:at + n]) == at + n
        at += n
    assert at == len(leaves)
    tiles = "SELECT tier, idx, hashes FROM merkle_tile ORDER BY tier, idx"
    assert parts.execute(tiles) == whole.execute(tiles)
    assert merkle.Tree(parts).root(700) == merkle.Tree(whole).root(700)


def test_the_signing_process_advances_the_tree_from_its_own_leaf_hashes(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The leaf hashes kept at append give the tree that a process without them computes from the rows,
    without reading a row. A record rewritten before the tree got to it (its hash too, with the real key)
    stays in the tree as the hub wrote it, and ``audit verify`` finds the row and the tree apart."""
    roots = {}
    read: dict[str, list[tuple[int, int | None]]] = {}
    rows_of = AuditLog.iter_rows

    def spy(self: AuditLog, start: int = 1, end: int | None = None, chunk: int = 20000) -> Any:
        read.setdefault(Path(self.db.url).stem, []).append((start, end))
        return rows_of(self, start, end, chunk)

    monkeypatch.setattr(AuditLog, "iter_rows", spy)
    for name, keep, forge in (("kept", True, False), ("read", False, False), ("kept-forged", True, True),
                              ("read-forged", False, True)):
        log = AuditLog(Database(f"sqlite:///{tmp_path / name}.sqlite3"), KEY)
        if keep:
            log.keep_leaves()
        log.append([dataclasses.replace(r, ts="2026-11-30T12:00:00.000000Z") for r in _records(40)])
        if forge:
            log.db.execute("UPDATE audit SET reason = 'rewritten' WHERE seq = 7")
            _rekey_from(log, 7)
        assert treehead.extend(log) == 40
        roots[name] = merkle.Tree(log.db).root(40)
    assert roots["kept"] == roots["read"] == roots["kept-forged"] != roots["read-forged"]
    assert read == {"read": [(1, 40)], "read-forged": [(1, 40)]}
    for name, ok in (("kept-forged", False), ("read-forged", True), ("kept", True)):
        result = integrity.verify_with_tree(f"sqlite:///{tmp_path / name}.sqlite3", KEY, workers=1)
        assert result.ok is ok, (name, result.problem)
    assert "(records 1..16) does not match the records" in integrity.verify_with_tree(
        f"sqlite:///{tmp_path}/kept-forged.sqlite3", KEY).problem


def test_verify_checks_the_tree_and_its_heads(cli_env: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cli_env
    log = AuditLog(Database(_url(cfg)), KEY)
    log.append(_records(50))
    _sign(cfg, tmp_path / "h.json")
    capsys.readouterr()
    assert _run(cfg, "audit", "verify") == 0
    assert "Merkle tree over 50 records and 1 signed tree head(s) verified" in capsys.readouterr().out
    tile = bytearray(log.db.execute("SELECT hashes FROM merkle_tile WHERE tier = 0 AND idx = 0")[0][0])
    tile[12 * 32] ^= 1
    log.db.execute("UPDATE merkle_tile SET hashes = ? WHERE tier = 0 AND idx = 0", (bytes(tile),))
    assert _run(cfg, "audit", "verify") == 1
    assert "BROKEN at record 13: the stored Merkle tree node 12 at level 0" in capsys.readouterr().err
    tile[12 * 32] ^= 1
    log.db.execute("UPDATE merkle_tile SET hashes = ? WHERE tier = 0 AND idx = 0", (bytes(tile),))
    log.db.execute("UPDATE tree_heads SET root_hash = ?", ("ab" * 32,))
    assert _run(cfg, "audit", "verify") == 1
    assert "BROKEN at record 50: the tree head of size 50" in capsys.readouterr().err
    pub = treehead.public_pem(treehead.load_signing_key(tmp_path / "home-signing.pem"))
    assert pub.startswith(b"-----BEGIN PUBLIC KEY-----")


def test_the_sliced_check_puts_heads_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 8 records (instead of 2**16), heads at every kind of size: each root is recomputed exactly."""
    from hub.store import integrity

    monkeypatch.setattr(merkle, "ALIGN", 3)
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    log = AuditLog(Database(url), KEY)
    key = treehead.load_signing_key(tmp_path / "k.pem", create=True)
    for n in (1, 2, 5, 8, 9, 15, 16, 17, 30, 32, 33):
        log.append(_records(n, f"s{n}"))
        treehead.sign_head(log, key)
    size = merkle.size(log.db)
    assert size == 168
    heads = [(n, root, ts) for n, root, ts, _, _ in merkle.heads(log.db)]

    def check() -> tuple[int, str] | None:
        parts = [integrity._verify_part((url, KEY, lo, min(lo + 7, size), size, tuple(h[0] for h in heads)))
                 for lo in range(1, size + 1, 8)]
        assert all(chain.ok for chain, _ in parts)
        problems = [tree.problem for _, tree in parts if tree.problem]
        return min(problems) if problems else merkle.combine(log.db, [tree for _, tree in parts], heads)

    assert check() is None
    heads[4] = (heads[4][0], "00" * 32, heads[4][2])
    assert check() == (heads[4][0], f"the tree head of size {heads[4][0]} signed on {heads[4][2]} does not match "
                                    f"the records: the history up to record {heads[4][0]} was rewritten")


def test_the_fast_pass_reads_the_signed_bytes_and_leaves_every_fault_to_the_exact_one(tmp_path: Path) -> None:
    """On SQLite the chain's pass has SQLite write each record's canonical form: the same bytes as the
    hub signed, whatever the text holds; an edited, missing or relinked record makes it give way."""
    from hub.store import integrity

    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    log = AuditLog(Database(url), KEY)
    awkward = ['quote " back \\ slash', "new\nline\ttab\x01\x1f\x7f", "é ✓ 😀 </script> 'x'", '{"x":1}', ""]
    log.append([AuditRecord(action="delivered", actor="ciz", recipient="cak", kind="echo", message_id=f"a-{i}",
                            reason=text, detail=text) for i, text in enumerate(awkward)] + _records(40))
    n = log.head()[0]
    check = merkle.SliceCheck(log.db, 0, n, ())
    assert integrity.fast_chain(log.db, KEY, 1, None, check) == n
    assert check.batch == [merkle.leaf_bytes(row, len(COLUMNS) - 2) for row in log.iter_rows(1)]
    assert integrity.fast_chain(log.db, KEY, 11, 30, merkle.SliceCheck(log.db, 10, n, ())) == 20
    log.db.execute("UPDATE audit SET reason = 'edited' WHERE seq = 3")
    assert integrity.fast_chain(log.db, KEY, 1, None, merkle.SliceCheck(log.db, 0, n, ())) is None
    assert integrity.verify_with_tree(url, KEY, workers=1).first_bad_seq == 3
    log.db.execute("UPDATE audit SET reason = ? WHERE seq = 3", (awkward[2],))
    log.db.execute("DELETE FROM audit WHERE seq = 20")
    assert integrity.fast_chain(log.db, KEY, 1, None, merkle.SliceCheck(log.db, 0, n, ())) is None
    result = integrity.verify_with_tree(url, KEY, workers=1)
    assert (result.ok, result.first_bad_seq) == (False, 20)
