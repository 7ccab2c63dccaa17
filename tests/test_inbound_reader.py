"""The frame reader over a stream cut at any read size: the same deliveries, whole, in order."""

from __future__ import annotations

from typing import Any

import pika
import pytest

from hub.transports.base import RawMessage
from hub.transports.inbound import RECV_BYTES, DeliveryReader


class _Impl:
    """The parts of pika's connection the reader uses: its frame buffer and counters."""

    def __init__(self) -> None:
        self._frame_buffer = b""
        self.bytes_received = 0
        self.frames_received = 0
        self.to_pika: list[Any] = []

    def _process_frame(self, frame: Any) -> None:
        self.to_pika.append(frame)


class _Blocking:
    def __init__(self) -> None:
        self._impl = _Impl()

    def _request_channel_dispatch(self, channel: int) -> None:
        pass


def _deliveries(bodies: list[bytes]) -> bytes:
    from pika import frame, spec

    out = []
    for n, body in enumerate(bodies, start=1):
        props = pika.BasicProperties(content_type="application/fhir+json", message_id=f"m-{n}", user_id="ciz",
                                     headers={"x-n": n})
        out += [frame.Method(1, spec.Basic.Deliver(consumer_tag="zorghub.t", delivery_tag=n, redelivered=False,
                                                   exchange="zh.in", routing_key="client-1")).marshal(),
                frame.Header(1, len(body), props).marshal()]
        out += [frame.Body(1, body[i:i + 131064]).marshal() for i in range(0, len(body), 131064)]
    return b"".join(out)


@pytest.mark.parametrize("read", [1, 7, 4096, RECV_BYTES, 10**7])
def test_a_frame_stream_cut_anywhere_gives_the_same_deliveries(read: int) -> None:
    """Reads of any size, a frame cut across two of them or many frames in one, give each message whole."""
    bodies = [b"", b"k" * 4907, bytes(range(256)) * 800, b'{"resourceType": "Bundle"}'] * 3
    data = _deliveries(bodies)
    got: list[RawMessage] = []
    blocking = _Blocking()
    reader = DeliveryReader(blocking, 1, {"zorghub.t": "work.0"}, got.append)
    for at in range(0, len(data), read):
        reader.on_data(data[at:at + read])
    assert [m.body for m in got] == bodies
    assert [m.tag for m in got] == list(range(1, len(bodies) + 1))
    assert [m.properties["message_id"] for m in got] == [f"m-{n}" for n in range(1, len(bodies) + 1)]
    assert all(m.headers == {"x-n": n} and m.queue == "work.0" for n, m in enumerate(got, start=1))
    assert blocking._impl._frame_buffer == b"" and blocking._impl.to_pika == []
    assert blocking._impl.bytes_received == len(data)
