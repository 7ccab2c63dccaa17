"""Consume a party's inbox with exactly-once effect in the vendor's own database.

Per batch of deliveries, in one transaction of the vendor's connection: each new message goes to
the vendor's callback, its id and its stream's high-water mark are written, repeats are dropped and
counted, and a message from above a gap in its stream's sequence is parked. The batch is acked only
after that transaction commits, so a crash anywhere means a redelivery, which is then a repeat.

A gap (a sequence number above hwm + 1) is answered with a ``zorghub.resend`` request for the
missing range; the hub re-publishes those messages and the parked ones are applied behind them,
in order. The tail of a stream (its last messages lost, so no later message shows the gap) is
covered by a probe: once the inbox has been quiet for ``tail_check`` seconds after traffic, the
receiver asks every known stream for anything from hwm + 1.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic

from zorghub_receiver.message import Message
from zorghub_receiver.store import Marks

log = logging.getLogger("zorghub_receiver")

RESEND_KIND = "zorghub.resend"
RECEIPT_KIND = "zorghub.receipt"
RESEND_ID_PREFIX = "zorghub-resend-"
COUNTERS = ("applied", "duplicates", "parked", "refused")
Handler = Callable[[Message, Any], None]
Delivery = tuple[Basic.Deliver, pika.BasicProperties, bytes]
# a lost connection: reconnect (the broker redelivers what was not acked)
CONNECTION_LOST = (pika.exceptions.AMQPConnectionError, pika.exceptions.ConnectionClosed,
                   pika.exceptions.ChannelClosed, pika.exceptions.StreamLostError)


def _refused(exc: Exception) -> bool:
    """The broker said no (no such queue, no permission): trying again changes nothing."""
    return isinstance(exc, pika.exceptions.ChannelClosedByBroker) and exc.reply_code in (403, 404, 406)


@dataclass
class Stats:
    """What this process has done; ``Receiver.totals()`` has the committed totals over all runs."""

    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    gaps: int = 0
    resend_requests: int = 0
    refused: int = 0


class Receiver:
    """Receive ``queue`` (default ``zorghub.inbox.<user>``) into ``db`` through ``handle(message, db)``.

    ``db`` is a DB-API connection in transaction mode (``sqlite3``, psycopg); the receiver owns it
    while it runs and commits it once per batch. ``handle`` writes the vendor's own effects through
    it and must not commit; raising rolls the batch back and stops the receiver with that error.
    """

    def __init__(self, broker: str | pika.ConnectionParameters, db: Any, handle: Handler, *,
                 queue: str | None = None, exchange: str = "zorghub.in", batch_size: int = 100,
                 prefetch: int | None = None, resend_after: float = 10.0, tail_check: float = 30.0,
                 streams: Iterable[str] = (), table_prefix: str = "zorghub_", reconnect: bool = True) -> None:
        self.params = pika.URLParameters(broker) if isinstance(broker, str) else broker
        credentials = self.params.credentials
        self.user = str(getattr(credentials, "username", ""))
        self.queue = queue or f"zorghub.inbox.{self.user}"
        self.exchange = exchange
        self.db = db
        self.handle = handle
        self.batch_size = batch_size
        self.prefetch = prefetch or batch_size * 2
        self.resend_after = resend_after
        self.tail_check = tail_check
        self.streams = frozenset(streams)
        self.reconnect = reconnect
        self.marks = Marks(db, table_prefix)
        self.stats = Stats()
        self._stop = threading.Event()
        self._hwm: dict[str, int] = {}
        self._parked: dict[str, int] = {}  # stream -> lowest parked seq
        self._asked: dict[str, tuple[int, float]] = {}  # stream -> (last seq asked for, when)
        self._requests: dict[str, str] = {}  # id of a resend request not answered yet -> its stream
        self._progressed: set[str] = set()  # streams whose request was answered with messages, this batch
        self._traffic = True  # something other than a resend answer came since the last tail probe
        self._last_delivery = time.monotonic()
        self._publisher: BlockingChannel | None = None

    # ----- running ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Consume until ``stop()``; a lost broker connection is reopened (with ``reconnect``)."""
        self.marks.setup()
        self._load()
        if self._parked:  # a mark raised by hand over a gap the hub can no longer fill
            self._apply(None, [])
        delay = 0.5
        while not self._stop.is_set():
            try:
                conn = pika.BlockingConnection(self.params)
            except pika.exceptions.AMQPConnectionError as exc:
                if not self.reconnect:
                    raise
                log.warning("broker unreachable (%s); trying again in %.1f s", type(exc).__name__, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            try:
                delay = 0.5
                self._consume(conn)
            except CONNECTION_LOST as exc:
                if not self.reconnect or _refused(exc):
                    raise
                log.warning("broker connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                self._publisher = None
                if conn.is_open:
                    conn.close()

    def stop(self) -> None:
        """Ask ``run()`` to return after the batch in hand (thread-safe)."""
        self._stop.set()

    def totals(self) -> dict[str, int]:
        """Committed counters over every run on this database: ``applied``, ``duplicates``, ``parked``."""
        counts = self.marks.counters()
        self.db.commit()
        return counts

    def _load(self) -> None:
        self._hwm = self.marks.hwms()
        self._parked = self.marks.pending_bounds()
        self.db.commit()  # end the read transaction a driver may have opened

    def _consume(self, conn: pika.BlockingConnection) -> None:
        channel = conn.channel()
        channel.basic_qos(prefetch_count=self.prefetch)
        self._publisher = conn.channel()
        self._publisher.confirm_delivery()
        batch: list[Delivery] = []
        tick = min(1.0, self.tail_check, self.resend_after)
        for method, props, body in channel.consume(self.queue, inactivity_timeout=tick):
            if method is None:
                self._idle()
            else:
                self._last_delivery = time.monotonic()
                batch.append((method, props, body))
                if len(batch) >= self.batch_size or channel.get_waiting_message_count() == 0:
                    self._apply(channel, batch)
                    batch = []
            if self._stop.is_set() and not batch:
                break
        channel.cancel()

    # ----- one batch, one transaction ----------------------------------------------------------------
    def _apply(self, channel: BlockingChannel | None, batch: list[Delivery]) -> None:
        """``batch`` in one transaction, then acked; with no batch, the parked messages a raised mark frees."""
        hwm = dict(self._hwm)
        counts: collections.Counter[str] = collections.Counter()
        self.marks.begin()
        try:
            for _method, props, body in batch:
                self._take(Message.from_amqp(props, body), hwm, counts)
            if not batch:
                for stream in list(self._parked):
                    self._unpark(stream, hwm, counts)
            self.marks.set_hwms((s, h) for s, h in hwm.items() if self._hwm.get(s) != h)
            self.marks.add_counters({n: counts[n] for n in COUNTERS})
            parked = self.marks.pending_bounds() if counts["parked"] or self._parked else self._parked
            self.db.commit()
        except BaseException:
            self.db.rollback()
            self._progressed.clear()
            raise
        self._hwm, self._parked = hwm, parked
        for stream in self._progressed:  # the hub sent what it had (at most its limit): ask on at once
            if stream in self._asked:
                self._asked[stream] = (self._asked[stream][0], float("-inf"))
        self._progressed.clear()
        if channel is not None and batch:
            channel.basic_ack(batch[-1][0].delivery_tag, multiple=True)
        for name in COUNTERS:
            setattr(self.stats, name, getattr(self.stats, name) + counts[name])
        if counts["traffic"]:
            self._traffic = True
        self._ask_for_gaps()

    def _take(self, msg: Message, hwm: dict[str, int], counts: collections.Counter[str]) -> None:
        stream, seq = msg.stream, msg.seq
        if not self._answers_us(msg):
            counts["traffic"] += 1
        if stream is None or seq is None:
            self._apply_one(msg, counts)
            return
        top = hwm.get(stream, 0)
        if seq <= top:
            counts["duplicates"] += 1
        elif seq > top + 1:
            if self.marks.park(stream, seq, msg.message_id, msg.envelope(), msg.body):
                counts["parked"] += 1
            else:
                counts["duplicates"] += 1
        else:
            hwm[stream] = seq
            self._apply_one(msg, counts)
            if stream in self._parked or counts["parked"]:
                self._unpark(stream, hwm, counts)

    def _unpark(self, stream: str, hwm: dict[str, int], counts: collections.Counter[str]) -> None:
        """Apply the parked messages that now follow the stream's mark, in order."""
        while (parked := self.marks.unpark(stream, hwm.get(stream, 0) + 1)) is not None:
            hwm[stream] = hwm.get(stream, 0) + 1
            self._apply_one(Message.from_envelope(*parked), counts)

    def _apply_one(self, msg: Message, counts: collections.Counter[str]) -> None:
        if not self.marks.claim(msg.message_id, msg.stream, msg.seq):
            counts["duplicates"] += 1
        elif self._answers_us(msg):
            counts["refused"] += self._note_answer(msg)
        else:
            self.handle(msg, self.db)
            counts["applied"] += 1

    # ----- resend requests -----------------------------------------------------------------------------
    def _answers_us(self, msg: Message) -> bool:
        return msg.kind == RECEIPT_KIND and (msg.correlation_id or "").startswith(RESEND_ID_PREFIX)

    def _note_answer(self, msg: Message) -> int:
        """Log the hub's receipt for one of our resend requests; 1 if it was refused."""
        try:
            answer = json.loads(msg.body)
        except ValueError:
            answer = {}
        stream = self._requests.pop(msg.correlation_id or "", None)
        if answer.get("status") == "accepted":
            log.info("resend request %s answered: %s message(s) sent again", msg.correlation_id, answer.get("resent"))
            if stream is not None and int(answer.get("resent") or 0) > 0:
                self._progressed.add(stream)
            return 0
        log.warning("resend request %s refused: %s (%s)", msg.correlation_id, answer.get("rule"), answer.get("reason"))
        return 1

    def _ask_for_gaps(self) -> None:
        """A resend request per open gap; again after ``resend_after`` while it is not filled."""
        if self._publisher is None:  # not connected yet: asked once consuming starts
            return
        now = time.monotonic()
        for stream, lowest in sorted(self._parked.items()):
            start = self._hwm.get(stream, 0) + 1
            if lowest <= start:
                continue
            asked = self._asked.get(stream)
            if asked is None or asked[0] < start:  # a hole no earlier request covers
                self.stats.gaps += 1
                log.warning("gap in stream %s: seq %d..%d missing; asking the hub to send them again",
                            stream, start, lowest - 1)
            elif now - asked[1] < self.resend_after:
                continue
            self.request_resend(stream, start, lowest - 1)
            self._asked[stream] = (lowest - 1, now)

    def _idle(self) -> None:
        self._ask_for_gaps()
        if self._traffic and time.monotonic() - self._last_delivery >= self.tail_check:
            self._traffic = False
            gapped = {s for s, low in self._parked.items() if low > self._hwm.get(s, 0) + 1}
            for stream in sorted((set(self._hwm) | self.streams) - gapped):
                self.request_resend(stream, self._hwm.get(stream, 0) + 1)

    def request_resend(self, stream: str, start: int, end: int | None = None) -> str:
        """Publish a ``zorghub.resend`` request for ``stream`` from ``start`` (to ``end``); returns its id."""
        if self._publisher is None:
            raise RuntimeError("not connected: request_resend runs inside run()")
        body: dict[str, Any] = {"stream": stream, "from": start}
        if end is not None:
            body["to"] = end
        message_id = f"{RESEND_ID_PREFIX}{uuid.uuid4().hex}"
        self._publisher.basic_publish(self.exchange, stream, json.dumps(body).encode(), pika.BasicProperties(
            message_id=message_id, type=RESEND_KIND, content_type="application/json", user_id=self.user,
            delivery_mode=2))
        self.stats.resend_requests += 1
        self._requests[message_id] = stream
        return message_id
