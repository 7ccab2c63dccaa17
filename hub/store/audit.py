"""The message store: an append-only, hash-chained audit log (NEN 7513 shaped).

Every record links to the one before it through a keyed hash (HMAC-SHA256 over
the previous hash and the record's canonical form), so an edited, deleted,
inserted or reordered row breaks the chain at a place ``verify`` names. Raw
payloads are kept beside the chain, addressed by their SHA-256, so they can be
pruned later without breaking it. Appends are group-committed: one transaction
per batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import operator
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.errors import DeadLetter
from hub.store import merkle, meta, payloads
from hub.store.db import Database
from hub.store.errors import WrongKey
from hub.store.migrations import CHECKPOINT_ACTION
from zorghub_verify import leaf_hash

GENESIS = "0" * 64

#: ``seq`` is the rowid itself on SQLite (``Database.DIALECT``): a record is one row in one B-tree
DDL = """
CREATE TABLE IF NOT EXISTS audit (
    seq {rowid_key},
    ts TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL DEFAULT '',
    on_behalf_of TEXT NOT NULL DEFAULT '',
    recipient TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    correlation_id TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    record_type TEXT NOT NULL DEFAULT '',
    record_id TEXT NOT NULL DEFAULT '',
    mapping TEXT NOT NULL DEFAULT '',
    mapping_version TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    payload_sha256 TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    trace_id TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_message ON audit (message_id);
CREATE INDEX IF NOT EXISTS audit_client ON audit (client);
CREATE TABLE IF NOT EXISTS payloads (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    body BLOB,
    stored_at TEXT NOT NULL,
    pruned_at TEXT
)
"""


_HASHED = (
    "seq", "ts", "action", "outcome", "actor", "actor_role", "on_behalf_of", "recipient", "kind",
    "message_id", "correlation_id", "client", "record_type", "record_id", "mapping", "mapping_version",
    "reason", "payload_sha256", "source", "trace_id", "detail",
)
COLUMNS = (*_HASHED, "prev_hash", "hash")
_hashed_of = operator.attrgetter(*_HASHED)
_SOURCE = _HASHED.index("source")
#: leaf hashes kept for the tree at most (about 150 bytes each): past it, the tree reads the records
_LEAVES_KEPT = 1 << 18
_PAYLOAD = _HASHED.index("payload_sha256")
NODE = socket.gethostname()


@dataclass(frozen=True)
class AuditRecord:
    """One event: what happened (action, outcome), who (actor), to what (client, record), from where."""

    action: str
    actor: str
    outcome: str = "success"
    actor_role: str = ""
    on_behalf_of: str = ""
    recipient: str = ""
    kind: str = ""
    message_id: str = ""
    correlation_id: str = ""
    client: str = ""
    record_type: str = ""
    record_id: str = ""
    mapping: str = ""
    mapping_version: str = ""
    reason: str = ""
    payload_sha256: str = ""
    source: str = ""
    trace_id: str = ""
    detail: str = ""
    ts: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    payload: bytes | None = field(default=None, compare=False, repr=False)
    content_type: str = field(default="", compare=False)

    def detail_json(self) -> dict[str, Any]:
        return orjson.loads(self.detail) if self.detail else {}

    @classmethod
    def of(cls, fields: dict[str, Any]) -> AuditRecord:
        """The record with ``fields`` (``action`` and ``actor`` among them) and the defaults for the rest,
        set in one step: the frozen ``__init__`` sets its 25 fields one ``object.__setattr__`` at a time,
        a twentieth of a passthrough message's cost when it made three records a message."""
        unknown = fields.keys() - _DEFAULTS.keys()
        if unknown or "action" not in fields or "actor" not in fields:
            return cls(**fields)  # the dataclass's own error
        rec = object.__new__(cls)
        rec.__dict__.update(_DEFAULTS)
        rec.__dict__.update(fields)
        return rec


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(AuditRecord)
                             if f.default is not dataclasses.MISSING}
_DEFAULTS.update(action="", actor="")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_fingerprint(key: bytes) -> str:
    """What the store keeps of the hub key: its SHA-256, enough to tell another key, useless to forge one."""
    return hashlib.sha256(key).hexdigest()


class PayloadAltered(DeadLetter):
    """A stored body no longer has the SHA-256 the chain signs: it is never sent again."""

    code = "PAYLOAD_ALTERED"


def record_hash(key: bytes, prev_hash: str, values: Sequence[Any]) -> str:
    canonical = orjson.dumps([prev_hash, *values])
    return hmac.digest(key, canonical, "sha256").hex()


