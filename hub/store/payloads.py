"""Storing, reading and pruning payloads (the bodies the audit chain signs by SHA-256), encrypted at rest.

Each body is sealed with AES-256-GCM under a data key: one per client and month (``c:<pseudonym>:<YYYY-MM>``),
or one per day for the bodies with no client (``d:<YYYY-MM-DD>``; earlier releases made one per message,
``m:<when made>:<hashed message id>``, and those still open); the body's SHA-256 is the associated data,
so a sealed body moved under another digest does not open. The data keys are
stored wrapped by a key-encryption key (KEK) that never enters the store: a file or an environment
variable now (``kek_provider``), anything with ``wrap``/``unwrap`` later (a KMS). Retention deletes
the data keys of expired payloads (crypto-shredding): every copy of the ciphertext, in backups and
WAL files too, becomes unreadable, and the chain, which signs digests only, still verifies.

A ``Sealer`` is attached to a ``Database`` (``attach``); the functions below take the database
as before, so their callers do not change. A body written before encryption (no ``MAGIC``) reads as is.
"""

from __future__ import annotations

import base64
import hashlib
import os
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import ConfigError
from hub.store import private
from hub.store.db import Database, Row

DDL = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY,
    wrapped BLOB,
    kek_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    shredded_at TEXT
) WITHOUT ROWID
"""
TEXT_MAGIC = "zpe1:"  # a sealed text column: the sealed bytes in base64 after it
_FIELD = "register-field"  # the associated data of a sealed register column
MAGIC = b"zpe1"  # a sealed body: MAGIC, key id length (1 byte), key id, 12-byte nonce, ciphertext + tag
_NONCE = 12
_CACHED = 10_000  # unwrapped data keys kept per process


class PayloadLocked(ConfigError):
    """A sealed body and no key-encryption key to open it with (or the wrong one)."""

    code = "PAYLOAD_LOCKED"


# ----- key-encryption keys -------------------------------------------------------------------------
class KekProvider(Protocol):
    """Wraps and unwraps data keys; the KEK itself stays with the provider (a file, a variable, a KMS)."""

    kek_id: str

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalKek:
    """A 32-byte KEK held in memory (read from a file or a variable): AES-256-GCM key wrapping."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ConfigError("the payload key-encryption key must be 32 bytes (64 hex characters)")
        self._aead = AESGCM(kek)
        self.kek_id = hashlib.sha256(b"zorghub/kek/" + kek).hexdigest()[:16]

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data_key, self.kek_id.encode())

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], self.kek_id.encode())
        except InvalidTag:
            raise PayloadLocked("a data key does not unwrap with this key-encryption key (another KEK?)") from None


def kek_provider(source: str, *, create: bool = False) -> KekProvider:
    """``file:PATH`` (64 hex characters; made 0600 on first use when ``create``) or ``env:NAME``."""
    kind, _, where = source.partition(":")
    if kind == "env":
        raw = os.environ.get(where, "")
        if not raw:
            raise PayloadLocked(f"the payload key-encryption key variable {where} is not set")
    elif kind == "file":
        path = Path(where)
        if not path.exists():
            if not create:
                raise PayloadLocked(f"no payload key-encryption key at {path} (set payload_kek)")
            path.parent.mkdir(parents=True, exist_ok=True)
            private.write_once(path, os.urandom(32).hex().encode())
        private.check_private(path, private.FILE_MODE)
        raw = path.read_text().strip()
    else:
        raise ConfigError(f"payload_kek must be file:PATH or env:NAME, not {source!r}")
    try:
        return LocalKek(bytes.fromhex(raw))
    except ValueError:
        raise ConfigError("the payload key-encryption key must be 64 hex characters") from None


# ----- sealing -------------------------------------------------------------------------------------
def key_id(client: str, stored_at: str) -> str:
    """A client's key for the month, or the day's key for the bodies with no client.

    Not a key per message: that made a data key, a wrap and a key schedule for every client-less body (a
    sixth of a passthrough message's audit cost), a key table as long as the payload table, and a key
    rotation and a retention prune that walked one key per message. A day's key is shredded once all of
    its day's bodies have expired: a day after the first of them at most, where a client's is a month."""
    if client:
        return f"c:{client}:{stored_at[:7]}"
    return f"d:{stored_at[:10]}"


