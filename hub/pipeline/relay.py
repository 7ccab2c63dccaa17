"""The relay: publishes committed outbox entries with pipelined confirms, then marks them sent.

The worker hands it a batch's entries right after the batch committed and was acked, and goes on
with the next batch while the broker confirms: the confirms are read while the worker consumes,
and the entries they settle are marked sent in the next batch's transaction (or, when the worker
is idle, in one of their own). Entries keep their order: one confirm-mode channel, published in
sequence order per stream. After a crash, ``resume`` publishes every unsent entry of the worker's
shards again, rebuilt byte for byte from the outbox and the payload store; a copy the broker had
already taken is dropped by the receiver by its message id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import orjson

from hub.errors import RetryLater
from hub.pipeline import outbox
from hub.store.audit import PayloadAltered
from hub.store.outbox import Entry, OutboxStore
from hub.transports.base import Outgoing, Transport

log = logging.getLogger("zorghub.relay")

#: (stream, seq): an outbox entry's key
EntryKey = tuple[str, int]
PayloadReader = Callable[[str], "bytes | None"]
#: batches published and not yet confirmed before the worker waits: they overlap the next batches' work,
#: and a broker slow to confirm one (a quorum commit waiting on its fsync) does not stall the worker
MAX_IN_FLIGHT = 4
#: how long an idle worker leaves confirmed entries unmarked, for the next batch's transaction to carry:
#: under a light load a transaction of their own after every message doubled the store's writes (and the
#: WAL checkpoints that copy them, which stalled the messages behind them)
IDLE_MARK_AFTER = 0.25


class Relay:
    """Pipelined publishing of outbox entries over one transport, and the sent marks that follow."""

    def __init__(self, transport: Transport, store: OutboxStore, payload: PayloadReader) -> None:
        self.transport = transport
        self.store = store
        self.payload = payload
        self._confirmed: list[EntryKey] = []
        self._confirmed_since: float | None = None  # when the oldest unmarked confirm came
        self._in_flight = 0
        self._refused = False

    @property
    def idle(self) -> bool:
        """No publish waits for the broker."""
        return self._in_flight == 0

    def send(self, items: Sequence[tuple[EntryKey, Outgoing]], then: Callable[[], None] | None = None) -> None:
        """Publish committed entries now; they are marked sent once the broker confirmed them, and ``then``
        is called (at once when there is nothing to publish)."""
        if not items:
            if then is not None:
                then()
            return
        keys = [k for k, _ in items]
        self._in_flight += 1

        def settled(ok: bool) -> None:
            self._in_flight -= 1
            if ok:
                if not self._confirmed:
                    self._confirmed_since = time.monotonic()
                self._confirmed.extend(keys)
                if then is not None:
                    then()
            else:  # left unsent: published again on resume
                self._refused = True

        self.transport.publish_pipelined([o for _, o in items], settled)

    def take_confirmed(self) -> list[EntryKey]:
        """The confirmed entries not yet marked sent, for the caller's transaction (``give_back`` if it fails)."""
        if self._refused:
            self._refused = False
            raise RetryLater("the broker refused (nacked) an outbox entry: it is published again on resume")
        done, self._confirmed, self._confirmed_since = self._confirmed, [], None
        return done

    def give_back(self, keys: list[EntryKey]) -> None:
        """Confirmed entries whose sent mark did not commit: marked with the next one."""
        if keys and not self._confirmed:
            self._confirmed_since = time.monotonic()
        self._confirmed[:0] = keys

    def flush(self, older_than: float = 0.0) -> None:
        """Mark what the broker confirmed as sent, in a transaction of its own; with ``older_than``, only
        once the oldest confirm waited that many seconds (else the next batch's transaction marks them)."""
        since = self._confirmed_since
        if older_than and (since is None or time.monotonic() - since < older_than):
            return
        done = self.take_confirmed()
        if done:
            try:
                self.store.mark_sent(done)
            except BaseException:
                self.give_back(done)
                raise

    def throttle(self, in_flight: int = MAX_IN_FLIGHT, timeout: float = 30.0) -> None:
        """Before the next batch: wait until fewer than ``in_flight`` batches wait for confirms, so a fast
        worker over a slow broker keeps a bounded number of messages in memory (and in flight)."""
        if self._in_flight >= in_flight and not self.transport.settle(timeout, pending=in_flight - 1):
            raise RetryLater(f"the broker left {self._in_flight} published batches unconfirmed for {timeout:.0f}s")

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for every confirm (a stopping worker), then mark them sent."""
        self.transport.settle(timeout)
        self.flush()

    def resume(self, shards: Sequence[int]) -> int:
        """Publish every unsent entry of ``shards`` again, in each stream's order; how many."""
        count = 0
        while True:
            entries = self.store.unsent(shards)
            items = [(e, o) for e in entries if (o := self.rebuild(e)) is not None]
            if not items:
                return count
            self.send([((e.stream, e.seq), o) for e, o in items])
            count += len(items)
            if not self.transport.settle():
                raise RetryLater("the broker did not confirm the resumed outbox entries in time")
            self.flush()
            if len(entries) < 10_000:
                return count

    def rebuild(self, e: Entry) -> Outgoing | None:
        return rebuild(e, self.payload)


def rebuild(e: Entry, payload: PayloadReader) -> Outgoing | None:
    """The message of an entry, byte for byte; None if its body is gone or no longer what was signed."""
    try:
        body = payload(e.payload_sha256)
    except PayloadAltered as exc:
        log.error("outbox entry %s #%d (%s) is not sent: %s", e.stream, e.seq, e.message_id, exc.reason)
        return None
    if body is None:
        log.error("outbox entry %s #%d (%s) is not sent: its payload is no longer stored", e.stream, e.seq,
                  e.message_id)
        return None
    return outbox.from_detail(orjson.loads(e.detail), body)
