"""Group commit for the routes: the audit records and publishes of every request that arrived while the
last batch was being written go in one store transaction and one publisher-confirm wait.

A request awaits its own part; it is answered only once its decision is on record and its message is
held by the broker, as one request at a time would be, at a fraction of the round trips.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from hub.store.audit import AuditRecord
from hub.transports.base import Outgoing

if TYPE_CHECKING:
    from hub.http.context import HttpContext

MAX_BATCH = 500


class GroupCommit:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self._queue: queue.Queue[tuple[list[AuditRecord], list[Outgoing], Future[None]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def commit(self, records: list[AuditRecord], outgoing: list[Outgoing]) -> Future[None]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zorghub-http-commit", daemon=True)
                self._thread.start()
        done: Future[None] = Future()
        self._queue.put((records, outgoing, done))
        return done

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                records = [r for b in batch for r in b[0]]
                outgoing = [o for b in batch for o in b[1]]
                if records:
                    self.ctx.store(self.ctx.audit, records).result()
                if outgoing:
                    self.ctx.publish(outgoing)
            except BaseException as exc:  # every waiting request learns it failed; none is answered 202
                for _, _, done in batch:
                    done.set_exception(exc)
            else:
                for _, _, done in batch:
                    done.set_result(None)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
