"""The Merkle tree over the audit records (RFC 9162 hashing), stored so that proofs are cheap.

Leaf ``i`` is audit record ``seq = i + 1``; its bytes are the record's canonical form, the same bytes
the chain's HMAC is taken over (``[prev_hash, *hashed columns]`` as JSON), so anyone can recompute a
leaf from the record without the hub's key. The hashes of the levels 0, 4, 8, ... are stored in
tiles of 16 (``TILE_HEIGHT``), about 34 bytes a record; any node, root, inclusion path or
consistency path needs a few dozen tiles and a few hundred hashes, whatever the tree's size.

The tree is not advanced per message: ``extend`` appends the leaves of the records written since it
last ran (on signing a tree head, or when a proof is asked for), outside the appenders' lock.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.errors import HubError
from hub.store.db import Database
from zorghub_verify import node_hash

DDL = """
CREATE TABLE IF NOT EXISTS merkle_tile (
    tier INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (tier, idx)
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
#: a tile holds 2**TILE_HEIGHT consecutive hashes of one level that is a multiple of TILE_HEIGHT (the
#: C2SP tlog-tiles layout, smaller): tier t holds level TILE_HEIGHT * t; the levels between are hashed
#: from the tile below when asked for (at most 2**TILE_HEIGHT - 1 hashes)
TILE_HEIGHT = 4
TILE = 1 << TILE_HEIGHT
_BATCH = 4096
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


class TreeBroken(HubError):
    """The stored tree does not fit the audit log (cut, gapped, or a tile missing): no proof is given."""

    code = "AUDIT_TREE_BROKEN"


def create(db: Database) -> None:
    db.script(DDL)


def hold_lock(db: Database) -> None:
    """Inside a transaction opened under another lock: take the tree's as well, till it ends (PostgreSQL;
    SQLite has one writer at a time anyway). A nested ``transaction(lock=LOCK)`` would not take it."""
    db.hold_lock(LOCK)


def leaf_bytes(row: Sequence[Any], n_hashed: int) -> bytes:
    """The canonical form of an audit row (``COLUMNS`` order): what the chain's HMAC signs."""
    return orjson.dumps([row[n_hashed], *row[:n_hashed]])


def size(db: Database) -> int:
    rows = db.execute("SELECT idx, LENGTH(hashes) FROM merkle_tile WHERE tier = 0 ORDER BY idx DESC LIMIT 1")
    return int(rows[0][0]) * TILE + int(rows[0][1]) // 32 if rows else 0


def tiles(db: Database, tier: int, low: int, high: int) -> dict[int, bytes]:
    """The stored tiles ``low <= idx < high`` of one tier."""
    return {int(i): bytes(h) for i, h in db.execute(
        "SELECT idx, hashes FROM merkle_tile WHERE tier = ? AND idx >= ? AND idx < ?", (tier, low, high))}


def _put_tiles(db: Database, tier: int, first: int, hashes: list[bytes]) -> None:
    """Store hashes ``first, first + 1, ...`` of a tier's level, completing a partial tile where one ends."""
    if not hashes:
        return
    offset = first % TILE
    head = b""
    if offset:
        have = tiles(db, tier, first // TILE, first // TILE + 1).get(first // TILE, b"")
        if len(have) != offset * 32:
            raise TreeBroken(f"Merkle tile {first // TILE} of tier {tier} does not end where the tree does")
        head = have
    data = head + b"".join(hashes)
    base = first - offset
    rows = [(tier, (base + i) // TILE, data[i * 32:(i + TILE) * 32]) for i in range(0, len(data) // 32, TILE)]
    db.executemany("INSERT INTO merkle_tile (tier, idx, hashes) VALUES (?, ?, ?) ON CONFLICT (tier, idx) "
                   "DO UPDATE SET hashes = excluded.hashes", rows)


def fold(stack: Sequence[tuple[int, bytes]]) -> bytes:
    """The root of a compact range, its subtrees given left to right."""
    r = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        r = node_hash(h, r)
    return r


def absorb(carry: dict[int, bytes], first: int, hashes: list[bytes], kept: dict[int, tuple[int, list[bytes]]],
           top: int | None = None) -> list[bytes]:
    """Add the leaf hashes of leaves ``first, first + 1, ...`` to a compact range, a level at a time (list
    comprehensions, no call per node). ``carry`` holds, per level, the node still waiting for its right
    sibling; ``kept`` gathers each tiled level's new nodes (tier -> (index of the first, hashes)). The
    nodes made at level ``top`` go no higher: they are returned."""
    sha = _sha256
    level = 0
    while hashes:
        if not level % TILE_HEIGHT:
            kept.setdefault(level // TILE_HEIGHT, (first, []))[1].extend(hashes)
        if level == top:
            return hashes
        left = carry.pop(level, None)
        if left is not None:
            hashes.insert(0, left)
            first -= 1
        if len(hashes) % 2:
            carry[level] = hashes.pop()
        hashes = [sha(b"\x01" + hashes[j] + hashes[j + 1]).digest() for j in range(0, len(hashes), 2)]
        first //= 2
        level += 1
    return []


def append_leaves(db: Database, first: int, leaves: Iterable[bytes]) -> int:
    """Store the leaf hashes for leaves ``first, first + 1, ...`` and the tiled nodes they complete."""
    tree = Tree(db)
    carry = {level: tree.node(level, idx) for level, idx in decompose(first)}
    i = first
    it = iter(leaves)
    while batch := list(itertools.islice(it, _BATCH)):
        kept: dict[int, tuple[int, list[bytes]]] = {}
        n = len(batch)
        absorb(carry, i, batch, kept)  # takes the list as its level 0
        for tier, (low, hashes) in sorted(kept.items()):
            _put_tiles(db, tier, low, hashes)
        i += n
    return i


def decompose(n: int) -> list[tuple[int, int]]:
    """(level, idx) of the complete subtrees that make up the first n leaves, left to right."""
    out: list[tuple[int, int]] = []
    start = 0
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def extend(db: Database, leaves: Callable[[int, int], Iterable[tuple[int, list[bytes]]]], upto: int) -> int:
    """Append the leaves of audit records ``size + 1 .. upto``; the new size. ``leaves(start, end)`` gives
    the leaf hashes of the stored records in runs of consecutive ones: (first seq, hashes)."""
    with db.transaction(lock=LOCK):
        have = size(db)
        if have > upto:
            raise TreeBroken(f"the audit log ends at record {upto}, but its Merkle tree already holds {have} "
                             "records: the log was cut")
        if have == upto:
            return have

        def checked() -> Iterator[list[bytes]]:
            expected = have + 1
            for first, hashes in leaves(have + 1, upto):
                if first != expected:
                    break
                expected += len(hashes)
                yield hashes
            if expected <= upto:
                raise TreeBroken(f"audit record {expected} is missing: the tree cannot pass it")

        return append_leaves(db, have, itertools.chain.from_iterable(checked()))


class Tree:
    """Roots and paths over the stored tiles; the tiles of one request are read once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._tiles: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, idx: int) -> bytes:
        tier, sub = divmod(level, TILE_HEIGHT)
        low = idx << sub
        key = (tier, low // TILE)
        if key not in self._tiles:
            self._tiles[key] = tiles(self.db, tier, key[1], key[1] + 1).get(key[1], b"")
        tile = self._tiles[key]
        at = (low % TILE) * 32
        hashes = [tile[j:j + 32] for j in range(at, at + (32 << sub), 32)]
        if len(hashes[-1]) != 32:
            raise TreeBroken(f"the Merkle tree lacks node {idx} at level {level}: it was cut or never built")
        while len(hashes) > 1:
            hashes = [node_hash(hashes[j], hashes[j + 1]) for j in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(self, start: int, n: int) -> bytes:
        """MTH(D[start:start + n]) for a range that starts on a multiple of its largest power of two."""
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self.node(level, start >> level)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.mth(start, k), self.mth(start + k, n - k))

    def root(self, n: int) -> bytes:
        return self.mth(0, n) if n else EMPTY_ROOT

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


#: slices of a parallel check start on multiples of 2**ALIGN: every node below this level lies in one slice
ALIGN = 16


@dataclass
class SliceTree:
    """What one slice's check hands back: its first problem, its level-ALIGN nodes, its part of each head."""

    problem: tuple[int, str] | None = None
    top: list[bytes] = field(default_factory=list)
    below: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)


class SliceCheck:
    """Recompute the tree over one slice of leaves (from ``first``, a multiple of 2**ALIGN) and compare it
    with the stored tiles; fed each record's canonical bytes by the chain's pass, so they are made once.

    The bytes are hashed a batch at a time, a level at a time (list comprehensions, no call per node);
    ``carry`` holds the one node per level still waiting for its right sibling: the slice's compact range.
    """

    def __init__(self, db: Database, first: int, tree_size: int, head_sizes: Iterable[int]) -> None:
        self.db = db
        self.i = first
        self.limit = tree_size
        self.wanted = sorted(n for n in head_sizes if n % (1 << ALIGN) and n > first)
        self.result = SliceTree()
        self.pending: dict[int, tuple[int, list[bytes]]] = {}
        self.carry: dict[int, bytes] = {}
        self.batch: list[bytes] = []
        self._add = self.batch.append

    def leaf(self, canonical: bytes) -> None:
        self._add(canonical)
        if len(self.batch) >= _BATCH:
            self.flush()

    def leaves(self, canonical: list[bytes]) -> None:
        """Many leaves at once (the chain's fast pass hands a chunk of rows)."""
        self.batch.extend(canonical)
        if len(self.batch) >= _BATCH:
            self.flush()

    def _absorb(self, first: int, leaves: list[bytes]) -> None:
        sha = _sha256
        top = absorb(self.carry, first, [sha(b"\x00" + c).digest() for c in leaves], self.pending, ALIGN)
        self.result.top.extend(top)

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        self._add = self.batch.append
        batch = batch[:max(0, self.limit - self.i)]
        pos = 0
        while self.wanted and self.wanted[0] <= self.i + len(batch) - pos:
            cut = self.wanted.pop(0) - self.i
            self._absorb(self.i, batch[pos:pos + cut])
            self.i += cut
            pos += cut
            self.result.below[self.i] = sorted(self.carry.items(), reverse=True)
        self._absorb(self.i, batch[pos:])
        self.i += len(batch) - pos
        for tier, (low, hashes) in sorted(self.pending.items()):
            problem = compare(self.db, tier, low, hashes)
            if problem and (self.result.problem is None or problem < self.result.problem):
                self.result.problem = problem
        self.pending.clear()

    def finish(self) -> SliceTree:
        self.flush()
        return self.result


def compare(db: Database, tier: int, low: int, hashes: Sequence[bytes]) -> tuple[int, str] | None:
    """(first record, problem) where the stored hashes of a tier differ from ``hashes`` (from ``low`` on)."""
    stored = tiles(db, tier, low // TILE, (low + len(hashes) - 1) // TILE + 1)
    data = b"".join(stored.get(t, b"") for t in range(low // TILE, (low + len(hashes) - 1) // TILE + 1))
    at = (low % TILE) * 32
    if data[at:at + 32 * len(hashes)] == b"".join(hashes):
        return None
    level = tier * TILE_HEIGHT
    for j, h in enumerate(hashes):
        if data[at + 32 * j:at + 32 * j + 32] != h:
            idx = low + j
            return ((idx << level) + 1, f"the stored Merkle tree node {idx} at level {level} (records "
                                        f"{(idx << level) + 1}..{(idx + 1) << level}) does not match the records")
    return None


def combine(db: Database, parts: Sequence[SliceTree], heads: Sequence[tuple[int, str, str]]) -> tuple[int, str] | None:
    """The tree above the slices, checked against the stored tiles, and each head's root against the records."""
    levels = [[h for part in parts for h in part.top]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)])
    for k, hashes in enumerate(levels):
        level = ALIGN + k
        if k and level % TILE_HEIGHT == 0 and hashes:
            problem = compare(db, level // TILE_HEIGHT, 0, hashes)
            if problem:
                return problem
    below_parts: dict[int, list[tuple[int, bytes]]] = {}
    for part in parts:
        below_parts.update(part.below)
    for n, root, ts in heads:
        stack = [(k, levels[k - ALIGN][idx]) for k, idx in decompose(n) if k >= ALIGN]
        stack += below_parts.get(n, [])
        if (fold(stack) if stack else EMPTY_ROOT).hex() != root:
            return (n, f"the tree head of size {n} signed on {ts} does not match the records: the history up to "
                       f"record {n} was rewritten")
    return None


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
