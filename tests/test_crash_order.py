"""Crash safety and per-client order, with real worker processes on RabbitMQ."""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
import uuid
from typing import Any

import pika
import pytest

from hub.app import HubApp
from hub.settings import Settings
from hub.transports import open_transport
from tests.hubproc import drain_queue, origin_id, start_worker, stop

pytestmark = pytest.mark.slow

RECIPIENTS = ("zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak")


def prepare(settings: Settings) -> None:
    app = HubApp.build(settings)
    transport = open_transport(settings.broker_url)
    transport.declare(app.topology, app.parties)
    transport.close()
    app.close()


def publish(url: str, messages: list[tuple[str, str, bytes]], kind: str) -> None:
    """Publish as the hub's guest user on behalf of ciz: the vendor contract is tested elsewhere."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()  # without confirms a publish just before close may never reach a quorum queue
    for message_id, client_key, body in messages:
        ch.basic_publish("zorghub.in", client_key, body, pika.BasicProperties(
            message_id=message_id, type=kind, content_type="application/json", user_id="guest",
            headers={"x-original-sender": "ciz"}, delivery_mode=2))
    conn.close()


def received_count(settings: Settings) -> int:
    """How many messages the worker has committed so far (read from the store, as an operator would)."""
    from hub.errors import RetryLater
    from hub.store.db import Database

    try:
        db = Database(settings.effective_store_url)
    except RetryLater:
        return 0
    try:
        return int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'received'")[0][0])
    except Exception:  # the worker has not created its tables yet
        return 0
    finally:
        db.close()


def unconfirmed(settings: Settings) -> set[str]:
    """Messages done in the store whose output the broker had not confirmed yet: the sender's ids of the
    deliveries still unsent in the outbox."""
    from hub.store.db import Database

    db = Database(settings.effective_store_url)
    try:
        return unsent_origins(db)
    finally:
        db.close()


def unsent_origins(db: Any) -> set[str]:
    """The sender's message ids of the outbox entries not marked sent (``x-origin-message-id``)."""
    rows = db.execute("SELECT detail FROM outbox WHERE sent = 0")
    return {str(h["x-origin-message-id"]) for (detail,) in rows
            if "x-origin-message-id" in (h := json.loads(detail).get("h", {}))}


def indicatie(n: int) -> bytes:
    return json.dumps({"besluitnummer": f"IB-{n}", "ingangsdatum": "2026-11-01", "zzp": "5VV",
                       "client": {"bsn": "999990019", "gemeentecode": "0344"},
                       "voorkeurZorgaanbieder": "73730800"}).encode()


def test_sigkill_twice_loses_and_duplicates_nothing(amqp_settings: Settings) -> None:
    settings = amqp_settings.replace(shards=2)
    prepare(settings)
    messages = [(str(uuid.uuid4()), f"client-{i % 97}", indicatie(i)) for i in range(10_000)]
    publisher = threading.Thread(target=publish, args=(settings.broker_url, messages, "indicatiebesluit"))
    worker = start_worker(settings)
    publisher.start()
    audited_at_kill = []
    in_flight: set[str] = set()  # done, output sent but not confirmed when the kill came
    for _ in range(2):
        # kill only once the worker is mid-stream: some messages audited, not all
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = received_count(settings)
            if done > (audited_at_kill[-1] if audited_at_kill else 0) + 200:
                break
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        audited_at_kill.append(received_count(settings))
        in_flight |= unconfirmed(settings)
        worker = start_worker(settings)
    publisher.join()
    assert 0 < audited_at_kill[0] < audited_at_kill[1] < 10_000, audited_at_kill
    counts: dict[str, collections.Counter[str]] = {}
    try:
        for party in RECIPIENTS:
            counter: collections.Counter[str] = collections.Counter()
            drain_queue(settings.broker_url, f"zorghub.inbox.{party}", 10_000, 180,
                        lambda props, body, c=counter: c.update([origin_id(props)]))
            counts[party] = counter
    finally:
        stop(worker)
    ids = {m[0] for m in messages}
    for party, counter in counts.items():
        # nothing lost
        assert set(counter) == ids, f"{party} is missing {len(ids - set(counter))} messages"
        # exactly once, except what a kill caught between publishing and the broker's confirmation: those
        # may arrive twice, with the same message id, and never more often than there were kills
        dupes = {k for k, v in counter.items() if v > 1}
        assert dupes <= in_flight, f"{party} got {len(dupes - in_flight)} messages twice outside a kill"
        assert max(counter.values()) <= 3
    app = HubApp.build(settings)
    try:
        received = collections.Counter(
            r[0] for r in app.db.execute("SELECT message_id FROM audit WHERE action = 'received'"))
        assert set(received) == ids and max(received.values()) == 1
        assert app.audit.verify().ok
    finally:
        app.close()


def test_two_workers_keep_each_clients_order(amqp_settings: Settings) -> None:
    settings = amqp_settings.replace(shards=4)
    prepare(settings)
    messages = []
    for seq in range(100):
        for client in range(50):
            body = json.dumps({"to": "nza", "client": client, "seq": seq}).encode()
            messages.append((f"{client}-{seq}", f"client-{client}", body))
    workers = [start_worker(settings, 0, 2), start_worker(settings, 1, 2)]
    try:
        publish(settings.broker_url, messages, "echo")
        order: dict[int, list[int]] = collections.defaultdict(list)

        def record(props: pika.BasicProperties, body: bytes) -> None:
            data = json.loads(body)
            order[data["client"]].append(data["seq"])

        got = drain_queue(settings.broker_url, "zorghub.inbox.nza", 5000, 120, record)
    finally:
        for w in workers:
            stop(w)
    assert got == 5000
    assert len(order) == 50
    for client, seqs in order.items():
        assert seqs == list(range(100)), f"client {client} out of order"
    app = HubApp.build(settings)
    try:
        sources = {r[0] for r in app.db.execute("SELECT DISTINCT source FROM audit")}
        assert sources  # both workers wrote to the one chain ...
        assert app.audit.verify().ok  # ... and it is intact
    finally:
        app.close()