class Sealer:
    """Seals and opens bodies with the data keys in ``data_keys``, unwrapped once per process."""

    def __init__(self, db: Database, kek: KekProvider | None = None, *, kek_source: str = "",
                 create: bool = False) -> None:
        self.db = db
        self._kek = kek
        self._source, self._create = kek_source, create
        self._keys: dict[bytes, AESGCM] = {}  # by wrapped key
        db.script(DDL)

    @property
    def kek(self) -> KekProvider:
        if self._kek is None:  # read when first needed: a command that never touches a body needs no KEK
            self._kek = kek_provider(self._source, create=self._create)
        return self._kek

    def _aead(self, wrapped: bytes) -> AESGCM:
        """The unwrapped key of a stored wrapped one, cached by the wrapped bytes: a key whose insert was
        rolled back is never found again, so it is never used again."""
        aead = self._keys.get(wrapped)
        if aead is None:
            if len(self._keys) > _CACHED:  # keys of many clients, and older stores' per-message ones: bounded
                self._keys.clear()
            aead = self._keys[wrapped] = AESGCM(self.kek.unwrap(wrapped))
        return aead

    def _stored(self, ids: Sequence[str]) -> dict[str, bytes | None]:
        marks = ", ".join("?" for _ in ids)
        return {str(k): (bytes(w) if w is not None else None) for k, w in self.db.execute(
            f"SELECT key_id, wrapped FROM data_keys WHERE key_id IN ({marks})", list(ids))}

    def _keys_for(self, ids: set[str], now: str) -> dict[str, tuple[str, AESGCM]]:
        """key id -> (the id sealed under, its key), asked of the store each batch (inside its transaction)."""
        wanted = sorted(ids)
        found = self._stored(wanted)
        out: dict[str, tuple[str, AESGCM]] = {}
        new: dict[str, str] = {}  # asked id -> id to create
        for k in wanted:
            if k not in found:
                new[k] = k
            elif found[k] is None:  # shredded, and a new body for it: a new key under a new id, never the old one
                new[k] = f"{k}~{os.urandom(4).hex()}"
            else:
                out[k] = (k, self._aead(found[k]))  # type: ignore[arg-type]
        if new:
            fresh = os.urandom(32 * len(new))  # one read of the kernel's generator for the batch's keys
            made = {k: fresh[i * 32:(i + 1) * 32] for i, k in enumerate(new.values())}
            wraps = {k: self.kek.wrap(v) for k, v in made.items()}
            self.db.executemany("INSERT OR IGNORE INTO data_keys (key_id, wrapped, kek_id, created_at) "
                                "VALUES (?, ?, ?, ?)", [(k, wraps[k], self.kek.kek_id, now) for k in made])
            # another writer may have made one first: then use what is stored, not ours. Not on SQLite inside
            # a transaction: it began IMMEDIATE, so no other writer came between the read above and now
            stored = wraps if self.db.writing_alone() else self._stored(sorted(made))
            for asked, k in new.items():
                w = stored.get(k)
                if w is None:
                    raise PayloadLocked(f"data key {k} could not be stored")
                out[asked] = (k, AESGCM(made[k]) if w == wraps[k] else self._aead(w))
        return out

    def seal_rows(self, rows: Sequence[tuple[str, str, bytes, str, str]]) -> list[tuple[str, str, bytes, str]]:
        """(digest, content_type, body, stored_at, key id) -> payload rows with the body sealed."""
        if not rows:
            return []
        keys = self._keys_for({r[4] for r in rows}, rows[0][3])
        nonces = os.urandom(_NONCE * len(rows))
        out = []
        for i, (digest, ctype, body, stored_at, asked) in enumerate(rows):
            kid, aead = keys[asked]
            nonce = nonces[i * _NONCE:(i + 1) * _NONCE]
            head = MAGIC + bytes([len(kid.encode())]) + kid.encode()
            out.append((digest, ctype, head + nonce + aead.encrypt(nonce, body, digest.encode()), stored_at))
        return out

    def open(self, digest: str, blob: bytes) -> bytes | None:
        """The clear body; None when its data key was shredded (asked each time: another process may have)."""
        kid, nonce, sealed = split(blob)
        if kid is None:
            return blob
        rows = self.db.execute("SELECT wrapped FROM data_keys WHERE key_id = ?", (kid,))
        if not rows:
            return b""  # a key gone without a shred record: the body reads as altered
        if rows[0][0] is None:
            return None
        aead = self._aead(bytes(rows[0][0]))
        try:
            return aead.decrypt(nonce, sealed, digest.encode())
        except InvalidTag:
            return b""  # cannot be the body the digest names: reads as altered


def seal_field(db: Database, key_id: str, value: str | bytes) -> str | bytes:
    """A register column (text or bytes) sealed under ``key_id``'s data key; as is when no KEK is attached."""
    sealer = sealer_of(db)
    if sealer is None:
        return value
    raw = value.encode() if isinstance(value, str) else value
    sealed = sealer.seal_rows([(_FIELD, "", raw, _now(), key_id)])[0][2]
    return TEXT_MAGIC + base64.b64encode(sealed).decode() if isinstance(value, str) else sealed


