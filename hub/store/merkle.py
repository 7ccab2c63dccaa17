"""The Merkle tree over the audit records (RFC 9162 hashing), stored so that proofs are cheap.

Leaf ``i`` is audit record ``seq = i + 1``; its bytes are the record's canonical form, the same bytes
the chain's HMAC is taken over (``[prev_hash, *hashed columns]`` as JSON), so anyone can recompute a
leaf from the record without the hub's key. Every complete subtree is stored as one row
``(level, idx, hash)``: the node over leaves ``[idx * 2**level, (idx + 1) * 2**level)``. A tree of n
leaves has fewer than 2n such rows; any root, inclusion path or consistency path needs at most a
few dozen of them, whatever n is.

The tree is not advanced per message: ``extend`` appends the leaves of the records written since it
last ran (on signing a tree head, or when a proof is asked for), outside the appenders' lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from hub.errors import HubError
from hub.store.db import Database
from zorghub_verify import leaf_hash, node_hash

DDL = """
CREATE TABLE IF NOT EXISTS merkle_node (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size BIGINT PRIMARY KEY,
    root_hash TEXT NOT NULL,
    ts TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
)
"""
LOCK = "zorghub.merkle"
HEAD_COLUMNS = "tree_size, root_hash, ts, key_id, signature"
_BATCH = 20_000


class TreeBroken(HubError):
    """The stored tree does not fit the audit log (cut, gapped, or a node missing): no proof is given."""

    code = "AUDIT_TREE_BROKEN"


def create(db: Database) -> None:
    db.script(DDL)


def leaf_bytes(row: Sequence[Any], n_hashed: int) -> bytes:
    """The canonical form of an audit row (``COLUMNS`` order): what the chain's HMAC signs."""
    return orjson.dumps([row[n_hashed], *row[:n_hashed]])


def size(db: Database) -> int:
    rows = db.execute("SELECT MAX(idx) FROM merkle_node WHERE level = 0")
    return int(rows[0][0]) + 1 if rows and rows[0][0] is not None else 0


def _frontier(db: Database, n: int) -> list[tuple[int, bytes]]:
    """The complete subtrees that make up a tree of n leaves, left to right, as (level, hash)."""
    out: list[tuple[int, bytes]] = []
    start = 0
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            out.append((level, get_node(db, level, start >> level)))
            start += 1 << level
    return out


def append_leaves(db: Database, first: int, leaves: Iterable[bytes]) -> int:
    """Store the leaf hashes for leaves ``first, first + 1, ...`` and every subtree they complete."""
    stack = _frontier(db, first)
    rows: list[tuple[int, int, bytes]] = []
    i = first
    for h in leaves:
        rows.append((0, i, h))
        level = 0
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level += 1
            rows.append((level, i >> level, h))
        stack.append((level, h))
        i += 1
        if len(rows) >= _BATCH:
            db.executemany("INSERT INTO merkle_node (level, idx, hash) VALUES (?, ?, ?)", rows)
            rows = []
    db.executemany("INSERT INTO merkle_node (level, idx, hash) VALUES (?, ?, ?)", rows)
    return i


def extend(db: Database, rows: Callable[[int], Iterator[Sequence[Any]]], n_hashed: int, upto: int) -> int:
    """Append the leaves of audit records ``size + 1 .. upto``; the new size. ``rows(start)`` streams them."""
    with db.transaction(lock=LOCK):
        have = size(db)
        if have > upto:
            raise TreeBroken(f"the audit log ends at record {upto}, but its Merkle tree already holds {have} "
                             "records: the log was cut")
        if have == upto:
            return have

        def leaves() -> Iterator[bytes]:
            expected = have + 1
            for row in rows(have + 1):
                seq = int(row[0])
                if seq > upto:
                    return
                if seq != expected:
                    raise TreeBroken(f"audit record {expected} is missing: the tree cannot pass it")
                expected += 1
                yield leaf_hash(leaf_bytes(row, n_hashed))
            if expected <= upto:
                raise TreeBroken(f"audit record {expected} is missing: the tree cannot pass it")

        return append_leaves(db, have, leaves())


def get_node(db: Database, level: int, idx: int) -> bytes:
    rows = db.execute("SELECT hash FROM merkle_node WHERE level = ? AND idx = ?", (level, idx))
    if not rows:
        raise TreeBroken(f"the Merkle tree lacks node {idx} at level {level}: it was cut or never built")
    return bytes(rows[0][0])


class Tree:
    """Roots and paths over the stored nodes; the hashes of one request are read once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[int, int], bytes] = {}

    def _node(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        if key not in self._cache:
            self._cache[key] = get_node(self.db, level, idx)
        return self._cache[key]

    def mth(self, start: int, n: int) -> bytes:
        """MTH(D[start:start + n]) for a range that starts on a multiple of its largest power of two."""
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self._node(level, start >> level)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.mth(start, k), self.mth(start + k, n - k))

    def root(self, n: int) -> bytes:
        if n == 0:
            return bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        return self.mth(0, n)

    def inclusion(self, index: int, n: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:n])."""
        path: list[bytes] = []
        start = 0
        while n > 1:
            k = 1 << ((n - 1).bit_length() - 1)
            if index < k:
                path.append(self.mth(start + k, n - k))
                n = k
            else:
                path.append(self.mth(start, k))
                start, index, n = start + k, index - k, n - k
        path.reverse()
        return path

    def consistency(self, m: int, n: int) -> list[bytes]:
        """RFC 9162 PROOF(m, D[0:n]) for 0 < m <= n."""
        path: list[bytes] = []
        start, whole = 0, True
        while m != n:
            k = 1 << ((n - 1).bit_length() - 1)
            if m <= k:
                path.append(self.mth(start + k, n - k))
                n = k
            else:
                path.append(self.mth(start, k))
                start, m, n, whole = start + k, m - k, n - k, False
        if not whole:
            path.append(self.mth(start, m))
        path.reverse()
        return path


def stored_nodes(db: Database, level: int, low: int, high: int) -> list[tuple[int, bytes]]:
    """(idx, hash) of the stored nodes at ``level`` with ``low <= idx < high``, in order."""
    return [(int(i), bytes(h)) for i, h in db.execute(
        "SELECT idx, hash FROM merkle_node WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
        (level, low, high))]


def save_head(db: Database, head: tuple[int, str, str, str, str]) -> None:
    db.execute(f"INSERT OR IGNORE INTO tree_heads ({HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?)", head)


def heads(db: Database) -> list[tuple[int, str, str, str, str]]:
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))
            for r in db.execute(f"SELECT {HEAD_COLUMNS} FROM tree_heads ORDER BY tree_size")]


def head_at(db: Database, tree_size: int) -> tuple[int, str, str, str, str] | None:
    rows = db.execute(f"SELECT {HEAD_COLUMNS} FROM tree_heads WHERE tree_size = ?", (tree_size,))
    return (int(rows[0][0]), str(rows[0][1]), str(rows[0][2]), str(rows[0][3]), str(rows[0][4])) if rows else None


def latest_head(db: Database) -> tuple[int, str, str, str, str] | None:
    rows = db.execute("SELECT MAX(tree_size) FROM tree_heads")
    return head_at(db, int(rows[0][0])) if rows and rows[0][0] is not None else None
