"""Acceptance: exactly-once effect through crashes, with real worker and receiver processes on RabbitMQ.

10,000 inputs fan out to two recipients, each receiving through zorghub-receiver into its own
database: nza into SQLite, cak into PostgreSQL (when it is up; SQLite otherwise). The hub worker is
SIGKILLed twice and one receiver once, at random points (the seed is printed; ZORGHUB_CRASH_SEED
repeats a run). Every recipient holds every message exactly once; the audit log holds every input
exactly once and verifies.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pika
import pytest
from zorghub_receiver.store import Marks

from hub.app import HubApp
from hub.settings import Settings
from hub.transports.management import Management
from tests.conftest import MGMT_URL, pg_available
from tests.hubproc import start_worker, stop
from tests.receiver_helpers import effect_rows, open_db
from tests.receiverproc import start as start_receiver
from tests.test_crash_order import prepare, publish, received_count

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]
RECIPIENTS = ("nza", "cak")
TOTAL = 10_000
PAIR = """
[kind."test.pair"]
description = "A JSON message to two fixed parties (the fanout of the crash test)"
content_types = ["application/json"]
schema = "kinds/echo.schema.json"
senders = ["*"]
route = [{by = "party", name = "nza"}, {by = "party", name = "cak"}]
"""


def effect_count(db_url: str) -> int:
    try:
        conn = open_db(db_url)
    except Exception:  # psycopg's or sqlite3's error: not there yet
        return 0
    try:
        return len(effect_rows(conn))
    except Exception:  # the receiver has not made its table yet
        return 0
    finally:
        conn.close()


def inbox_idle(settings: Settings) -> bool:
    conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        ch = conn.channel()
        return all(ch.queue_declare(f"zorghub.inbox.{p}", passive=True).method.message_count == 0
                   for p in RECIPIENTS)
    finally:
        conn.close()


def test_exactly_once_effect_through_hub_and_receiver_kills(amqp_settings: Settings, rabbitmq_vhost: str,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            request: pytest.FixtureRequest) -> None:
    kinds = tmp_path / "kinds.toml"
    kinds.write_text(amqp_settings.kinds_path.read_text(encoding="utf-8") + PAIR, encoding="utf-8")
    monkeypatch.setenv("ZORGHUB_KINDS_FILE", str(kinds))  # the worker processes read their settings from it
    settings = amqp_settings.replace(shards=2, kinds_file=str(kinds))
    prepare(settings)
    app = HubApp.build(settings)
    Management(MGMT_URL, "guest", "guest").sync_parties(rabbitmq_vhost, app.parties, app.topology)
    app.close()
    seed = int(os.environ.get("ZORGHUB_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    hub_kills = sorted(rng.sample(range(800, 9_000, 100), 2))
    if hub_kills[1] - hub_kills[0] < 500:
        hub_kills[1] = hub_kills[0] + 500
    victim, receiver_kill = rng.choice(RECIPIENTS), rng.randrange(1_000, 9_000)
    print(f"seed {seed}: hub killed after {hub_kills} inputs, {victim} after {receiver_kill} effects")

    dbs = {"nza": f"sqlite:///{tmp_path / 'nza.sqlite3'}",
           "cak": (str(request.getfixturevalue("pg_url")) if pg_available() or os.environ.get("CI") == "true"
                   else f"sqlite:///{tmp_path / 'cak.sqlite3'}")}
    urls = {p: f"amqp://{p}:{p}-secret@127.0.0.1:5672/{rabbitmq_vhost}" for p in RECIPIENTS}

    def receiver(p: str) -> subprocess.Popen[bytes]:
        return start_receiver(urls[p], dbs[p], tmp_path / f"{p}.log")

    receivers = {p: receiver(p) for p in RECIPIENTS}
    messages = [(str(uuid.uuid4()), f"client-{i % 97}", json.dumps({"to": "nza", "seq": i}).encode())
                for i in range(TOTAL)]
    publisher = threading.Thread(target=publish, args=(settings.broker_url, messages, "test.pair"))
    worker = start_worker(settings)
    publisher.start()
    killed: list[str] = []
    try:
        deadline = time.monotonic() + 600
        while True:
            assert time.monotonic() < deadline, f"not done in time; kills so far: {killed}"
            if hub_kills and received_count(settings) >= hub_kills[0]:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                killed.append(f"hub at {received_count(settings)} inputs")
                hub_kills.pop(0)
                worker = start_worker(settings)
            if receiver_kill and effect_count(dbs[victim]) >= receiver_kill:
                receivers[victim].send_signal(signal.SIGKILL)
                receivers[victim].wait()
                killed.append(f"{victim} at {effect_count(dbs[victim])} effects")
                receiver_kill = 0
                receivers[victim] = receiver(victim)
            for p, proc in receivers.items():
                assert proc.poll() is None, f"receiver {p} died:\n{(tmp_path / f'{p}.log').read_text()[-3000:]}"
            if not hub_kills and not receiver_kill and all(effect_count(db) >= TOTAL for db in dbs.values()):
                break
            time.sleep(0.05)
        publisher.join()
        # the stragglers: copies a killed worker's relay published again; wait till the inboxes are drained
        for _ in range(2):
            while not inbox_idle(settings):
                assert time.monotonic() < deadline, "the inboxes did not drain"
                time.sleep(0.5)
            time.sleep(4)  # past one tail probe (3 s quiet) and its answer
    finally:
        stop(worker)
        for proc in receivers.values():
            stop(proc)
    print("kills:", "; ".join(killed))
    assert len(killed) == 3

    ids = {m[0] for m in messages}
    dropped = {}
    for p, db_url in dbs.items():
        conn = open_db(db_url)
        origins = collections.Counter(str(r[4]) for r in effect_rows(conn))
        assert set(origins) == ids, f"{p} is missing {len(ids - set(origins))} messages"  # 0 lost
        twice = {k: v for k, v in origins.items() if v > 1}
        assert not twice, f"{p} applied {len(twice)} messages more than once"  # 0 duplicate effects
        assert sum(origins.values()) == TOTAL
        dropped[p] = Marks(conn).counters().get("duplicates", 0)
        assert Marks(conn).pending_bounds() == {}  # nothing left parked
        conn.close()
    print("duplicate deliveries dropped by the receivers:", ", ".join(f"{p} {n}" for p, n in dropped.items()))

    app = HubApp.build(settings)
    try:
        received = collections.Counter(
            r[0] for r in app.db.execute("SELECT message_id FROM audit WHERE action = 'received'"))
        # every input exactly once: the test's, and the receivers' own resend requests (tail probes)
        requests = {m for m in received if m.startswith("zorghub-resend-")}
        assert set(received) - requests == ids and max(received.values()) == 1
        print(f"resend requests the receivers sent: {len(requests)}")
        assert app.audit.verify().ok
    finally:
        app.close()
