"""A wait for publisher confirms ends when they are in, not when its poll's time limit runs out."""

from __future__ import annotations

import statistics
import time

import pika
import pytest

from hub.transports.amqp import QUORUM, AmqpTransport
from hub.transports.base import Outgoing
from hub.transports.confirms import ConfirmWindow

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


def _bookkeeping(published: list[int]) -> tuple[AmqpTransport, list[tuple[int, bool]]]:
    """A transport's confirm bookkeeping alone (no connection): batches of these sizes published."""
    import collections

    t = object.__new__(AmqpTransport)
    t._published, t._window, t._nacked = 0, ConfirmWindow(), False
    t._waiting, t._wake_when = collections.deque(), None
    settled: list[tuple[int, bool]] = []
    for n, size in enumerate(published):
        t._published += size
        t._waiting.append((t._published, lambda ok, n=n: settled.append((n, ok))))
    return t, settled


def test_confirms_out_of_order_settle_each_batch_once_all_its_tags_are_in() -> None:
    t, settled = _bookkeeping([3, 2, 4])  # tags 1-3, 4-5, 6-9
    t._confirmed(2, False, False)
    t._confirmed(5, False, False)
    t._confirmed(3, False, False)
    assert settled == []  # tag 1 still out
    t._confirmed(1, False, False)
    assert settled == [(0, True)]  # 1-3 are in; 4 is not
    t._confirmed(7, True, False)  # every tag up to 7, the 5 confirmed before among them
    assert settled == [(0, True), (1, True)]
    t._confirmed(3, False, False)  # a tag settled before: nothing changes
    t._confirmed(9, False, True)  # a nack, ahead of 8
    assert settled == [(0, True), (1, True)]
    t._confirmed(8, False, False)
    assert settled == [(0, True), (1, True), (2, False)]  # the batch with the nack is reported refused
    assert (t._window.low, t._window.ahead) == (10, set())
