"""A wait for publisher confirms ends when they are in, not when its poll's time limit runs out."""

from __future__ import annotations

import statistics
import time

import pika
import pytest

from hub.transports.amqp import AmqpTransport
from hub.transports.base import Outgoing

pytestmark = pytest.mark.rabbitmq


def test_publish_returns_once_confirmed(rabbitmq_vhost: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    conn.channel().queue_declare("settle.q", durable=False)  # confirmed at once: nothing to write to disk
    conn.close()
    transport = AmqpTransport(url)
    try:
        times = []
        for n in range(20):
            began = time.perf_counter()
            transport.publish([Outgoing("", "settle.q", b"x", {"message_id": f"m{n}"}, {})])
            times.append(time.perf_counter() - began)
        held = transport.get("settle.q", 50)
    finally:
        transport.close()
    assert len(held) == 20
    # each wait used to run out process_data_events' 50 ms: confirms end no poll by themselves
    assert statistics.median(times) < 0.025, f"median publish-and-confirm {statistics.median(times) * 1000:.1f} ms"


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
