"""AMQP 0-9-1 deliveries and publisher confirms read straight off the connection's frame buffer.

For each frame pika builds a frame object, asks its callback registry (through two decorators) whether
someone waits for it, routes it to the channel, assembles the content, builds ``BasicProperties``, and
queues an event that ``BlockingConnection`` later dispatches to the consumer callback: three frames a
message and one a confirm, and for a consuming, publishing worker that was a quarter of its time.
``DeliveryReader`` takes the frame loop over: the deliveries of the consumer channel become
``RawMessage`` values and the confirms of the publisher channel calls, both in a few struct reads;
every other frame (channel 0, heartbeats, ``ConsumeOk``, a broker's ``Basic.Cancel``, a close) goes
to pika as it came. What a delivery turns into is what pika's path gives (``tests/test_amqp_inbound.py``
holds the two side by side).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from pika import data as amqp
from pika import exceptions
from pika import frame as pika_frame

from hub.transports.base import RawMessage
from hub.transports.frames import BODY, FRAME, FRAME_END, HEADER, METHOD

_HEAD, _END = FRAME.size, FRAME_END[0]
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_DELIVER = 60 << 16 | 60  # Basic.Deliver
_ACK, _NACK = 60 << 16 | 80, 60 << 16 | 120
#: the Basic properties in the order of their flag bits (15 down to 2), and how each is written
_PROPERTIES = (("content_type", "s"), ("content_encoding", "s"), ("headers", "t"), ("delivery_mode", "b"),
               ("priority", "b"), ("correlation_id", "s"), ("reply_to", "s"), ("expiration", "s"),
               ("message_id", "s"), ("timestamp", "q"), ("type", "s"), ("user_id", "s"), ("app_id", "s"),
               ("cluster_id", "s"))
_KEPT = ("message_id", "correlation_id", "type", "user_id", "reply_to", "content_type", "timestamp")

Confirmed = Callable[[int, bool, bool], None]  # (delivery tag, multiple, nack)


def properties(buf: bytes, at: int) -> dict[str, Any]:
    """A content header's properties from ``at`` (its property flags), as ``BasicProperties.decode`` reads them."""
    flags, word = 0, 0
    while True:
        part = _U16.unpack_from(buf, at)[0]
        at += 2
        flags |= part << (word * 16)
        word += 1
        if not part & 1:
            break
    out: dict[str, Any] = {}
    bit = 15
    for name, kind in _PROPERTIES:
        if flags & (1 << bit):
            if kind == "s":
                out[name], at = amqp.decode_short_string(buf, at)
            elif kind == "t":
                out[name], at = amqp.decode_table(buf, at)
            elif kind == "b":
                out[name] = buf[at]
                at += 1
            else:
                out[name] = _U64.unpack_from(buf, at)[0]
                at += 8
        bit -= 1
    return out


#: bytes a socket read asks for (pika asks for 4,096): a 5 KB FHIR Bundle took two reads and a partial
#: frame carried over between them; one read now takes in a dozen such messages. Below glibc's 128 KiB,
#: where a buffer would be mapped and unmapped each time
RECV_BYTES = 64 * 1024


