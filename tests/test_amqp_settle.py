"""A wait for publisher confirms ends when they are in, not when its poll's time limit runs out."""

from __future__ import annotations

import statistics
import time

import pika
import pytest

from hub.transports.amqp import QUORUM, AmqpTransport
from hub.transports.base import Outgoing

pytestmark = pytest.mark.rabbitmq


def test_publish_returns_once_confirmed(rabbitmq_vhost: str) -> None:
    """The wait polls in 50 ms steps; a confirm (about a millisecond here) must end it, not the step."""
    transport = AmqpTransport(f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}")
    try:
        transport._conn.channel().queue_declare("confirms", durable=True, arguments=QUORUM)  # as an inbox is
        took = []
        for n in range(15):
            began = time.perf_counter()
            transport.publish([Outgoing("", "confirms", b"%d" % n, {"message_id": str(n)}, {})])
            took.append(time.perf_counter() - began)
        assert statistics.median(took) < 0.025, [round(t * 1000, 1) for t in took]
        assert [m.body for m in transport.get("confirms", 100)] == [b"%d" % n for n in range(15)]
        began = time.perf_counter()
        transport.publish([])  # nothing to confirm: settled at once, the connection left alone
        assert time.perf_counter() - began < 0.025
    finally:
        transport.close()


def test_settle_leaves_the_later_publishes_pending(rabbitmq_vhost: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    conn.channel().queue_declare("settle.q2", durable=False)
    conn.close()
    transport = AmqpTransport(url)
    settled: list[tuple[int, bool]] = []
    try:
        for n in range(3):
            transport.publish_pipelined([Outgoing("", "settle.q2", b"x", {"message_id": f"m{n}"}, {})] * 5,
                                        lambda ok, n=n: settled.append((n, ok)))
        assert transport.settle(10, pending=0)
    finally:
        transport.close()
    assert settled == [(0, True), (1, True), (2, True)]
