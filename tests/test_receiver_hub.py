"""Gap recovery end to end: a real hub worker, party credentials, and an inbox that loses messages.

The test purges the recipient's inbox twice: once in the middle (later messages show the gap) and
once at the tail (nothing shows it; the receiver's quiet-time probe finds it). Both times the
receiver fetches what was lost with ``zorghub.resend`` and applies it in sequence order. A request
for another party's stream is refused, and the refusal is an audit record.
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from zorghub_receiver import Receiver

from hub.app import HubApp
from hub.settings import Settings
from tests.receiver_helpers import effect_rows, effects_table, open_db, record_effect, running, until
from tests.test_amqp_contract import running_hub, vendor  # noqa: F401  (a fixture, used by name)

pytestmark = pytest.mark.rabbitmq
PARTY = "nza"
INBOX = f"zorghub.inbox.{PARTY}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nza.sqlite3'}"


@pytest.fixture
def ciz(running_hub: Settings, rabbitmq_vhost: str  # noqa: F811
        ) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    conn = vendor(rabbitmq_vhost, "ciz")
    ch = conn.channel()
    ch.confirm_delivery()
    yield ch
    conn.close()


def send(ch: pika.adapters.blocking_connection.BlockingChannel, numbers: range) -> list[str]:
    """ciz sends echo messages n to nza, spread over three client keys (so over several streams)."""
    ids = []
    for n in numbers:
        message_id = f"echo-{n}-{uuid.uuid4().hex[:8]}"
        ch.basic_publish("zorghub.in", f"client-{n % 3}", json.dumps({"to": PARTY, "seq": n}).encode(),
                         pika.BasicProperties(message_id=message_id, type="echo", content_type="application/json",
                                              user_id="ciz", delivery_mode=2))
        ids.append(message_id)
    return ids


def queued(settings: Settings, queue: str = INBOX) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def lose(settings: Settings, count: int) -> None:
    """Wait until ``count`` messages sit in the inbox, then purge it: they are lost."""
    until(lambda: queued(settings) >= count, 30, what=f"{count} messages in the inbox")
    time.sleep(0.5)
    conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        assert conn.channel().queue_purge(INBOX).method.message_count == count
    finally:
        conn.close()


def nza(rabbitmq_vhost: str, db_url: str) -> Receiver:
    db = open_db(db_url)
    effects_table(db)
    return Receiver(f"amqp://{PARTY}:{PARTY}-secret@127.0.0.1:5672/{rabbitmq_vhost}", db, record_effect,
                    tail_check=2.0, resend_after=5.0)


def origins(db_url: str) -> list[str]:
    return [str(r[4]) for r in effect_rows(open_db(db_url))]


def test_lost_messages_are_fetched_again_and_applied_in_order(
        running_hub: Settings, rabbitmq_vhost: str, ciz: pika.adapters.blocking_connection.BlockingChannel,  # noqa: F811
        db_url: str) -> None:
    sent = send(ciz, range(0, 20))
    with running(nza(rabbitmq_vhost, db_url)) as r:
        until(lambda: len(origins(db_url)) == 20, 30, what="the first 20")
    assert r.stats.gaps == 0
    # lost in the middle: 20..39 purged, 40..59 arrive and show the gap
    sent += send(ciz, range(20, 40))
    lose(running_hub, 20)
    sent += send(ciz, range(40, 60))
    until(lambda: queued(running_hub) >= 20, 30, what="40..59 in the inbox")
    with running(nza(rabbitmq_vhost, db_url)) as r:
        until(lambda: len(origins(db_url)) == 60, 60, what="all 60, the lost ones fetched again")
    assert r.stats.gaps >= 1 and r.stats.parked >= 1 and r.stats.resend_requests >= 1
    # lost at the tail: 60..69 purged and nothing after them; the quiet-time probe fetches them
    sent += send(ciz, range(60, 70))
    lose(running_hub, 10)
    with running(nza(rabbitmq_vhost, db_url)) as r:
        until(lambda: len(origins(db_url)) == 70, 60, what="the lost tail")
    assert r.stats.resend_requests >= 1
    rows = effect_rows(open_db(db_url))
    assert [r[4] for r in rows] and sorted(str(r[4]) for r in rows) == sorted(sent)  # each exactly once
    by_stream: dict[str, list[int]] = collections.defaultdict(list)
    for _id, kind, stream, seq, _origin in rows:
        assert kind == "echo"
        by_stream[str(stream)].append(int(seq))
    assert set(by_stream) <= {f"{PARTY}/{n}" for n in range(running_hub.shards)}
    for stream, seqs in by_stream.items():
        assert seqs == sorted(seqs), f"{stream} applied out of order: {seqs}"
    # per client key, the vendor saw the messages in the order ciz sent them
    order: dict[str, list[int]] = collections.defaultdict(list)
    for origin in origins(db_url):
        n = int(origin.split("-")[1])
        order[f"client-{n % 3}"].append(n)
    assert all(ns == sorted(ns) for ns in order.values()), order


def test_asking_for_another_partys_stream_is_refused_and_audited(
        running_hub: Settings, rabbitmq_vhost: str, ciz: pika.adapters.blocking_connection.BlockingChannel,  # noqa: F811
        db_url: str) -> None:
    send(ciz, range(0, 3))
    conn = vendor(rabbitmq_vhost, "cak")
    cak = conn.channel()
    cak.confirm_delivery()
    request_id = f"zorghub-resend-{uuid.uuid4().hex}"
    cak.basic_publish("zorghub.in", "resend", json.dumps({"stream": f"{PARTY}/0", "from": 1}).encode(),
                      pika.BasicProperties(message_id=request_id, type="zorghub.resend",
                                           content_type="application/json", user_id="cak", delivery_mode=2))
    conn.close()
    # cak's own receiver counts the refusal and hands it to nobody
    db = open_db(db_url)
    effects_table(db)
    cak_receiver = Receiver(f"amqp://cak:cak-secret@127.0.0.1:5672/{rabbitmq_vhost}", db, record_effect,
                            tail_check=3600.0)
    with running(cak_receiver) as r:
        until(lambda: r.stats.refused == 1, 30, what="the refusal")
    assert effect_rows(open_db(db_url)) == []
    assert queued(running_hub, INBOX) == 3  # nothing of nza's stream went anywhere else, nor again
    app = HubApp.build(running_hub)
    try:
        records = app.audit.for_message(request_id)
        denied = [r for r in records if r.action == "resend"]
        assert len(denied) == 1 and denied[0].outcome == "deny"
        assert "RESEND_NOT_YOURS" in denied[0].reason and f"{PARTY}/0" in denied[0].reason
        assert app.audit.verify().ok
    finally:
        app.close()
