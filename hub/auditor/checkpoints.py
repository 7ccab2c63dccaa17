"""Signed checkpoints: the chain head, signed with a key the hub holds.

The hash chain shows an edited, deleted, inserted or reordered record, but not a
log whose tail was cut off: the shortened chain is still a valid chain. A
checkpoint signs (seq, hash) of the head at a moment; kept elsewhere (exported
to a file, mailed to the supervisor), it proves the log once reached that
record. Checking the log against it detects truncation and a rewritten history.

The signature is an HMAC-SHA256 with a checkpoint key derived from the hub's
secret (``settings.key_bytes()``), so only the hub can make one; verifying needs
the same secret. Checkpoints are also appended to the log itself (action
``checkpoint``), periodically or on demand.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from hub.errors import ConfigError
from hub.store import auditqueries
from hub.store.audit import NODE, AuditLog, AuditRecord, now_iso
from hub.store.migrations import CHECKPOINT_ACTION  # the store notes each checkpoint's seq in its meta table

__all__ = ["CHECKPOINT_ACTION", "Checkpoint", "append_checkpoint", "check_against", "check_stored",
           "checkpoint_key", "head_checkpoint", "maybe_checkpoint"]
ALGORITHM = "HMAC-SHA256"
FORMAT = "zorghub-audit-checkpoint/1"


def checkpoint_key(hub_key: bytes) -> bytes:
    """A separate key for checkpoints, derived from the hub's secret (never the secret itself)."""
    return hmac.new(hub_key, b"zorghub/audit/checkpoint/v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    ts: str
    node: str
    signature: str = ""
    algorithm: str = ALGORITHM
    format: str = FORMAT

    def signed_bytes(self) -> bytes:
        return orjson.dumps([self.format, self.seq, self.hash, self.ts, self.node])

    def sign(self, key: bytes) -> Checkpoint:
        sig = hmac.new(key, self.signed_bytes(), hashlib.sha256).hexdigest()
        return Checkpoint(self.seq, self.hash, self.ts, self.node, sig, self.algorithm, self.format)

    def signature_ok(self, key: bytes) -> bool:
        expected = hmac.new(key, self.signed_bytes(), hashlib.sha256).hexdigest()
        return self.algorithm == ALGORITHM and hmac.compare_digest(expected, self.signature)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            return cls(seq=int(data["seq"]), hash=str(data["hash"]), ts=str(data["ts"]), node=str(data["node"]),
                       signature=str(data["signature"]), algorithm=str(data.get("algorithm", ALGORITHM)),
                       format=str(data.get("format", FORMAT)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a checkpoint: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        try:
            data = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read checkpoint {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"cannot read checkpoint {path}: not a JSON object")
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_json() + b"\n")


def head_checkpoint(log: AuditLog, hub_key: bytes) -> Checkpoint:
    """A signed checkpoint of the current head, without writing anything."""
    seq, digest = log.head()
    return Checkpoint(seq, digest, now_iso(), NODE).sign(checkpoint_key(hub_key))


def append_checkpoint(log: AuditLog, hub_key: bytes, actor: str = "zorghub") -> tuple[Checkpoint, AuditRecord]:
    """Sign the head and append the signature to the log as a ``checkpoint`` record, atomically."""
    with log.db.transaction(lock=log.LOCK):
        cp = head_checkpoint(log, hub_key)
        rec = AuditRecord(action=CHECKPOINT_ACTION, actor=actor, actor_role="hub", record_type="AuditChain",
                          record_id=str(cp.seq), reason=f"signed head {cp.seq}",
                          detail=orjson.dumps(asdict(cp)).decode())
        (written,) = log.append_in_tx([rec])
    return cp, written


def maybe_checkpoint(log: AuditLog, hub_key: bytes, every: int) -> Checkpoint | None:
    """Append a checkpoint when ``every`` or more records were written since the last one."""
    last_seq = auditqueries.last_seq_of(log.db, CHECKPOINT_ACTION)
    head, _ = log.head()
    if head - last_seq < every:
        return None
    return append_checkpoint(log, hub_key)[0]


@dataclass(frozen=True)
class CheckpointResult:
    ok: bool
    problem: str = ""
    bad_seq: int | None = None


def check_against(log: AuditLog, hub_key: bytes, cp: Checkpoint) -> CheckpointResult:
    """Does the log still hold the record the checkpoint signed, with the same hash?"""
    if not cp.signature_ok(checkpoint_key(hub_key)):
        return CheckpointResult(False, "the checkpoint's signature is not valid for this hub's key "
                                       "(forged, altered, or from another hub)")
    if cp.seq == 0:
        return CheckpointResult(True)
    head, _ = log.head()
    if head < cp.seq:
        return CheckpointResult(False, f"the log was truncated: it ends at record {head}, but the checkpoint of "
                                       f"{cp.ts} signs record {cp.seq}", head + 1)
    signed = auditqueries.hash_at(log.db, cp.seq)
    if signed is None:
        return CheckpointResult(False, f"record {cp.seq}, signed by the checkpoint, is missing", cp.seq)
    if signed != cp.hash:
        return CheckpointResult(False, f"record {cp.seq} no longer has the hash the checkpoint signed: "
                                       "the history up to it was rewritten", cp.seq)
    return CheckpointResult(True)


def check_stored(log: AuditLog, hub_key: bytes, start: int = 1, end: int | None = None) -> CheckpointResult:
    """Check every checkpoint record in the log: its signature and the record it signed."""
    for rec in auditqueries.with_action(log.db, CHECKPOINT_ACTION, start, end):
        try:
            cp = Checkpoint.from_dict(rec.detail_json())
        except (ConfigError, orjson.JSONDecodeError):
            return CheckpointResult(False, f"checkpoint record {rec.seq} cannot be read", rec.seq)
        result = check_against(log, hub_key, cp)
        if not result.ok:
            return CheckpointResult(False, f"checkpoint record {rec.seq}: {result.problem}", result.bad_seq or rec.seq)
    return CheckpointResult(True)
