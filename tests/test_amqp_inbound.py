"""Deliveries and confirms read off the frame buffer: the same messages as pika's own path gives."""

from __future__ import annotations

import threading
from typing import Any

import pika
import pytest

from hub.transports.amqp import AmqpTransport, _raw
from hub.transports.base import Outgoing, RawMessage
from hub.transports.inbound import RECV_BYTES

pytestmark = pytest.mark.rabbitmq

HEADERS: dict[str, Any] = {"x-sender": "ciz", "x-seq": 12, "x-big": 2**40, "x-neg": -7, "x-yes": True,
                           "x-no": False, "x-none": None, "x-nested": {"a": 1, "b": "twee"}, "x-list": [1, "two"],
                           "x-bytes": b"\x00\xff", "x-text": "zorg \u00e9\u00e8"}


def _messages() -> list[tuple[bytes, pika.BasicProperties]]:
    bodies = [b"", b"x", b"k" * 1024, bytes(range(256)) * 800, b"\xff\xfe not text"]  # 200 KB: two frames
    out = []
    for n, body in enumerate(bodies):
        props = pika.BasicProperties(content_type="application/json", headers=dict(HEADERS, n=n), delivery_mode=2,
                                     correlation_id=f"c-{n}", reply_to="zk-utrecht", message_id=f"m-{n}",
                                     timestamp=1_700_000_000 + n, type="echo", user_id="guest")
        out.append((body, props))
    out.append((b"bare", pika.BasicProperties()))  # no properties at all
    out.append((b"bytes id", pika.BasicProperties(message_id=b"\xff\xfe", headers={})))
    return out


def _without_tag(m: RawMessage) -> tuple[Any, ...]:
    return (m.body, dict(m.properties), dict(m.headers), m.routing_key, m.redelivered)


def test_deliveries_off_the_buffer_are_pikas_and_confirms_settle(rabbitmq_vhost: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    setup = pika.BlockingConnection(pika.URLParameters(url))
    ch = setup.channel()
    ch.exchange_declare("both", "fanout")
    for q in ("fast", "pika", "other"):
        ch.queue_declare(q)
    for q in ("fast", "pika"):
        ch.queue_bind(q, "both")
    sent = _messages()
    for body, props in sent:
        ch.basic_publish("both", "rk.1", body, props)

    plain: list[RawMessage] = []
    for method, props, body in ch.consume("pika", inactivity_timeout=2):
        if method is None:
            break
        plain.append(_raw(method, props, body, "pika"))
        if len(plain) == len(sent):
            break
    ch.cancel()
    setup.close()
    assert len(plain) == len(sent)

    transport = AmqpTransport(url)
    got: list[RawMessage] = []
    stop = threading.Event()
    other: list[bytes] = []
    settled: list[bool] = []
    reads: list[int] = []

    def handler(batch: list[RawMessage]) -> None:
        got.extend(batch)
        if len(got) == len(sent) and not settled:
            reader = transport._reader
            assert reader is not None  # the frame loop is the reader's
            # a consumer the reader does not know: its deliveries go through pika, and a publish's confirm
            # through the reader in between
            transport._channel.basic_consume("other", lambda c, m, p, b: other.append(b))
            transport.publish([Outgoing("", "other", b"via pika", {"message_id": "o-1"}, {})])
            settled.append(transport._reader is reader and reader.on_confirm is not None)
            reads.append(transport._conn._impl._transport._MAX_RECV_BYTES)

    timer = threading.Timer(20, stop.set)
    timer.start()
    try:
        transport.consume(["fast"], handler, batch_size=3, stop=stop,
                          on_idle=lambda: stop.set() if other else None)
    finally:
        timer.cancel()
        transport.close()
    assert [_without_tag(m) for m in got] == [_without_tag(m) for m in plain]
    assert [m.queue for m in got] == ["fast"] * len(sent)
    assert [m.tag for m in got] == list(range(1, len(sent) + 1))
    assert settled == [True] and other == [b"via pika"]
    assert reads == [RECV_BYTES]  # the 200 KB body came in reads of this size, a frame cut across them
