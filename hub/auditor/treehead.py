"""Signed tree heads over the audit log, the proofs against them, and the tree's part of ``audit verify``.

The hash chain is keyed with the hub's secret, which lives beside the store: whoever holds the store
can rewrite and re-key it. A tree head is signed with an Ed25519 key kept apart from the store, and
once a head is out (exported, or in a witness's hands) no rewrite of the history it covers, cut or
forged, can be made consistent with it. The proofs are the documents ``zorghub_verify`` checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import ConfigError
from hub.store import merkle, private
from hub.store.audit import COLUMNS, AuditLog, VerifyResult, now_iso
from hub.store.errors import StoreMissing
from zorghub_verify import CONSISTENCY_FORMAT, INCLUSION_FORMAT, ProofError, TreeHead, key_id, load_public_key

N_HASHED = len(COLUMNS) - 2  # the hashed columns; prev_hash and hash follow them


# ----- the signing key -----------------------------------------------------------------------------
def load_signing_key(path: Path, *, create: bool = False) -> Ed25519PrivateKey:
    """The tree-head signing key; ``create``: made (0600) on first use, linked into place atomically."""
    if not path.exists():
        if not create:
            raise StoreMissing(f"no audit signing key at {path} (set audit_signing_key, or sign a first tree head "
                               "with 'zorghub audit tree-head')")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        private.write_once(path, pem)
    private.check_private(path, private.FILE_MODE)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the audit signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the audit signing key {path} is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        return load_public_key(Path(path).read_bytes())
    except (OSError, ProofError) as exc:
        raise ConfigError(f"cannot read public key {path}: {exc}") from None


# ----- heads ---------------------------------------------------------------------------------------
def _head(row: tuple[int, str, str, str, str]) -> TreeHead:
    return TreeHead(*row)


def extend(log: AuditLog) -> int:
    """Bring the tree up to the log's head (the records written since it last ran)."""
    merkle.create(log.db)
    return merkle.extend(log.db, log.leaf_hashes, log.head()[0])


def sign_head(log: AuditLog, key: Ed25519PrivateKey) -> TreeHead:
    """Advance the tree to the log's head and sign it; a size signed before keeps its first head."""
    size = extend(log)
    existing = merkle.head_at(log.db, size)
    if existing is not None:
        return _head(existing)
    root = merkle.Tree(log.db).root(size).hex()
    head = TreeHead(size, root, now_iso(), key_id(key.public_key()))
    head = TreeHead(head.tree_size, head.root_hash, head.timestamp, head.key_id, key.sign(head.signed_bytes()).hex())
    with log.db.transaction(lock=merkle.LOCK):
        merkle.save_head(log.db, (head.tree_size, head.root_hash, head.timestamp, head.key_id, head.signature))
    return merkle_head(log, size) or head  # another process may have signed this size first


def merkle_head(log: AuditLog, size: int) -> TreeHead | None:
    merkle.create(log.db)
    row = merkle.head_at(log.db, size)
    return _head(row) if row else None


def latest(log: AuditLog) -> TreeHead | None:
    merkle.create(log.db)
    row = merkle.latest_head(log.db)
    return _head(row) if row else None


def _chosen_head(log: AuditLog, size: int | None) -> TreeHead:
    head = latest(log) if size is None else merkle_head(log, size)
    if head is None:
        what = "no signed tree head" if size is None else f"no signed tree head of size {size}"
        raise ConfigError(f"{what}: sign one with 'zorghub audit tree-head'")
    return head


# ----- proofs --------------------------------------------------------------------------------------
def inclusion_proof(log: AuditLog, seq: int, head_size: int | None = None) -> dict[str, Any]:
    """The document that proves record ``seq`` is in a signed tree (the latest, or the one of ``head_size``)."""
    head = _chosen_head(log, head_size)
    if not 1 <= seq <= head.tree_size:
        raise ConfigError(f"record {seq} is not in the signed tree of size {head.tree_size}")
    rows = list(log.iter_rows(seq, seq))
    if not rows:
        raise merkle.TreeBroken(f"record {seq} is missing from the audit log")
    leaf = merkle.leaf_bytes(rows[0], N_HASHED)
    path = merkle.Tree(log.db).inclusion(seq - 1, head.tree_size)
    return {"format": INCLUSION_FORMAT, "leaf_index": seq - 1, "leaf": leaf.hex(), "head": head.to_dict(),
            "path": [h.hex() for h in path]}


def consistency_proof(log: AuditLog, old: int, new: int | None = None) -> dict[str, Any]:
    """The document that proves the signed tree of ``new`` extends the signed tree of ``old``."""
    new_head = _chosen_head(log, new)
    # an old size the hub never signed (a witness's kept head came from elsewhere): its root, unsigned
    tree = merkle.Tree(log.db)
    old_head = merkle_head(log, old) or (TreeHead(old, tree.root(old).hex(), "", new_head.key_id)
                                         if 0 < old <= new_head.tree_size else None)
    if old_head is None or not 0 < old_head.tree_size <= new_head.tree_size:
        raise ConfigError(f"a consistency proof goes from a smaller tree to a larger one, not {old} to "
                          f"{new_head.tree_size}")
    path = tree.consistency(old_head.tree_size, new_head.tree_size)
    return {"format": CONSISTENCY_FORMAT, "old": old_head.to_dict(), "new": new_head.to_dict(),
            "path": [h.hex() for h in path]}


# ----- verify ----------------------------------------------------------------------------------------
def check_heads(log: AuditLog, public: Ed25519PublicKey | None) -> VerifyResult:
    """Every stored head: signed by this key, and not beyond the tree or the log (a cut).

    Their roots are recomputed from the records by ``hub.store.integrity.verify_with_tree``; ``payloads``
    of the result counts the heads."""
    db = log.db
    merkle.create(db)
    size = merkle.size(db)
    head_rows = merkle.heads(db)
    last = log.head()[0]
    if size > last:
        return VerifyResult(False, 0, last + 1, f"the log was cut: it ends at record {last}, but its Merkle tree "
                                                f"holds {size} records")
    for row in head_rows:
        head = _head(row)
        if head.tree_size > size:
            return VerifyResult(False, 0, size + 1,
                                f"the log was cut: a tree head signed on {head.timestamp} covers {head.tree_size} "
                                f"records, but the tree holds {size} and the log ends at record {last}")
        if public is None:
            return VerifyResult(False, 0, None, f"{len(head_rows)} signed tree head(s) cannot be checked: no "
                                                "signing or public key is configured")
        try:
            head.check_signature(public)
        except ProofError as exc:
            return VerifyResult(False, 0, None, str(exc))
    return VerifyResult(True, size, payloads=len(head_rows))
