"""Publisher confirms on the real RabbitMQ: a commit returns as soon as the broker confirmed it."""

from __future__ import annotations

import statistics
import time

import pytest

from hub.transports.amqp import QUORUM, AmqpTransport
from hub.transports.base import Outgoing

pytestmark = pytest.mark.rabbitmq


def test_publish_returns_once_confirmed_not_after_its_poll_interval(rabbitmq_vhost: str) -> None:
    """The wait polls in 50 ms steps; a confirm (about a millisecond here) must end it, not the step."""
    transport = AmqpTransport(f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}")
    try:
        channel = transport._conn.channel()
        channel.queue_declare("confirms", durable=True, arguments=QUORUM)
        took = []
        for n in range(15):
            began = time.perf_counter()
            transport.publish([Outgoing("", "confirms", b"%d" % n, {"message_id": str(n)}, {})])
            took.append(time.perf_counter() - began)
        assert statistics.median(took) < 0.025, [round(t * 1000, 1) for t in took]
        assert [m.body for m in transport.get("confirms", 100)] == [b"%d" % n for n in range(15)]
        transport.publish([])  # nothing to confirm: settled at once
    finally:
        transport.close()
