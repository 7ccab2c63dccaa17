"""The vendor contract on RabbitMQ, proven with bare pika: no hub imports on the vendor side."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from hub.app import HubApp
from hub.ops.runner import run_worker
from hub.pipeline.outbox import delivery_id
from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.management import Management

MGMT = "http://127.0.0.1:15672"


def vendor(vhost: str, user: str) -> pika.BlockingConnection:
    """A vendor's own connection, with its own credentials, as the README documents."""
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", 5672, vhost, pika.PlainCredentials(user, f"{user}-secret")))


@pytest.fixture
def running_hub(amqp_settings: Settings, rabbitmq_vhost: str) -> Iterator[Settings]:
    app = HubApp.build(amqp_settings)
    Management(MGMT, "guest", "guest").sync_parties(rabbitmq_vhost, app.parties, app.topology)
    transport = open_transport(amqp_settings.broker_url)
    transport.declare(app.topology, app.parties)
    transport.close()
    app.close()
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(amqp_settings, 0, 1, stop), daemon=True)
    thread.start()
    try:
        yield amqp_settings
    finally:
        stop.set()
        thread.join(timeout=10)


def wait_get(ch: pika.adapters.blocking_connection.BlockingChannel, queue: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            return props, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue}")


def test_pika_vendor_publishes_and_receives(running_hub: Settings, rabbitmq_vhost: str) -> None:
    ciz = vendor(rabbitmq_vhost, "ciz").channel()
    ciz.confirm_delivery()
    message_id = str(uuid.uuid4())
    body = json.dumps({"besluitnummer": "IB-9", "ingangsdatum": "2026-11-01", "zzp": "5VV",
                       "client": {"bsn": "999990019", "gemeentecode": "0344"},
                       "voorkeurZorgaanbieder": "73730800"}).encode()
    ciz.basic_publish("zorghub.in", "client-42", body, pika.BasicProperties(
        message_id=message_id, type="indicatiebesluit", content_type="application/json",
        user_id="ciz", delivery_mode=2))
    zk = vendor(rabbitmq_vhost, "zk-utrecht").channel()
    props, got = wait_get(zk, "zorghub.inbox.zk-utrecht")
    # delivery contract v2: a deterministic id of its own, the sender's id in x-origin-message-id
    assert props.message_id == delivery_id("ciz", message_id, "zk-utrecht", "indicatiebesluit|")
    assert props.headers["x-origin-message-id"] == message_id and props.type == "indicatiebesluit"
    assert props.headers["x-zorghub-stream"].startswith("zk-utrecht/") and props.headers["x-zorghub-seq"] == 1
    assert props.headers["x-sender"] == "ciz" and props.headers["x-sender-id-type"] == "OIN"
    assert json.loads(got) == json.loads(body)
    # a bad message comes back to the sender's own inbox as a receipt
    ciz.basic_publish("zorghub.in", "client-42", b"{not json", pika.BasicProperties(
        message_id="bad-1", type="indicatiebesluit", content_type="application/json", user_id="ciz"))
    props, got = wait_get(vendor(rabbitmq_vhost, "ciz").channel(), "zorghub.inbox.ciz")
    assert props.type == "zorghub.receipt" and props.correlation_id == "bad-1"
    assert json.loads(got)["rule"] == "JSON_SYNTAX"


def test_spoofed_user_id_is_refused_by_the_broker(running_hub: Settings, rabbitmq_vhost: str) -> None:
    conn = vendor(rabbitmq_vhost, "zonnehof")
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises((pika.exceptions.ChannelClosedByBroker, pika.exceptions.AMQPChannelError)) as info:
        ch.basic_publish("zorghub.in", "k", b"{}", pika.BasicProperties(
            message_id="spoof-1", type="indicatiebesluit", content_type="application/json", user_id="ciz"))
    assert "PRECONDITION_FAILED" in str(info.value) or "406" in str(info.value)


def test_a_party_cannot_read_another_partys_inbox(running_hub: Settings, rabbitmq_vhost: str) -> None:
    ch = vendor(rabbitmq_vhost, "zonnehof").channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_get("zorghub.inbox.bos-en-duin", auto_ack=True)
    assert info.value.reply_code == 403 and "ACCESS_REFUSED" in info.value.reply_text


def test_a_party_cannot_publish_around_the_hub(running_hub: Settings, rabbitmq_vhost: str) -> None:
    ch = vendor(rabbitmq_vhost, "zonnehof").channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish("zorghub.out", "bos-en-duin", b"{}", pika.BasicProperties(user_id="zonnehof"))
    assert info.value.reply_code == 403
