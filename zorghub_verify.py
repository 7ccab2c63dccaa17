"""Check a zorghub audit proof with nothing but the hub's public key and the proof.

This module stands alone on purpose: an auditor, a witness or a client runs it without the hub's
code, so it imports the standard library and ``cryptography`` only. It implements RFC 9162's
Merkle tree hashing (leaf = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right)), its
inclusion and consistency proof verification (sections 2.1.3.2 and 2.1.4.2), and the signed tree
head (Ed25519 over a fixed text form).

Usage: ``python zorghub_verify.py --public-key KEY.pem PROOF.json [--head HEAD.json]``, PROOF an
inclusion proof, a consistency proof, or the bundle of inclusion proofs a party's proof request is
answered with; exit 0 and ``ok: ...`` when the proof holds, exit 1 and one ``FAIL: ...`` line when it does not. ``--head``
checks a consistency proof against a head kept earlier instead of the one inside the proof.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEAD_FORMAT = "zorghub-tree-head/1"
INCLUSION_FORMAT = "zorghub-inclusion-proof/1"
CONSISTENCY_FORMAT = "zorghub-consistency-proof/1"
#: the answer to a party's proof request: several inclusion proofs, each checked on its own
BUNDLE_FORMAT = "zorghub-inclusion-proofs/1"
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


class ProofError(Exception):
    """A proof, head or key that does not hold: the message says which part and why."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: the tree's size and root, when, and by which key (its SHA-256 fingerprint)."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return f"{HEAD_FORMAT}\n{self.tree_size}\n{self.root_hash}\n{self.timestamp}\n{self.key_id}\n".encode()

    def to_dict(self) -> dict[str, Any]:
        return {"format": HEAD_FORMAT, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "timestamp": self.timestamp, "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_dict(cls, data: Any) -> TreeHead:
        if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
            raise ProofError(f"not a tree head (format {HEAD_FORMAT} expected)")
        size = data.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProofError("tree head cannot be read: tree_size is not a count")
        head = cls(size, str(data.get("root_hash")), str(data.get("timestamp")), str(data.get("key_id")),
                   str(data.get("signature")))
        unhex(head.root_hash, "tree head root_hash", 32)
        unhex(head.key_id, "tree head key_id", 32)
        if head.signature:  # unsigned: a tree the hub computed but never signed (checked against a kept head)
            unhex(head.signature, "tree head signature", 64)
        return head

    def check_signature(self, key: Ed25519PublicKey) -> None:
        if self.key_id != key_id(key):
            raise ProofError(f"tree head of size {self.tree_size} is signed by key {self.key_id[:16]}…, "
                             f"not by this public key ({key_id(key)[:16]}…)")
        if not self.signature:
            raise ProofError(f"the tree head of size {self.tree_size} is not signed")
        try:
            key.verify(unhex(self.signature, "tree head signature", 64), self.signed_bytes())
        except InvalidSignature:
            raise ProofError(f"tree head of size {self.tree_size}: the signature does not verify") from None


def key_id(key: Ed25519PublicKey) -> str:
    """The key's fingerprint: SHA-256 of its raw 32 bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ProofError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProofError("the public key is not an Ed25519 key")
    return key


def unhex(value: Any, what: str, size: int | None = None) -> bytes:
    """Lower-case hex only: each character of a proof means something, so a changed one never passes."""
    if not isinstance(value, str) or not _HEX.fullmatch(value) or (size is not None and len(value) != 2 * size):
        raise ProofError(f"{what}: not lower-case hex" + (f" of {size} bytes" if size else ""))
    return bytes.fromhex(value)


def _hashes(items: Any, what: str) -> list[bytes]:
    if not isinstance(items, list):
        raise ProofError(f"{what}: not a list of hashes")
    return [unhex(h, what, 32) for h in items]


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2: does ``path`` prove the leaf at ``index`` in the tree of ``size`` with ``root``?"""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree")
    if r != root:
        raise ProofError("the inclusion path does not lead to the signed root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> None:
    """RFC 9162 2.1.4.2: is the tree of size ``second`` an append-only extension of the one of ``first``?"""
    if first > second:
        raise ProofError(f"the new tree ({second}) is smaller than the old one ({first}): a rollback")
    if first == second:
        if path or first_root != second_root:
            raise ProofError(f"two different roots for a tree of size {first}: a fork")
        return
    if first == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if first & (first - 1) == 0:
        path = [first_root, *path]
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency path is longer than the tree")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency path is shorter than the tree")
    if fr != first_root:
        raise ProofError(f"the tree of size {second} does not contain the tree of size {first} that was signed "
                         "before: its history was rewritten (a fork)")
    if sr != second_root:
        raise ProofError("the consistency path does not lead to the new signed root")


def check_inclusion(proof: dict[str, Any], key: Ed25519PublicKey) -> TreeHead:
    """An inclusion proof document: the head's signature, then the path from the leaf to its root."""
    if proof.get("format") != INCLUSION_FORMAT:
        raise ProofError(f"not an inclusion proof (format {INCLUSION_FORMAT} expected)")
    head = TreeHead.from_dict(proof.get("head"))
    head.check_signature(key)
    index = proof.get("leaf_index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ProofError("inclusion proof cannot be read: leaf_index is not a number")
    leaf = unhex(proof.get("leaf"), "inclusion proof leaf")
    verify_inclusion(index, head.tree_size, leaf, _hashes(proof.get("path"), "inclusion path"),
                     bytes.fromhex(head.root_hash))
    return head


def check_consistency(proof: dict[str, Any], key: Ed25519PublicKey, kept: TreeHead | None = None) -> TreeHead:
    """A consistency proof document, against ``kept`` (a head verified earlier) or its own old head."""
    if proof.get("format") != CONSISTENCY_FORMAT:
        raise ProofError(f"not a consistency proof (format {CONSISTENCY_FORMAT} expected)")
    old = TreeHead.from_dict(proof.get("old"))
    new = TreeHead.from_dict(proof.get("new"))
    if kept is not None:
        if kept.tree_size != old.tree_size:
            raise ProofError(f"the proof starts at size {old.tree_size}, not at the kept head's {kept.tree_size}")
        old = kept
    old.check_signature(key)
    new.check_signature(key)
    verify_consistency(old.tree_size, new.tree_size, bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash),
                       _hashes(proof.get("path"), "consistency path"))
    return new


def check_bundle(bundle: dict[str, Any], key: Ed25519PublicKey) -> list[TreeHead]:
    """The answer to a proof request: every inclusion proof in it must hold (an empty one proves nothing)."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ProofError(f"not a bundle of inclusion proofs (format {BUNDLE_FORMAT} expected)")
    proofs = bundle.get("proofs")
    if not isinstance(proofs, list) or not proofs:
        raise ProofError("the bundle holds no inclusion proofs")
    heads = []
    for n, proof in enumerate(proofs, 1):
        if not isinstance(proof, dict):
            raise ProofError(f"proof {n} of the bundle is not a JSON object")
        try:
            heads.append(check_inclusion(proof, key))
        except ProofError as exc:
            raise ProofError(f"proof {n} of the bundle: {exc}") from None
    return heads


def _load_json(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise ProofError(f"cannot read {path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="zorghub_verify", description="Check a zorghub audit proof.")
    ap.add_argument("--public-key", required=True, help="the hub's Ed25519 public key (PEM)")
    ap.add_argument("--head", help="consistency: check against this kept head instead of the proof's old head")
    ap.add_argument("proof", help="an inclusion or consistency proof (JSON)")
    args = ap.parse_args(argv)
    try:
        with open(args.public_key, "rb") as fh:
            key = load_public_key(fh.read())
        proof = _load_json(args.proof)
        if not isinstance(proof, dict):
            raise ProofError("the proof is not a JSON object")
        if proof.get("format") == INCLUSION_FORMAT:
            head = check_inclusion(proof, key)
            print(f"ok: record {int(proof['leaf_index']) + 1} is in the signed tree of size {head.tree_size}")
        elif proof.get("format") == BUNDLE_FORMAT:
            heads = check_bundle(proof, key)
            records = ", ".join(str(int(p["leaf_index"]) + 1) for p in proof["proofs"])
            print(f"ok: records {records} are in the signed tree of size {heads[-1].tree_size}")
        else:
            kept = TreeHead.from_dict(_load_json(args.head)) if args.head else None
            new = check_consistency(proof, key, kept)
            print(f"ok: the signed tree of size {new.tree_size} extends the one of size "
                  f"{int(proof['old']['tree_size'])}")
    except (OSError, ProofError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
