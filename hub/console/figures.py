"""The dashboard's figures: queues (from the management API, with their age), workers, dead letters,
the audit head and the last checkpoint, and the alerts they raise.

The management API samples queue statistics every few seconds (``collect_statistics_interval``,
5 s by default), so each figure says when it was fetched and that it may lag by that much. A shard
queue without a consumer means its worker is gone; the console remembers since when, and alerts once
that is longer than ``console_worker_alert_s``. An inbox deeper than ``console_inbox_alert`` alerts too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.auditor.checkpoints import CHECKPOINT_ACTION
from hub.store import auditqueries
from hub.transports import has_management

#: the statistics interval of the broker's management plugin (its default); figures lag by up to this
SAMPLE_SECONDS = 5


@dataclass
class Queue:
    name: str
    role: str  # shard, inbox, retry, dead letters, other
    depth: int
    ready: int
    unacked: int
    consumers: int
    rate_in: float
    rate_out: float


@dataclass
class Figures:
    fetched_at: str
    broker: str
    queues: list[Queue] = field(default_factory=list)
    queues_note: str = ""
    dead_by_rule: list[tuple[str, str, int]] = field(default_factory=list)
    dead_open: int = 0
    audit_seq: int = 0
    audit_head: str = ""
    checkpoint_seq: int = 0
    alerts: list[str] = field(default_factory=list)


class Watch:
    """Since when each shard has had no consumer (kept for the life of the server)."""

    def __init__(self) -> None:
        self.gone_since: dict[str, float] = {}

    def note(self, queue: str, consumers: int, now: float) -> float:
        if consumers:
            self.gone_since.pop(queue, None)
            return 0.0
        return now - self.gone_since.setdefault(queue, now)


def _role(name: str, prefix: str) -> str:
    rest = name[len(prefix) + 1:]
    for start, role in (("work.", "shard"), ("inbox.", "inbox"), ("retry.", "retry"), ("dlq", "dead letters")):
        if rest.startswith(start):
            return role
    return "other"


def _rate(row: dict[str, Any], stat: str) -> float:
    return float(((row.get("message_stats") or {}).get(f"{stat}_details") or {}).get("rate", 0.0))


def gather(hub: Any, settings: Any, watch: Watch) -> Figures:
    """Everything on the dashboard, read now (runs on the store's thread)."""
    from hub.store.db import redact_url

    figures = Figures(fetched_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                      broker=redact_url(settings.broker_url))
    figures.audit_seq, figures.audit_head = hub.audit.head()
    figures.checkpoint_seq = auditqueries.last_seq_of(hub.audit.db, CHECKPOINT_ACTION)
    figures.dead_by_rule = hub.dead_letters.counts()
    figures.dead_open = sum(n for _, _, n in figures.dead_by_rule)
    if not has_management(settings.broker_url):
        figures.queues_note = "the in-process broker has no management API: no queue figures"
        return figures
    from hub.transports.management import Management, vhost_of

    mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
    try:
        rows = mgmt.queues_with_rates(vhost_of(settings.broker_url), settings.prefix + ".")
    except Exception as exc:  # the dashboard still shows the store's figures
        figures.queues_note = f"management API unreachable: {exc}"
        figures.alerts.append("the broker's management API does not answer")
        return figures
    now = time.monotonic()
    for row in sorted(rows, key=lambda r: str(r["name"])):
        q = Queue(name=str(row["name"]), role=_role(str(row["name"]), settings.prefix),
                  depth=int(row.get("messages", 0) or 0), ready=int(row.get("messages_ready", 0) or 0),
                  unacked=int(row.get("messages_unacknowledged", 0) or 0), consumers=int(row.get("consumers", 0) or 0),
                  rate_in=_rate(row, "publish"), rate_out=_rate(row, "deliver_get"))
        figures.queues.append(q)
        if q.role == "inbox" and q.depth > settings.console_inbox_alert:
            figures.alerts.append(f"inbox {q.name} holds {q.depth} messages (alert above "
                                  f"{settings.console_inbox_alert})")
        if q.role == "shard":
            gone = watch.note(q.name, q.consumers, now)
            if gone > settings.console_worker_alert_s:
                figures.alerts.append(f"no worker has consumed {q.name} for {gone:.0f} s (alert after "
                                      f"{settings.console_worker_alert_s} s)")
    figures.queues_note = (f"fetched {figures.fetched_at} from the management API, whose statistics lag by up "
                           f"to {SAMPLE_SECONDS} s")
    return figures
