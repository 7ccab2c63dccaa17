"""Prometheus metrics for operators, read from the message store and the broker.

The counters come from the audit log, the one record every worker process
writes: the exporter follows the chain from the last record it counted (a
range read on the primary key), so any number of workers, on any host, is
covered without shared memory, and the counts are the audit's own. Labels are
the action, outcome and message kind only: never a party, client or payload
value, so no BSN can reach a metric. The kind is the AMQP ``type`` a sender
chose, so it is a label only when the kind catalogue knows it, or when the hub's
own flows wrote it (the kinds the hub sends: receipts, replies, notices); any
other value is counted as ``unknown``. On RabbitMQ each of the hub's queues is
a gauge too (ready, unacked, consumers), from the management API.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hub.errors import HubError
from hub.settings import Settings
from hub.store import auditqueries, idempotency
from hub.store import outbox as outbox_store
from hub.store.db import Database
from hub.transports import has_management

AUDIT_LABELS = ("action", "outcome", "kind")
UNKNOWN_KIND = "unknown"
_HUB_KIND = re.compile(r"[a-z][a-z0-9_-]*(?:\.[A-Za-z][A-Za-z0-9_-]*)+")


def kind_label(kind: str, known: Collection[str]) -> str:
    """The kind as a metric label: a kind the catalogue or a flow declares, or ``unknown``."""
    return kind if kind in known else UNKNOWN_KIND


def catalogue_kinds(settings: Settings) -> frozenset[str]:
    """The kinds a label may name: the catalogue as the hub loads it, the flows' receipts and the hub's own."""
    from hub.pipeline.outbox import RECEIPT_KIND
    from hub.plugins.registry import kind_catalogue, load_flows

    flows = load_flows()
    catalogue = kind_catalogue(settings.kinds_path, flows)
    return frozenset({k.name for k in catalogue} | {r for f in flows for r in f.receipts} | {RECEIPT_KIND})


class StoreCollector(Collector):
    """The audit log's records by action, outcome and kind, counted incrementally."""

    def __init__(self, db: Database, kinds: Collection[str]) -> None:
        from hub.store.deadletters import DeadLetterStore

        self.db = db
        self.kinds = frozenset(kinds)
        self.dead_letters = DeadLetterStore(db)
        self._lock = threading.Lock()  # scrapes come from the HTTP server's threads; one connection
        self._counted_to = 0
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def _catch_up(self) -> None:
        head = auditqueries.head_seq(self.db)
        if head > self._counted_to:
            for action, outcome, kind, n in auditqueries.counts_between(self.db, self._counted_to, head):
                label = kind_label(str(kind), self.kinds)
                self._counts[(str(action), str(outcome), label)] += int(n)
            self._counted_to = head

    def collect(self) -> Iterator[Any]:
        from hub.pipeline.relay import IDLE_MARK_AFTER

        with self._lock:
            self._catch_up()
            unpublished = idempotency.unpublished_count(self.db)
            unsent = outbox_store.unsent_count(self.db)
            open_dead = self.dead_letters.count()
            counts = dict(self._counts)
            head = self._counted_to
        records = CounterMetricFamily("zorghub_audit_records", "Audit records written, by action, outcome and "
                                      "message kind (received, delivered, answered, rejected, dead_lettered, ...)",
                                      labels=AUDIT_LABELS)
        for labels, n in sorted(counts.items()):
            records.add_metric(labels, n)
        yield records
        yield GaugeMetricFamily("zorghub_audit_head_seq", "Sequence number of the newest audit record", value=head)
        yield GaugeMetricFamily("zorghub_dead_letters_open", "Dead letters not requeued (zorghub dlq list)",
                                value=open_dead)
        yield GaugeMetricFamily("zorghub_unpublished_messages", "Messages processed whose output the broker has "
                                "not confirmed yet: in flight, or left by a crashed worker", value=unpublished)
        yield GaugeMetricFamily("zorghub_outbox_unsent", "Outbox entries not marked sent yet: in flight, "
                                f"confirmed within the last {IDLE_MARK_AFTER:g} s (an idle worker's marks wait that "
                                "long for the next batch), or left by a crashed worker for its restart to publish",
                                value=unsent)


class BrokerCollector(Collector):
    """The hub's RabbitMQ queues, from the management API (as of its last sample: a few seconds old)."""

    def __init__(self, settings: Settings) -> None:
        from hub.demo import _vhost
        from hub.transports.management import Management

        self.mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
        self.vhost = _vhost(settings.broker_url)
        self.prefix = settings.prefix + "."

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("zorghub_broker_up", "1 when the management API answered this scrape")
        try:
            rows = self.mgmt.queues(self.vhost, self.prefix)
        except HubError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "messages_ready": GaugeMetricFamily("zorghub_queue_ready", "Messages ready in the queue",
                                                labels=["queue"]),
            "messages_unacknowledged": GaugeMetricFamily("zorghub_queue_unacked", "Messages delivered, not acked",
                                                         labels=["queue"]),
            "consumers": GaugeMetricFamily("zorghub_queue_consumers", "Consumers on the queue", labels=["queue"]),
        }
        for row in sorted(rows, key=lambda r: str(r["name"])):
            for field, family in families.items():
                family.add_metric([str(row["name"])], float(row.get(field) or 0))
        yield from families.values()


def registry_for(settings: Settings, db: Database) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db, catalogue_kinds(settings)))
    if has_management(settings.broker_url):
        registry.register(BrokerCollector(settings))
    return registry


def start(settings: Settings, port: int, addr: str = "127.0.0.1", *, create: bool = False) -> tuple[Any, Database]:
    """Serve /metrics on ``addr:port`` from a background thread; returns the server and its database.

    On its own it only reads (a missing store is an error); beside ``serve`` (``create``) it may be first.
    """
    from prometheus_client import start_http_server

    from hub.store.audit import AuditLog
    from hub.store.deadletters import DeadLetterStore
    from hub.store.idempotency import ProcessedIds

    db = Database(settings.effective_store_url, create=create)
    try:
        AuditLog(db, settings.key_bytes(create=create)), ProcessedIds(db), DeadLetterStore(db)  # the tables, if new
        server, _thread = start_http_server(port, addr, registry=registry_for(settings, db))
    except BaseException as exc:
        db.close()
        if not isinstance(exc, OSError):
            raise
        from hub.errors import ConfigError

        raise ConfigError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from exc
    return server, db
