"""The retry queues on RabbitMQ: quorum queues (they must outlive a node), whose TTL still hands messages back."""

from __future__ import annotations

import time

import pika
import pytest

from hub.app import HubApp
from hub.settings import Settings
from hub.testing import vhost_of
from hub.transports import open_transport
from hub.transports.management import Management
from tests.conftest import MGMT_URL

pytestmark = pytest.mark.rabbitmq


def test_a_retry_comes_back_to_the_inbound_exchange_after_its_delay(amqp_settings: Settings) -> None:
    settings = amqp_settings.replace(shards=1, retry_delays_ms=(300,))
    app = HubApp.build(settings)
    try:
        transport = open_transport(settings.broker_url)
        transport.declare(app.topology, app.parties)
        transport.close()
        types = {q["name"]: q["type"] for q in Management(MGMT_URL, "guest", "guest").queues(
            vhost_of(settings.broker_url), "zorghub.")}
        assert types[app.topology.retry_queue(300)] == "quorum"
        conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish(app.topology.retry, "client-1", b"again", pika.BasicProperties(
            message_id="m-1", headers={"x-delay-ms": 300}, delivery_mode=2))
        shard = app.topology.shard_queues()[0]
        sent = time.monotonic()
        method, props, body = next(ch.consume(shard, auto_ack=True, inactivity_timeout=20))
        waited = time.monotonic() - sent
        got = (props.message_id, body) if method else None
        conn.close()
        assert got == ("m-1", b"again")
        assert waited >= 0.25, waited  # held for its delay, not routed straight through
    finally:
        app.close()
