"""AMQP 0-9-1 publish frames for a whole batch, marshalled in one piece.

pika makes a Method, a Header and a Body frame object for every message, builds a
``BasicProperties`` for it, marshals the three one by one and hands each to the socket buffer
on its own: for a batch of pipelined publishes that was most of what publishing cost. Here the
method frame of an (exchange, routing key) is made once and kept, the content header is packed
straight from the message's properties, and a batch leaves as one bytes object. The bytes are the
ones pika would write (``tests/test_amqp_frames.py`` holds them side by side).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from pika import data as amqp

from hub.transports.base import Outgoing

#: every frame: type, channel, payload size; then the payload and the end octet (also ``hub.transports.inbound``)
FRAME = struct.Struct(">BHI")
FRAME_END = b"\xce"
METHOD, HEADER, BODY = 1, 2, 3
_PUBLISH = struct.pack(">HHH", 60, 40, 0)  # Basic.Publish, ticket 0
_CONTENT = struct.Struct(">HHQH")  # class Basic, weight 0, body size, property flags
#: the properties the hub publishes with (``hub.transports.amqp``), in the order and with the flags of
#: the Basic class's property list: content type, headers, delivery mode, these, timestamp, those
_CONTENT_TYPE, _HEADERS, _DELIVERY_MODE, _TIMESTAMP = 0x8000, 0x2000, 0x1000, 0x0040
_MIDDLE = (("correlation_id", 0x0400), ("reply_to", 0x0200), ("message_id", 0x0080))
_LAST = (("type", 0x0020), ("user_id", 0x0010))
_PERSISTENT = struct.pack("B", 2)


_LEN = struct.Struct(">I")
_INT = struct.Struct(">ci")
_I32 = range(-2 ** 31, 2 ** 31)


#: a short string's length octet, by length
_OCTET = [bytes((n,)) for n in range(256)]
#: field table keys, encoded (the hub's header names: a handful, used by every message)
_KEYS: dict[str, bytes] = {}


def _encoded(value: Any) -> bytes:
    """A short string as ``pika.data.encode_short_string`` writes it (and refuses it over 255 bytes)."""
    raw = value.encode() if type(value) is str else value
    if type(raw) is not bytes or len(raw) > 255:
        pieces: list[bytes] = []
        amqp.encode_short_string(pieces, value)  # pika's own checks and errors
        return b"".join(pieces)
    return _OCTET[len(raw)] + raw


def _key(key: str) -> bytes:
    enc = _KEYS.get(key)
    if enc is None:
        enc = _encoded(key)
        if len(_KEYS) < 1024:  # header names are few; bounded all the same
            _KEYS[key] = enc
    return enc


def _table(table: Mapping[str, Any]) -> bytes:
    """A field table as ``pika.data.encode_table`` writes it: the hub's header values (text, whole numbers,
    true/false, none) here, anything else by pika's ``encode_value``."""
    items: list[bytes] = []
    add = items.append
    keys = _KEYS
    for key, value in table.items():
        name = keys.get(key) or _key(key)
        kind = type(value)
        if kind is str:
            raw = value.encode()
            add(name + b"S" + _LEN.pack(len(raw)) + raw)
        elif kind is int and value in _I32:
            add(name + _INT.pack(b"I", value))
        elif kind is bool:
            add(name + (b"t\x01" if value else b"t\x00"))
        elif value is None:
            add(name + b"V")
        else:
            add(name)
            amqp.encode_value(items, value)
    body = b"".join(items)
    return _LEN.pack(len(body)) + body


class PublishEncoder:
    """Marshals persistent publishes (delivery mode 2) on one channel, as ``AmqpTransport`` sends them."""

    def __init__(self, channel: int, body_max: int) -> None:
        self.channel = channel
        self.body_max = body_max  # the frame size less a frame's header and end octet
        self._methods: dict[tuple[str, str], bytes] = {}

    def method(self, exchange: str, routing_key: str) -> bytes:
        """The Basic.Publish frame to ``exchange`` with ``routing_key`` (not mandatory, not immediate)."""
        frame = self._methods.get((exchange, routing_key))
        if frame is None:
            payload = _PUBLISH + _encoded(exchange) + _encoded(routing_key) + b"\x00"
            frame = self._methods[(exchange, routing_key)] = self._frame(METHOD, payload)
            if len(self._methods) > 10_000:  # a routing key per party: bounded all the same
                self._methods.clear()
        return frame

    def header(self, properties: Mapping[str, Any], headers: Mapping[str, Any], body_size: int) -> bytes:
        """The content header frame: the properties ``hub.transports.amqp`` publishes with, in spec order;
        any other property is left out, as there."""
        flags = _DELIVERY_MODE
        pieces: list[bytes] = []
        add = pieces.append
        get = properties.get
        value = get("content_type")
        if value is not None:
            flags |= _CONTENT_TYPE
            add(_encoded(value))
        if headers:
            flags |= _HEADERS
            add(_table(headers))
        add(_PERSISTENT)
        for name, flag in _MIDDLE:
            value = get(name)
            if value is not None:
                flags |= flag
                add(_encoded(value))
        stamp = get("timestamp")
        if stamp is not None:
            flags |= _TIMESTAMP
            add(struct.pack(">Q", stamp))
        for name, flag in _LAST:
            value = get(name)
            if value is not None:
                flags |= flag
                add(_encoded(value))
        return self._frame(HEADER, _CONTENT.pack(60, 0, body_size, flags) + b"".join(pieces))

    def message(self, out: Outgoing, pieces: list[bytes]) -> None:
        """Append the frames of ``out`` (method, header, body in frames of at most ``body_max``) to ``pieces``."""
        body = out.body
        pieces.append(self.method(out.exchange, out.routing_key))
        pieces.append(self.header(out.properties, out.headers, len(body)))
        step = self.body_max
        for start in range(0, len(body), step):
            chunk = body[start:start + step]
            pieces.append(FRAME.pack(BODY, self.channel, len(chunk)) + chunk + FRAME_END)

    def batch(self, outgoing: Iterable[Outgoing]) -> tuple[bytes, int]:
        """The frames of every message, in order, as one bytes object; and how many frames that is."""
        pieces: list[bytes] = []
        for out in outgoing:
            self.message(out, pieces)
        return b"".join(pieces), len(pieces)

    def _frame(self, kind: int, payload: bytes) -> bytes:
        return FRAME.pack(kind, self.channel, len(payload)) + payload + FRAME_END

