"""``audit verify`` beyond the chain: what a valid but shortened chain, or a changed body, hides.

The hash chain proves every record it holds; it cannot prove the records it no longer holds, nor
the payload bodies kept beside it. So the whole store is checked here:

- the log against ``meta``: an emptied log, or one that ends before the last checkpoint record or
  before the highest seq ever written, was cut;
- every payload a record names: its body, opened with its data key, must still have the SHA-256 the
  chain signs, unless retention pruned it (``pruned_at`` set) or shredded its key;
- the Merkle tree and every signed tree head, recomputed from the records in the chain's pass.
"""

from __future__ import annotations

import gc
import time

from hub.store import merkle, meta, payloads
from hub.store.audit import _HASHED, GENESIS, AuditLog, VerifyResult, record_mac, sha256, verify_parallel
from hub.store.db import Database

_CHUNK = 500
#: rows a read of the fast pass takes
_ROWS = 16384
#: SQLite makes each record's canonical form itself: the very bytes ``orjson.dumps([prev_hash, *hashed])``
#: gives (the same escapes, UTF-8 unescaped), as bytes: two objects a row instead of 23 (the link to the
#: record before is read from the canonical form, which begins ``["<prev_hash>",``)
_CANONICAL = f"SELECT hash, CAST(json_array(prev_hash, {', '.join(_HASHED)}) AS BLOB) FROM audit " \
             "WHERE seq >= ? AND seq <= ? ORDER BY seq"


def check_tail(log: AuditLog) -> VerifyResult | None:
    """A problem if the log ends before what the store recorded writing; None if it does not."""
    db = log.db
    high = meta.get_int(db, meta.AUDIT_HIGH_SEQ)
    checkpoint = meta.get_int(db, meta.AUDIT_CHECKPOINT_SEQ)
    head, _ = log.head()
    if high is None or checkpoint is None:
        return VerifyResult(False, 0, head + 1, "the store's record of how far its audit log reached "
                                                "(meta audit_high_seq, audit_checkpoint_seq) is missing: removed?")
    if head == 0 and high > 0:
        return VerifyResult(False, 0, 1, f"the audit log is empty, but the store has written {high} record(s): "
                                         "they were deleted")
    if head < checkpoint:
        return VerifyResult(False, 0, head + 1, f"the log was truncated: it ends at record {head}, before its last "
                                                f"checkpoint (record {checkpoint})")
    if head < high:
        return VerifyResult(False, 0, head + 1, f"the log was truncated: it ends at record {head}, but the store has "
                                                f"written up to record {high}")
    return None


def check_payloads(log: AuditLog, start: int = 1, end: int | None = None) -> tuple[int, VerifyResult | None]:
    """(bodies checked, the first problem or None): each named body present, or pruned, and unchanged."""
    db = log.db
    upper, params = ("AND a.seq <= ?", (start, end)) if end is not None else ("", (start,))
    rows = db.execute("SELECT MIN(a.seq), a.payload_sha256 FROM audit a LEFT JOIN payloads p "
                      "ON p.sha256 = a.payload_sha256 WHERE a.payload_sha256 <> '' AND a.seq >= ? "
                      f"{upper} AND (p.sha256 IS NULL OR (p.body IS NULL AND p.pruned_at IS NULL)) "
                      "GROUP BY a.payload_sha256 ORDER BY 1 LIMIT 1", params)
    missing = (int(rows[0][0]), str(rows[0][1])) if rows else None
    altered: list[str] = []
    checked = 0
    for digest, body in payloads.iter_bodies(db, _CHUNK):
        if body is None:  # shredded under the retention policy: no key, nothing to compare
            continue
        checked += 1
        if sha256(body) != digest:
            altered.append(digest)
    first_altered: tuple[int, str] | None = None
    for i in range(0, len(altered), _CHUNK):
        names = altered[i:i + _CHUNK]
        found = db.execute(f"SELECT MIN(seq), payload_sha256 FROM audit WHERE payload_sha256 IN "
                           f"({', '.join('?' for _ in names)}) GROUP BY payload_sha256", names)
        for seq, digest in found:
            if first_altered is None or int(seq) < first_altered[0]:
                first_altered = (int(seq), str(digest))
    problems: list[tuple[int, str]] = []
    if missing:
        problems.append((missing[0], f"record {missing[0]}'s payload {missing[1][:12]}… is missing: deleted, "
                                     "not pruned under the retention policy"))
    if first_altered:
        problems.append((first_altered[0], f"record {first_altered[0]}'s payload {first_altered[1][:12]}… was "
                                           "altered: its body no longer has the SHA-256 the chain signs"))
    elif altered:  # a changed body that no record names
        problems.append((0, f"stored payload {altered[0][:12]}… was altered: its body does not have its SHA-256"))
    if not problems:
        return checked, None
    seq, problem = min(problems)
    return checked, VerifyResult(False, 0, seq or None, problem)


_TreePart = tuple[str, bytes, int, int | None, int, tuple[int, ...]]


