"""The ceiling: a bare pika relay on the same broker, with nothing of the hub in it.

Consumes from quorum queue A, publishes each message to quorum queue B on the
same channel in confirm mode, and acks A once B's confirm is in (pipelined:
many publishes in flight, acks ``multiple`` as confirms arrive). That is the
least a relay must do to never lose a message, written with pika's
asynchronous ``SelectConnection``.
"""

from __future__ import annotations

import signal
from collections import deque
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

QUORUM = {"x-queue-type": "quorum"}


def declare_pair(url: str, source: str, target: str) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare(source, durable=True, arguments=QUORUM)
    ch.queue_declare(target, durable=True, arguments=QUORUM)
    conn.close()


class Relay:
    def __init__(self, url: str, source: str, target: str, prefetch: int = 500) -> None:
        self.url = url
        self.source = source
        self.target = target
        self.prefetch = prefetch
        self.published = 0
        self.acked = 0
        self._pending: deque[tuple[int, int]] = deque()  # (publish seq, source delivery tag)
        self._conn: Any = None
        self._ch: Any = None
        self._stopping = False
        self._upto = 0
        self._singles: set[int] = set()

    def run(self) -> None:
        self._conn = SelectConnection(pika.URLParameters(self.url), on_open_callback=self._on_open)
        self._conn.ioloop.start()

    def stop(self) -> None:
        self._stopping = True
        if self._conn is not None:
            self._conn.ioloop.add_callback_threadsafe(self._close)

    def _close(self) -> None:
        if self._conn.is_open:
            self._conn.close()
        else:
            self._conn.ioloop.stop()

    def _on_open(self, conn: Any) -> None:
        conn.add_on_close_callback(lambda *_: conn.ioloop.stop())
        conn.channel(on_open_callback=self._on_channel)

    def _on_channel(self, ch: Any) -> None:
        self._ch = ch
        ch.confirm_delivery(self._on_confirm)
        ch.basic_qos(prefetch_count=self.prefetch, callback=lambda _: ch.basic_consume(self.source, self._on_message))

    def _on_message(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        ch.basic_publish("", self.target, body, props)
        self.published += 1
        self._pending.append((self.published, method.delivery_tag))

    def _on_confirm(self, frame: Any) -> None:
        m = frame.method
        nack = isinstance(m, pika.spec.Basic.Nack)
        if nack:  # the broker could not take it: send the source messages back, they come again
            self._ch.basic_nack(self._pending[-1][1] if self._pending else 0, multiple=True, requeue=True)
            self._pending.clear()
            self._singles.clear()
            return
        if m.multiple:
            self._upto = max(self._upto, m.delivery_tag)
        else:
            self._singles.add(m.delivery_tag)
        last_tag = None
        while self._pending and (self._pending[0][0] <= self._upto or self._pending[0][0] in self._singles):
            seq, last_tag = self._pending.popleft()
            self._singles.discard(seq)
        if last_tag is not None:
            self._ch.basic_ack(last_tag, multiple=True)
            self.acked = last_tag


def relay_main(url: str, source: str, target: str, prefetch: int = 500) -> None:
    """Subprocess entry: relay until SIGTERM."""
    relay = Relay(url, source, target, prefetch)
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    signal.signal(signal.SIGINT, lambda *_: relay.stop())
    relay.run()