def record_mac(key: bytes) -> Callable[[bytes], str]:
    """``record_hash``'s HMAC over a record's canonical bytes, for many records: keyed once and the keyed
    state copied per record (identical digests, about a third cheaper than keying each one)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    base: Any = getattr(keyed, "_hmac", keyed)  # the C object under the wrapper: a copy without two Python frames

    def mac(canonical: bytes) -> str:
        state = base.copy()
        state.update(canonical)
        return str(state.hexdigest())

    return mac


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    seconds: float = 0.0
    payloads: int = 0  # stored bodies checked against their digest (``hub.store.integrity``)

    @property
    def rate(self) -> float:
        return self.checked / self.seconds if self.seconds > 0 else float("inf")


class AuditLog:
    LOCK = "zorghub.audit"

    def __init__(self, db: Database, key: bytes, source: str = "") -> None:
        self.db = db
        self.key = key
        self.source = source or f"{NODE}"
        #: seq -> leaf hash of the records appended and committed here, when ``keep_leaves`` asked for them
        self._leaves: dict[int, bytes] | None = None
        db.script(DDL)
        self._check_key()

    def keep_leaves(self) -> None:
        """Remember each appended record's Merkle leaf hash, so that the process which signs tree heads
        advances the tree without reading the records back and re-encoding them."""
        if self._leaves is None:
            self._leaves = {}

    def _check_key(self) -> None:
        """Refuse a key other than the one the store was written with, before it reads as tampering.

        A store without a recorded fingerprint (new, or upgraded from version 1) takes this key's,
        once its oldest record verifies with it.
        """
        mine = key_fingerprint(self.key)
        recorded = meta.get(self.db, meta.KEY_FINGERPRINT)
        if recorded is None:
            with self.db.transaction(lock=self.LOCK):
                recorded = meta.get(self.db, meta.KEY_FINGERPRINT)
                if recorded is None:
                    first = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY seq LIMIT 1")
                    if first and record_hash(self.key, first[0][-2], first[0][:-2]) != first[0][-1]:
                        raise WrongKey(f"wrong hub key: record {first[0][0]}, the oldest in the store, does not "
                                       f"verify with it (fingerprint {mine[:8]}…), and the store has no key "
                                       "fingerprint to compare with")
                    meta.put(self.db, meta.KEY_FINGERPRINT, mine)
                    return
        if recorded != mine:
            raise WrongKey(f"wrong hub key (fingerprint {mine[:8]}… expected {recorded[:8]}…): this is not the key "
                           "the store was written with; set ZORGHUB_HOME to the hub's home or pseudonym_key")

    # ----- writing ---------------------------------------------------------------
    def append(self, records: Iterable[AuditRecord]) -> list[AuditRecord]:
        """Append records in one transaction (the group commit)."""
        with self.db.transaction(lock=self.LOCK):
            return self.append_in_tx(records)

    def append_in_tx(self, records: Iterable[AuditRecord], *, returning: bool = True) -> list[AuditRecord]:
        """Append inside the caller's transaction, so other writes commit with it.

        ``returning=False`` skips building the written records (the hot path has no use for them).
        """
        tail = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        seq, prev = (int(tail[0][0]), str(tail[0][1])) if tail else (0, GENESIS)
        rows: list[tuple[Any, ...]] = []
        payload_rows: list[tuple[str, str, bytes, str, str]] = []
        done: list[AuditRecord] = []
        ts_default = now_iso()
        mac = record_mac(self.key)
        dumps = orjson.dumps
        leaves = self._leaves
        if leaves is not None and len(leaves) > _LEAVES_KEPT:  # no head signed for long: start afresh
            leaves.clear()
        made: dict[int, bytes] = {}
        for rec in records:
            seq += 1
            values = list(_hashed_of(rec))  # one C call for the 21 fields, then the ones set here
            values[0] = seq
            ts = values[1] = rec.ts or ts_default
            source = values[_SOURCE] = rec.source or self.source
            if rec.payload is not None:
                digest = rec.payload_sha256 or sha256(rec.payload)
                payload_rows.append((digest, rec.content_type or "application/octet-stream", rec.payload,
                                     ts_default, payloads.key_id(rec.client, ts_default)))
                values[_PAYLOAD] = digest
            canonical = dumps([prev, *values])
            digest = mac(canonical)
            if leaves is not None:
                made[seq] = leaf_hash(canonical)
            rows.append((*values, prev, digest))
            if returning:
                done.append(dataclasses.replace(rec, seq=seq, ts=ts, source=source, payload_sha256=values[_PAYLOAD],
                                                prev_hash=prev, hash=digest, payload=None))
            prev = digest
        payloads.insert(self.db, payload_rows)  # sealed under the client's data key (hub.store.payloads)
        if made and leaves is not None:  # a rolled-back record's seq is written again, with other bytes
            self.db.after_commit(lambda: leaves.update(made))
        placeholders = ", ".join("?" for _ in COLUMNS)
        self.db.executemany(f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows)
        if rows:
            # kept outside the audit table: an emptied or cut log still shows how far it once reached
            meta.raise_to(self.db, meta.AUDIT_HIGH_SEQ, seq)
            checkpoints = [int(r[0]) for r in rows if r[2] == CHECKPOINT_ACTION]
            if checkpoints:
                meta.raise_to(self.db, meta.AUDIT_CHECKPOINT_SEQ, checkpoints[-1])
        return done

    def store_payloads_in_tx(self, bodies: Iterable[tuple[bytes, str]]) -> None:
        """Keep bodies that no record of the batch carries (a flow's unaudited message), named by SHA-256,
        beside the audited ones: the outbox refers to every body it sends by digest."""
        ts = now_iso()
        rows = []
        for body, content_type in bodies:
            digest = sha256(body)  # no client to key it by: the day's key (sealed like the rest)
            rows.append((digest, content_type or "application/octet-stream", body, ts, payloads.key_id("", ts)))
        payloads.insert(self.db, rows)

    # ----- reading ---------------------------------------------------------------
    def records(self, where: str = "", params: Sequence[Any] = (), *, order: str = "seq") -> list[AuditRecord]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM audit"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order}"
        return [AuditRecord(**dict(zip(COLUMNS, row, strict=True))) for row in self.db.execute(sql, params)]

    def for_message(self, message_id: str) -> list[AuditRecord]:
        return self.records("message_id = ?", (message_id,))

    def message_ids(self, prefix: str, limit: int = 100) -> list[str]:
        """The distinct message ids that start with ``prefix``, so that a person may type one short."""
        rows = self.db.execute("SELECT DISTINCT message_id FROM audit WHERE substr(message_id, 1, ?) = ? "
                               "ORDER BY message_id LIMIT ?", (len(prefix), prefix, int(limit)))
        return [str(r[0]) for r in rows]

    def payload(self, digest: str, *, verify: bool = False) -> bytes | None:
        """The stored body, or None if never stored or pruned. ``verify``: ``PayloadAltered`` if it was changed."""
        body = payloads.body(self.db, digest)
        if body is None:
            return None
        if verify and sha256(body) != digest:
            raise PayloadAltered(f"the stored payload {digest[:12]}… was altered: its body no longer has the "
                                 "SHA-256 the audit chain signs", rule="PAYLOAD_ALTERED")
        return body

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM audit")[0][0])

    def head(self) -> tuple[int, str]:
        tail = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return (int(tail[0][0]), str(tail[0][1])) if tail else (0, GENESIS)

    def leaf_hashes(self, start: int, end: int, chunk: int = 20000) -> Iterator[tuple[int, list[bytes]]]:
        """(first seq, Merkle leaf hashes) of the records ``start..end``, a run of consecutive ones at a time,
        as far as the log goes. A record this process appended comes from memory: its leaf is what the hub
        wrote (a row rewritten since no longer matches the tree, and ``audit verify`` says so); any other
        is read from its row."""
        kept = self._leaves if self._leaves is not None else {}
        seq = start
        while seq <= end:
            first, hashes = seq, []
            while seq <= end and seq in kept:
                hashes.append(kept.pop(seq))
                seq += 1
            if hashes:
                yield first, hashes
                continue
            stop = seq
            while stop < end and stop - seq < chunk and stop + 1 not in kept:
                stop += 1
            for s, row in enumerate(self.iter_rows(seq, stop), start=seq):
                if int(row[0]) != s:  # a gap: the caller names the record missing
                    break
                hashes.append(leaf_hash(merkle.leaf_bytes(row, len(_HASHED))))
            if hashes:
                yield seq, hashes
            if len(hashes) < stop - seq + 1:
                return
            seq = stop + 1

    # ----- verifying -------------------------------------------------------------
    def iter_rows(self, start: int = 1, end: int | None = None, chunk: int = 20000) -> Iterator[tuple[Any, ...]]:
        cols = ", ".join(COLUMNS)
        low = start
        while True:
            high = low + chunk - 1 if end is None else min(low + chunk - 1, end)
            found = 0
            # streamed, not a list: tens of thousands of live row tuples would wake the cyclic GC (2x on verify)
            for row in self.db.stream(f"SELECT {cols} FROM audit WHERE seq >= ? AND seq <= ? ORDER BY seq",
                                      (low, high)):
                found += 1
                yield row
            if end is not None and high >= end:
                return
            if not found:
                # a gap of a whole chunk is still a gap: look past it before stopping
                more = self.db.execute("SELECT MIN(seq) FROM audit WHERE seq > ?", (high,))
                if more[0][0] is None:
                    return
            low = high + 1

    def verify(self, start: int = 1, end: int | None = None, *,
               leaf: Callable[[bytes], None] | None = None) -> VerifyResult:
        """Walk the chain; name the first record that is out of place or altered.

        ``leaf`` gets each verified record's canonical bytes (the Merkle tree's check shares the pass)."""
        began = time.perf_counter()
        expected_seq = start
        prev: str | None = None
        if start > 1:
            before = self.db.execute("SELECT hash FROM audit WHERE seq = ?", (start - 1,))
            prev = str(before[0][0]) if before else None
        else:
            prev = GENESIS
        checked = 0
        n_hashed = len(_HASHED)
        mac = record_mac(self.key)
        dumps = orjson.dumps
        for row in self.iter_rows(start, end):
            seq = int(row[0])
            problem = ""
            if seq != expected_seq:
                problem = (f"record {expected_seq} is missing (deleted?)" if seq > expected_seq
                           else f"record {seq} is out of order")
                bad = expected_seq if seq > expected_seq else seq
            elif prev is not None and row[n_hashed] != prev:
                problem, bad = f"record {seq} does not link to record {seq - 1} (inserted or reordered)", seq
            else:
                canonical = dumps([row[n_hashed], *row[:n_hashed]])
                if mac(canonical) != row[n_hashed + 1]:
                    problem, bad = f"record {seq} was altered: its hash does not match its content", seq
                elif leaf is not None:
                    leaf(canonical)
            if problem:
                return VerifyResult(False, checked, bad, problem, time.perf_counter() - began)
            prev = row[n_hashed + 1]
            expected_seq += 1
            checked += 1
        if end is not None and expected_seq <= end:
            # a range that stops short: missing rows at its end, if the log goes on past them
            later = self.db.execute("SELECT MIN(seq) FROM audit WHERE seq >= ?", (expected_seq,))
            if later and later[0][0] is not None:
                return VerifyResult(False, checked, expected_seq, f"record {expected_seq} is missing (deleted?)",
                                    time.perf_counter() - began)
        return VerifyResult(True, checked, None, "", time.perf_counter() - began)


def _verify_part(args: tuple[str, bytes, int, int | None]) -> VerifyResult:
    url, key, start, end = args
    db = Database.open_existing(url)
    try:
        return AuditLog(db, key).verify(start, end)
    finally:
        db.close()


def verify_parallel(url: str, key: bytes, start: int = 1, end: int | None = None, workers: int = 2,
                    min_records: int = 200_000) -> VerifyResult:
    """``AuditLog.verify`` over contiguous slices in parallel processes: the same verdict, sooner.

    Each slice checks its own links and hashes and links its first record to the one before it, so
    together the slices check every link the single pass checks; the first failing slice names the
    first bad record, as the single pass would.
    """
    import multiprocessing

    began = time.perf_counter()
    db = Database.open_existing(url)
    try:
        log = AuditLog(db, key)
        last = end if end is not None else log.head()[0]
    finally:
        db.close()
    total = last - start + 1
    if workers <= 1 or total < min_records:
        return _verify_part((url, key, start, end if end is not None else last))
    size = -(-total // workers)
    parts: list[tuple[str, bytes, int, int | None]] = [(url, key, lo, min(lo + size - 1, last))
                                                         for lo in range(start, last + 1, size)]
    if end is None:
        parts[-1] = (url, key, parts[-1][2], None)  # the tail: whatever was appended meanwhile, too
    with multiprocessing.get_context("spawn").Pool(len(parts)) as pool:
        results = pool.map(_verify_part, parts)
    checked = 0
    for part in results:
        checked += part.checked
        if not part.ok:
            return VerifyResult(False, checked, part.first_bad_seq, part.problem, time.perf_counter() - began)
    return VerifyResult(True, checked, None, "", time.perf_counter() - began)
