"""The batch publish encoder writes the bytes pika writes, and RabbitMQ takes them as pika's."""

from __future__ import annotations

import pika
import pytest
from pika import frame, spec

from hub.transports.amqp import AmqpTransport, _props
from hub.transports.base import Outgoing
from hub.transports.frames import PublishEncoder

MESSAGES = [
    Outgoing("zh.out", "zonnehof", b'{"n": 1}',
             {"message_id": "d-" + "a" * 32, "correlation_id": None, "type": "echo",
              "content_type": "application/json"},
             {"x-sender": "ciz", "x-zorghub-stream": "zonnehof/0", "x-zorghub-seq": 7, "x-flag": True}),
    Outgoing("zh.retry", "client-3", b"<a/>", {"message_id": "m1", "user_id": "hub", "reply_to": "me",
                                               "timestamp": 1_700_000_000, "priority": 5}, {}),
    Outgoing("", "q", b"", {"message_id": "empty"}, {"x-none": None}),
    Outgoing("zh.out", "cak", bytes(range(256)) * 600, {"message_id": "big", "content_type": "application/xml"},
             {"nested": {"a": 1, "b": [1, "x"]}}),  # over one frame: split as pika splits it
]


def pika_bytes(out: Outgoing, channel: int, body_max: int) -> bytes:
    """What pika's Connection._send_message marshals for ``basic_publish`` of ``out``."""
    parts = [frame.Method(channel, spec.Basic.Publish(exchange=out.exchange, routing_key=out.routing_key)).marshal(),
             frame.Header(channel, len(out.body), _props(out)).marshal()]
    parts += [frame.Body(channel, out.body[i:i + body_max]).marshal() for i in range(0, len(out.body), body_max)]
    return b"".join(parts)


@pytest.mark.parametrize("channel", [1, 7])
def test_the_bytes_are_pikas(channel: int) -> None:
    encoder = PublishEncoder(channel, 131072 - 8)
    for out in MESSAGES:
        assert encoder.batch([out])[0] == pika_bytes(out, channel, 131072 - 8)
    data, frames = encoder.batch(MESSAGES)
    assert data == b"".join(pika_bytes(o, channel, 131072 - 8) for o in MESSAGES)
    assert frames == 2 * len(MESSAGES) + (1 + 1 + 0 + 2)  # a method and a header each; body frames: none for b""


def test_an_over_long_short_string_is_refused_as_pika_refuses_it() -> None:
    with pytest.raises(pika.exceptions.ShortStringTooLong):
        PublishEncoder(1, 1000).batch([Outgoing("x", "r" * 300, b"1", {"message_id": "m"}, {})])


@pytest.mark.rabbitmq
def test_the_broker_delivers_them_as_published(rabbitmq_vhost: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare("frames.q", durable=True)
    conn.close()
    transport = AmqpTransport(url)
    try:
        outgoing = [Outgoing("", "frames.q", m.body, {**m.properties, "user_id": None}, m.headers) for m in MESSAGES]
        transport.publish(outgoing)
        got = transport.get("frames.q", 10)
    finally:
        transport.close()
    assert [m.body for m in got] == [o.body for o in outgoing]
    assert got[0].headers == {"x-sender": "ciz", "x-zorghub-stream": "zonnehof/0", "x-zorghub-seq": 7,
                              "x-flag": True}
    assert got[0].properties["message_id"] == "d-" + "a" * 32 and got[0].properties["type"] == "echo"
    assert got[1].properties["reply_to"] == "me" and got[1].properties["timestamp"] == 1_700_000_000
    assert got[3].headers == {"nested": {"a": 1, "b": [1, "x"]}}
