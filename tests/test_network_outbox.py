"""Outbox atomicity: the hub is SIGKILLed after the register write commits, before the notification goes out.

A subprocess worker gets a crash hook (environment ``ZORGHUB_TEST_CRASH=after-db-commit``):
the relay's publish kills the process with SIGKILL as soon as a batch carries a
notification, that is after the database transaction (register version,
sequence number, audit records, outbox entries) committed and the melding was
acked, before anything is published. After a restart the worker publishes the
unsent outbox entries: the notification is sent exactly once, with the
register written once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _crash_worker() -> None:
    """The subprocess: a normal worker, with the crash hook when the environment asks for it."""
    from hub.ops.runner import run_worker
    from hub.settings import Settings

    def setup(app: Any, worker: Any) -> None:
        if os.environ.get("ZORGHUB_TEST_CRASH") != "after-db-commit":
            return
        publish = worker.transport.publish_pipelined

        def crashing(outgoing: list[Any], on_settled: Any) -> None:
            if any(o.properties.get("type") == "network.notificatie" for o in outgoing):
                os.kill(os.getpid(), signal.SIGKILL)
            publish(outgoing, on_settled)

        worker.transport.publish_pipelined = crashing

    stop = __import__("threading").Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_worker(Settings.load(), stop=stop, setup=setup)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _crash_worker()
    sys.exit(0)


import pika  # noqa: E402

from hub.catalogue.parties import PartyRegistry  # noqa: E402
from hub.catalogue.topology import Topology  # noqa: E402
from hub.flows.network import seed  # noqa: E402
from hub.settings import Settings  # noqa: E402
from hub.store.audit import AuditLog  # noqa: E402
from hub.store.db import Database  # noqa: E402
from hub.transports import open_transport  # noqa: E402
from hub.transports.management import Management, party_password  # noqa: E402

pytestmark = pytest.mark.rabbitmq


def _worker(settings: Settings, crash: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZORGHUB_HOME": settings.home, "ZORGHUB_BROKER_URL": settings.broker_url,
           "ZORGHUB_SHARDS": str(settings.shards), "ZORGHUB_SCHEMA_DIR": settings.schema_dir,
           "ZORGHUB_PSEUDONYM_KEY": "outbox-test-key", "PYTHONPATH": str(ROOT)}
    env.pop("ZORGHUB_TEST_CRASH", None)
    if crash:
        env["ZORGHUB_TEST_CRASH"] = "after-db-commit"
    return subprocess.Popen([sys.executable, __file__], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _connect(name: str, password: str, vhost: str) -> pika.adapters.blocking_connection.BlockingChannel:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, vhost,
                                                             pika.PlainCredentials(name, password)))
    return conn.channel()


def _drain(ch: Any, party: str) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    while True:
        method, props, body = ch.basic_get(f"zorghub.inbox.{party}", auto_ack=True)
        if method is None:
            return out
        out.append((props, json.loads(body)))


def test_notification_sent_exactly_once_after_sigkill_between_db_and_broker_commit(
        amqp_settings: Settings, rabbitmq_vhost: str) -> None:
    settings = amqp_settings
    registry = PartyRegistry.load(settings.parties_path)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    Management("http://127.0.0.1:15672", "guest", "guest").sync_parties(rabbitmq_vhost, registry, topology)
    t = open_transport(settings.broker_url)
    t.declare(topology, registry)
    t.close()
    ciz = _connect("ciz", party_password(registry.get("ciz")), rabbitmq_vhost)
    zk = _connect("zk-utrecht", party_password(registry.get("zk-utrecht")), rabbitmq_vhost)

    crashing = _worker(settings, crash=True)
    message_id = str(uuid.uuid4())
    ciz.basic_publish("zorghub.in", "client-geelhoed", json.dumps(seed.melding("WlzIndicatie", seed.indicatie())),
                      pika.BasicProperties(message_id=message_id, type="network.melden", user_id="ciz",
                                           content_type="application/json", delivery_mode=2))
    assert crashing.wait(timeout=60) == -signal.SIGKILL
    # the database committed: one register version, its audit records, the outbox entry for the notification
    db = Database(settings.effective_store_url)
    audit = AuditLog(db, b"outbox-test-key")
    assert db.execute("SELECT COUNT(*) FROM nw_record")[0][0] == 1
    delivered = [r for r in audit.for_message(message_id) if r.action == "delivered"]
    assert [r.recipient for r in delivered] == ["zk-utrecht"]
    unsent = db.execute("SELECT stream FROM outbox WHERE sent = 0 AND stream LIKE ?", ("zk-utrecht/%",))
    assert len(unsent) == 1
    # the broker did not: nothing was published
    assert _drain(zk, "zk-utrecht") == [] and _drain(ciz, "ciz") == []

    restarted = _worker(settings, crash=False)
    try:
        deadline = time.monotonic() + 30
        receipts: list[tuple[Any, dict[str, Any]]] = []
        while not receipts and time.monotonic() < deadline:
            receipts = _drain(ciz, "ciz")
            time.sleep(0.05)
        assert [b["status"] for _, b in receipts] == ["accepted"]
        time.sleep(0.5)  # anything duplicated would be here by now
        got = _drain(zk, "zk-utrecht")
        assert [(p.type, b["eventType"], p.headers["x-network-sequence"]) for p, b in got] == [
            ("network.notificatie", "NIEUWE_INDICATIE_ZORGKANTOOR", 1)]
        assert db.execute("SELECT COUNT(*) FROM nw_record")[0][0] == 1
        assert db.execute("SELECT COUNT(*) FROM nw_notification")[0][0] == 1
        assert audit.verify().ok
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)
        db.close()
