"""Retention: prune raw payloads after N days, keep metadata (and every hash) for years.

Pruning sets ``payloads.body`` to NULL and stamps ``pruned_at``; the audit
records and their ``payload_sha256`` stay, so the chain still verifies and the
log still says what was sent, to whom, when, and which bytes (by hash). A
payload is pruned only when no record younger than the cut-off still needs it.

Metadata (the audit records) must be kept at least five years (NEN 7513 asks for
a retention period fit for the records it logs; five years is the floor here):
a shorter metadata retention is refused unless forced. This tool never deletes
audit records; the metadata period is what an archive job must respect.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.errors import ConfigError
from hub.store import auditqueries, payloads
from hub.store.audit import AuditLog

MIN_METADATA_YEARS = 5
POLICY_FILE = "retention.toml"
REPLAY_ACTIONS = ("replayed",)


@dataclass(frozen=True)
class RetentionPolicy:
    payload_days: int | None = None  # None: keep payloads as long as the metadata
    metadata_years: int = MIN_METADATA_YEARS

    def check(self, *, force: bool = False) -> RetentionPolicy:
        if self.payload_days is not None and self.payload_days < 1:
            raise ConfigError("payload retention must be at least 1 day")
        if self.metadata_years < 1:
            raise ConfigError("metadata retention must be at least 1 year")
        if self.metadata_years < MIN_METADATA_YEARS and not force:
            raise ConfigError(f"refusing a metadata retention of {self.metadata_years} year(s): the audit trail "
                              f"must be kept at least {MIN_METADATA_YEARS} years (use --force to override)")
        if self.payload_days is not None and self.payload_days > self.metadata_years * 366:
            raise ConfigError("payload retention cannot be longer than the metadata retention")
        return self

    def to_toml(self) -> str:
        lines = ["[retention]"]
        if self.payload_days is not None:
            lines.append(f"payload_days = {self.payload_days}")
        lines.append(f"metadata_years = {self.metadata_years}")
        return "\n".join(lines) + "\n"


def policy_path(home: Path) -> Path:
    return home / POLICY_FILE


def load_policy(path: Path) -> RetentionPolicy:
    if not path.exists():
        return RetentionPolicy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("retention", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read retention policy {path}: {exc}") from None
    unknown = set(data) - {"payload_days", "metadata_years", "forced"}
    if unknown:
        raise ConfigError(f"{path}: unknown retention setting(s): {', '.join(sorted(unknown))}")
    policy = RetentionPolicy(payload_days=data.get("payload_days"),
                             metadata_years=int(data.get("metadata_years", MIN_METADATA_YEARS)))
    return policy.check(force=bool(data.get("forced", False)))


def save_policy(path: Path, policy: RetentionPolicy, *, force: bool = False) -> None:
    policy.check(force=force)
    text = policy.to_toml() + ("forced = true\n" if force and policy.metadata_years < MIN_METADATA_YEARS else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class PruneResult:
    pruned: int
    cutoff: str
    bytes_freed: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def prune_payloads(log: AuditLog, policy: RetentionPolicy, *, now: datetime | None = None,
                   dry_run: bool = False) -> PruneResult:
    """Empty every payload older than the policy that no younger record (other than a replay) refers to."""
    if policy.payload_days is None:
        return PruneResult(0, "", 0)
    moment = now or datetime.now(UTC)
    cutoff = _iso(moment - timedelta(days=policy.payload_days))
    count, size = payloads.prune_older(log.db, cutoff, REPLAY_ACTIONS, _iso(moment), dry_run=dry_run)
    return PruneResult(count, cutoff, size)


def metadata_due(log: AuditLog, policy: RetentionPolicy, *, now: datetime | None = None) -> int:
    """How many records are past the metadata retention (reported; never deleted by this tool)."""
    moment = now or datetime.now(UTC)
    cutoff = _iso(moment - timedelta(days=366 * policy.metadata_years))
    return auditqueries.count_before(log.db, cutoff)


def payload_state(log: AuditLog, digest: str) -> tuple[bytes | None, str]:
    """(body, why-missing): why is '' when the body is there."""
    row = payloads.state(log.db, digest)
    if row is None:
        return None, "the payload was never stored"
    body, how = row
    if body is None:
        return None, f"the payload was {how} under the retention policy"
    return bytes(body), ""