def fast_chain(db: Database, key: bytes, start: int, end: int | None, check: merkle.SliceCheck) -> int | None:
    """The chain over ``start..end`` on SQLite, with SQLite making the canonical bytes: how many records
    hold, or None at the first thing out of place (``AuditLog.verify`` then names it, in its own words).

    Sound: a record passes only if the HMAC of the bytes SQLite made is the stored hash, that is, if they
    are the bytes the hub signed; any difference in how SQLite writes JSON makes a record fail here and be
    judged by the exact pass, never pass wrongly."""
    if start > 1:
        before = db.execute("SELECT hash FROM audit WHERE seq = ?", (start - 1,))
        if not before:
            return None
        prev = str(before[0][0])
    else:
        prev = GENESIS
    mac = record_mac(key)
    link = prev.encode()
    low = start
    while end is None or low <= end:
        high = low + _ROWS - 1 if end is None else min(low + _ROWS - 1, end)
        rows = db.execute(_CANONICAL, (low, high))
        # seq is the key: a full read is low..high; a short one must be the log's end, else a record is missing
        short = len(rows) != high - low + 1
        if short and (end is not None or db.execute("SELECT MAX(seq) FROM audit")[0][0] != low + len(rows) - 1):
            return None
        batch: list[bytes] = []
        add = batch.append
        for digest, data in rows:
            if data[2:66] != link:  # the record names another as the one before it
                return None
            if mac(data) != digest:
                return None
            add(data)
            link = digest.encode()
        check.leaves(batch)
        low += len(rows)
        if short:
            break
    return low - start


def _verify_part(args: _TreePart) -> tuple[VerifyResult, merkle.SliceTree]:
    url, key, start, end, tree_size, head_sizes = args
    db = Database.open_existing(url)
    collecting = gc.isenabled()
    gc.disable()  # the pass makes no cycles: the collector would only walk the rows
    try:
        began = time.perf_counter()
        if not db.is_postgres:
            check = merkle.SliceCheck(db, start - 1, tree_size, head_sizes)
            checked = fast_chain(db, key, start, end, check)
            if checked is not None:
                return VerifyResult(True, checked, None, "", time.perf_counter() - began), check.finish()
        check = merkle.SliceCheck(db, start - 1, tree_size, head_sizes)
        return AuditLog(db, key).verify(start, end, leaf=check.leaf), check.finish()
    finally:
        if collecting:
            gc.enable()
        db.close()


def verify_with_tree(url: str, key: bytes, workers: int = 2, min_records: int = 200_000) -> VerifyResult:
    """The whole chain and the Merkle tree in one pass over the records, in slices on every core.

    The slices start on multiples of 2**16 records, so each recomputes and compares every tree node
    below that level by itself; the nodes above, and each signed head's root, are put together here.
    """
    import multiprocessing

    began = time.perf_counter()
    db = Database.open_existing(url)
    try:
        last = AuditLog(db, key).head()[0]
        merkle.create(db)
        tree_size = merkle.size(db)
        heads = [(n, root, ts) for n, root, ts, _, _ in merkle.heads(db) if n <= tree_size]
    finally:
        db.close()
    sizes = tuple(n for n, _, _ in heads)
    align = 1 << merkle.ALIGN
    if workers <= 1 or last < min_records:
        parts: list[_TreePart] = [(url, key, 1, None, tree_size, sizes)]
    else:
        share = -(-last // workers)
        size = -(-share // align) * align
        parts = [(url, key, lo, lo + size - 1, tree_size, sizes) for lo in range(1, last + 1, size)]
        parts[-1] = (*parts[-1][:3], None, tree_size, sizes)  # the tail: whatever was appended meanwhile, too
    if len(parts) == 1:
        results = [_verify_part(parts[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(len(parts)) as pool:
            results = pool.map(_verify_part, parts)
    checked = 0
    for chain, _ in results:
        checked += chain.checked
        if not chain.ok:
            return VerifyResult(False, checked, chain.first_bad_seq, chain.problem, time.perf_counter() - began)
    problems = [tree.problem for _, tree in results if tree.problem]
    if tree_size > checked:
        problems.append((checked + 1, f"the log was cut: it ends at record {checked}, but its Merkle tree holds "
                                      f"{tree_size} records"))
    if not problems:
        db = Database.open_existing(url)
        try:
            found = merkle.combine(db, [tree for _, tree in results], heads)
        finally:
            db.close()
        problems = [found] if found else []
    if problems:
        seq, problem = min(problems)
        return VerifyResult(False, checked, seq, problem, time.perf_counter() - began)
    return VerifyResult(True, checked, None, "", time.perf_counter() - began)


def verify_store(url: str, key: bytes, start: int = 1, end: int | None = None, workers: int = 2,
                 kek_source: str = "") -> VerifyResult:
    """The chain (in parallel slices for a large log; the whole log with its Merkle tree), then the tail
    against ``meta``, then every payload."""
    began = time.perf_counter()
    if start == 1 and end is None:
        chain = verify_with_tree(url, key, workers=workers)
    else:
        chain = verify_parallel(url, key, start, end, workers=workers)
    if not chain.ok:
        return chain
    db = Database.open_existing(url)
    try:
        log = AuditLog(db, key)
        if kek_source:  # sealed bodies are opened to be checked; without it they cannot be
            payloads.attach(db, kek_source)
        problem = check_tail(log) if end is None else None
        bodies, bad = check_payloads(log, start, end)
        problem = problem or bad
    finally:
        db.close()
    seconds = time.perf_counter() - began
    if problem is not None:
        return VerifyResult(False, chain.checked, problem.first_bad_seq, problem.problem, seconds, bodies)
    return VerifyResult(True, chain.checked, None, "", seconds, bodies)