class DeliveryReader:
    """The frame loop of one pika connection, with a short way for deliveries and confirms.

    ``queues`` maps the consumer tags of ``channel`` to their queues; a delivery for any other tag,
    and everything else, is left to pika. ``confirms`` is the publisher channel and ``on_confirm``
    what its acks and nacks are handed to (set once that channel is in confirm mode).
    """

    def __init__(self, blocking: Any, channel: int, queues: dict[str, str],
                 sink: Callable[[RawMessage], None]) -> None:
        self.blocking = blocking
        self.impl = blocking._impl
        self.channel = channel
        self.queues = queues
        self.sink = sink
        self.confirms = -1
        self.on_confirm: Confirmed | None = None
        self._method: tuple[str, int, bool, str] | None = None  # the delivery whose content is coming
        self._props: dict[str, Any] | None = None
        self._size = 0
        self._parts: list[bytes] = []
        self._got = 0
        self._delivered = False  # a delivery finished in the data in hand
        self._to_pika = 0  # body bytes of a delivery pika is assembling (a consumer tag not ours)
        self._pika_header = False

    @classmethod
    def install(cls, blocking: Any, channel: int, queues: dict[str, str],
                sink: Callable[[RawMessage], None]) -> DeliveryReader | None:
        """Take over the frame loop of ``blocking``; None (pika's loop kept) if it is not pika 1.x's."""
        impl = getattr(blocking, "_impl", None)
        if impl is None or not isinstance(getattr(impl, "_frame_buffer", None), bytes) \
                or not hasattr(impl, "_process_frame") or not hasattr(blocking, "_request_channel_dispatch"):
            return None
        reader = cls(blocking, channel, queues, sink)
        impl._on_data_available = reader.on_data
        transport: Any = getattr(impl, "_transport", None)
        if isinstance(getattr(transport, "_MAX_RECV_BYTES", None), int):
            transport._MAX_RECV_BYTES = RECV_BYTES
            transport._MAX_CONSUME_BYTES = max(RECV_BYTES, transport._MAX_CONSUME_BYTES)
        return reader

    def on_data(self, data_in: bytes) -> None:
        impl = self.impl
        buf = impl._frame_buffer + data_in if impl._frame_buffer else data_in
        n, at = len(buf), 0
        try:
            while n - at > _HEAD:
                kind, channel, size = FRAME.unpack_from(buf, at)
                end = at + _HEAD + size + 1  # the payload, then the end octet
                if end > n:
                    break
                if buf[end - 1] != _END:
                    raise exceptions.InvalidFrameError("Invalid FRAME_END marker")
                ours = (self._content(kind, buf, at + _HEAD, end - 1) if channel == self.channel else
                        channel == self.confirms and kind == METHOD and self._confirm(buf, at + _HEAD))
                impl.bytes_received += end - at
                start, at = at, end
                if ours:
                    impl.frames_received += 1
                else:  # consumed before pika sees it, as pika's own loop trims before it processes
                    impl._process_frame(pika_frame.decode_frame(buf[start:end])[1])
        finally:
            impl._frame_buffer = buf[at:]
        if self._delivered:  # ends a waiting process_data_events, as a dispatched delivery would
            self._delivered = False
            self.blocking._request_channel_dispatch(-1)

    def _content(self, kind: int, buf: bytes, lo: int, hi: int) -> bool:
        """Handle one frame of the consumer channel; False leaves it to pika. A finished delivery goes
        to the sink."""
        if self._to_pika or self._pika_header:
            return self._pass_to_pika(kind, buf, lo, hi)
        if kind == METHOD:
            if _U32.unpack_from(buf, lo)[0] != _DELIVER:
                return False
            tag, at = amqp.decode_short_string(buf, lo + 4)
            if tag not in self.queues:
                self._pika_header = True
                return False
            delivery_tag = _U64.unpack_from(buf, at)[0]
            redelivered = bool(buf[at + 8] & 1)
            _, at = amqp.decode_short_string(buf, at + 9)  # the exchange
            routing_key, _ = amqp.decode_short_string(buf, at)
            self._method = (tag, delivery_tag, redelivered, routing_key)
            return True
        if self._method is None:
            return False
        if kind == HEADER and self._props is None:
            self._size = _U64.unpack_from(buf, lo + 4)[0]
            self._props = properties(buf, lo + 12)
            self._parts, self._got = [], 0
        elif kind == BODY and self._props is not None:
            self._parts.append(buf[lo:hi])
            self._got += hi - lo
        else:
            raise exceptions.UnexpectedFrameError(f"frame of type {kind} inside a delivery")
        if self._got >= self._size:
            self._finish()
        return True

    def _pass_to_pika(self, kind: int, buf: bytes, lo: int, hi: int) -> bool:
        """The content of a delivery pika assembles goes to pika, till its body is complete."""
        if kind == HEADER and self._pika_header:
            self._pika_header = False
            self._to_pika = _U64.unpack_from(buf, lo + 4)[0]
        elif kind == BODY:
            self._to_pika = max(0, self._to_pika - (hi - lo))
        return False

    def _finish(self) -> None:
        tag, delivery_tag, redelivered, routing_key = self._method  # type: ignore[misc]
        props = self._props or {}
        body = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._method, self._props, self._parts, self._got = None, None, [], 0
        self._delivered = True
        self.sink(RawMessage(body=body, properties={k: props.get(k) for k in _KEPT},
                             headers=dict(props.get("headers") or {}), routing_key=routing_key,
                             queue=self.queues[tag], redelivered=redelivered, tag=delivery_tag))

    def _confirm(self, buf: bytes, lo: int) -> bool:
        method = _U32.unpack_from(buf, lo)[0]
        if self.on_confirm is None or method not in (_ACK, _NACK):
            return False
        self.on_confirm(_U64.unpack_from(buf, lo + 4)[0], bool(buf[lo + 12] & 1), method == _NACK)
        return True