def open_field(db: Database, value: Any) -> Any:
    """The clear column value of ``seal_field``; a clear one as is; '' or b'' when its key was shredded."""
    if isinstance(value, str) and value.startswith(TEXT_MAGIC):
        clear = _open(db, _FIELD, base64.b64decode(value[len(TEXT_MAGIC):]))
        return clear.decode() if clear is not None else ""
    if isinstance(value, bytes | memoryview) and bytes(value[:len(MAGIC)]) == MAGIC:
        return _open(db, _FIELD, bytes(value)) or b""
    return value


def open_rows(db: Database, rows: Sequence[Row], *columns: int) -> list[Row]:
    """Rows with the given columns opened (``open_field``)."""
    if not columns:
        return list(rows)
    return [tuple(open_field(db, v) if i in columns else v for i, v in enumerate(r)) for r in rows]


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def split(blob: bytes) -> tuple[str | None, bytes, bytes]:
    """(key id, nonce, ciphertext) of a sealed body; (None, b"", blob) for a clear one."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
        return None, b"", blob
    n = blob[len(MAGIC)]
    at = len(MAGIC) + 1 + n
    return blob[len(MAGIC) + 1:at].decode(), blob[at:at + _NONCE], blob[at + _NONCE:]


_SEALERS: weakref.WeakKeyDictionary[Database, Sealer] = weakref.WeakKeyDictionary()


def attach(db: Database, kek_source: str, *, create: bool = False) -> Sealer:
    """Seal what ``db`` stores from now on and open what it reads, with the KEK from ``kek_source``."""
    sealer = _SEALERS[db] = Sealer(db, kek_source=kek_source, create=create)
    return sealer


def sealer_of(db: Database) -> Sealer | None:
    return _SEALERS.get(db)


def _open(db: Database, digest: str, body: object) -> bytes | None:
    if body is None:
        return None
    blob = bytes(body)  # type: ignore[call-overload]
    if not blob.startswith(MAGIC):
        return blob
    sealer = sealer_of(db)
    if sealer is None:
        if shredded_on(db, blob) != "an unknown date":
            return None  # shredded: no key could open it, this one or any other
        raise PayloadLocked(f"payload {digest[:12]}… is encrypted and no key-encryption key is configured")
    return sealer.open(digest, blob)


# ----- the store's payload API ---------------------------------------------------------------------
def insert(db: Database, rows: Sequence[tuple[str, str, bytes, str, str]]) -> None:
    """Store (digest, content_type, body, stored_at, key id) once per digest, sealed when a KEK is attached."""
    sealer = sealer_of(db)
    sealed = sealer.seal_rows(rows) if sealer is not None else [r[:4] for r in rows]
    db.executemany("INSERT OR IGNORE INTO payloads (sha256, content_type, body, stored_at) VALUES (?, ?, ?, ?)",
                   sealed)


def body(db: Database, digest: str) -> bytes | None:
    """The clear body, or None if never stored, pruned or shredded."""
    rows = db.execute("SELECT body FROM payloads WHERE sha256 = ?", (digest,))
    return _open(db, digest, rows[0][0]) if rows else None


def stored(db: Database, digests: Sequence[str]) -> list[Row]:
    """(sha256, clear body or None, content_type, how it went) of the digests that are stored; how it
    went: '' when the body is there, 'pruned on <date>' or 'shredded on <date> ...' when not."""
    rows = db.execute(f"SELECT sha256, body, content_type, pruned_at FROM payloads WHERE sha256 IN "
                      f"({', '.join('?' for _ in digests)})", list(digests))
    out: list[Row] = []
    for digest, blob, ctype, pruned_at in rows:
        clear = _open(db, str(digest), blob)
        how = f"pruned on {pruned_at}" if blob is None else ""
        if blob is not None and clear is None:
            how = f"shredded on {shredded_on(db, bytes(blob))} (its data key was deleted)"
        out.append((digest, clear, ctype, how))
    return out


def shredded_on(db: Database, blob: bytes) -> str:
    """When the data key of a sealed body was shredded; 'an unknown date' when it was not."""
    kid = split(blob)[0]
    rows = db.execute("SELECT shredded_at FROM data_keys WHERE key_id = ?", (kid,)) if kid else []
    return str(rows[0][0]) if rows and rows[0][0] else "an unknown date"


def state(db: Database, digest: str) -> Row | None:
    """(clear body or None, how it went) of one payload, None when it was never stored."""
    found = stored(db, [digest])
    return (found[0][1], found[0][3]) if found else None


def iter_bodies(db: Database, chunk: int = 500) -> Iterable[tuple[str, bytes | None]]:
    """(digest, clear body or None when shredded) of every stored body, in digest order."""
    after = ""
    while True:
        part = db.execute("SELECT sha256, body FROM payloads WHERE sha256 > ? AND body IS NOT NULL "
                          "ORDER BY sha256 LIMIT ?", (after, chunk))
        for digest, blob in part:
            yield str(digest), _open(db, str(digest), blob)
        if len(part) < chunk:
            return
        after = str(part[-1][0])


def prune_older(db: Database, cutoff: str, spared_actions: Sequence[str], pruned_at: str, *,
                dry_run: bool = False) -> tuple[int, int]:
    """Retire every body stored before ``cutoff`` that no record since then refers to (records with one of
    ``spared_actions`` do not count); (how many, their bytes). ``dry_run`` counts only.

    A data key all of whose bodies are retired is deleted (shredded); a body under a key still in use
    elsewhere is emptied instead. Either way it cannot be read again."""
    spared = f" AND action NOT IN ({', '.join('?' for _ in spared_actions)})" if spared_actions else ""  # () is no SQL
    keep = f"SELECT payload_sha256 FROM audit WHERE ts >= ? AND payload_sha256 <> ''{spared}"
    where = f"body IS NOT NULL AND stored_at < ? AND sha256 NOT IN ({keep})"
    params = [cutoff, cutoff, *spared_actions]
    with db.transaction():
        rows = db.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM payloads WHERE {where}", params)
        count, size = int(rows[0][0]), int(rows[0][1])
        if dry_run or not count:
            return count, size
        expired: dict[str, list[str]] = {}
        for digest, blob in db.execute(f"SELECT sha256, SUBSTR(body, 1, 300) FROM payloads WHERE {where}", params):
            kid = split(bytes(blob))[0]
            if kid is not None and shredded_on(db, bytes(blob)) == "an unknown date":
                expired.setdefault(kid, []).append(str(digest))
        live = set()
        for kid in expired:  # a key with a body that stays (younger, or still referred to) is not shredded
            still = db.execute(f"SELECT COUNT(*) FROM payloads WHERE body IS NOT NULL AND SUBSTR(body, 1, ?) = ? "
                               f"AND NOT ({where})", [len(MAGIC) + 1 + len(kid.encode()),
                                                      MAGIC + bytes([len(kid.encode())]) + kid.encode(), *params])
            if int(still[0][0]):
                live.add(kid)
        # the current month's client keys and today's key are in use by running writers: their bodies are
        # emptied instead (a key's period is its last part: YYYY-MM for a client's, YYYY-MM-DD for a day's)
        live |= {k for k in expired if k[:2] in ("c:", "d:")
                 and (period := k.split("~")[0].rsplit(":", 1)[-1]) >= pruned_at[:len(period)]}
        shred = sorted(set(expired) - live)
        db.executemany("UPDATE data_keys SET wrapped = NULL, shredded_at = ? WHERE key_id = ?",
                       [(pruned_at, k) for k in shred])
        gone = {d for k in shred for d in expired[k]}
        # what is not shredded with its key (clear bodies, keys still in use) is emptied as before
        spare = f" AND sha256 NOT IN ({', '.join('?' for _ in gone)})" if gone else ""
        db.execute(f"UPDATE payloads SET body = NULL, pruned_at = ? WHERE {where}{spare}",
                   [pruned_at, *params, *sorted(gone)])
    return count, size


def rewrap(db: Database, old: KekProvider, new: KekProvider) -> int:
    """Key rotation: unwrap every live data key with ``old`` and wrap it with ``new``; bodies untouched."""
    with db.transaction():
        # keys already under the new KEK are left: a rotation that stopped half way can be run again
        rows = db.execute("SELECT key_id, wrapped FROM data_keys WHERE wrapped IS NOT NULL AND kek_id <> ?",
                          (new.kek_id,))
        db.executemany("UPDATE data_keys SET wrapped = ?, kek_id = ? WHERE key_id = ?",
                       [(new.wrap(old.unwrap(bytes(w))), new.kek_id, str(k)) for k, w in rows])
    return len(rows)


@dataclass(frozen=True)
class KeyCounts:
    live: int
    shredded: int


def key_counts(db: Database) -> KeyCounts:
    db.script(DDL)
    rows = db.execute("SELECT COUNT(*) - COUNT(shredded_at), COUNT(shredded_at) FROM data_keys")
    return KeyCounts(int(rows[0][0]), int(rows[0][1]))
