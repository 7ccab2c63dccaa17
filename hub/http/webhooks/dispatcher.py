"""The dispatcher: handshakes, then delivers each subscription's stored events in number order.

It reads only what the batches committed (``wh_event``), so a hub that dies between an event
and its webhook call has lost nothing: the next dispatcher finds the event undelivered and sends
it. Delivery is at least once: a crash after the endpoint answered but before the mark is written
sends that event again, with the same event number, by which the subscriber tells.

A failed call is tried again after each delay of ``delays`` in turn; after the last one the
subscription goes to ``error`` (audited) and stops being called, while its events are still
numbered and kept: ``$events`` hands them over, and setting it ``requested`` again restarts it
from the first event its endpoint did not take. It runs in the HTTP server's process, on a connection
and a thread of its own; with several servers on one store, one at a time works (a lease in the store,
renewed each round, taken over when its holder stopped renewing it), so events keep their order.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx
import orjson

from hub.errors import HubError
from hub.formats import bsn as bsnlib
from hub.http.webhooks.shapes import Event, Hook, notification
from hub.store.audit import NODE, AuditLog, AuditRecord
from hub.store.db import Database
from hub.store.webhooks import WebhookRows

log = logging.getLogger("zorghub.webhooks")

HUB_ACTOR = "zorghub"
#: seconds before each retry; the sum (about 1.8 hours) is how long an endpoint may stay away
DEFAULT_DELAYS_S: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
BURST = 50  # events delivered to one subscription per round, so one busy subscriber cannot starve the rest
LEASE_LOCK = "zorghub.webhooks"
LEASE_S = 5.0  # beyond one call's timeout: how long a dispatcher that was killed keeps the others waiting


class Dispatcher:
    def __init__(self, db: Database, audit: AuditLog, *, delays: Sequence[float] = DEFAULT_DELAYS_S,
                 timeout: float = 5.0, base: str = "", clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.audit = audit
        self.rows = WebhookRows(db)
        self.delays = tuple(delays)
        self.base = base
        self.clock = clock
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self.owner = f"{NODE}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.lease_s = LEASE_S + timeout  # outlasts the longest call it may be in
        self._held_until = 0.0

    # ----- one round ----------------------------------------------------------------
    def tick(self) -> int:
        """Work through every subscription that is due now; returns how many calls succeeded."""
        if not self._hold():
            return 0  # another dispatcher works on this store
        done = 0
        for row in self.rows.due(self.clock()):
            if not self._hold():
                break
            hook = Hook.of(row)
            done += self._handshake(hook) if hook.status == "requested" else self._deliver(hook)
        return done

    def _hold(self) -> bool:
        """Take or renew the lease, long enough for one more call; False when another dispatcher holds it."""
        now = self.clock()
        if self._held_until - now > self.lease_s / 2:
            return True  # still well inside the lease: no write to the store each round
        with self.db.transaction(lock=LEASE_LOCK):
            held = self.rows.lease(self.owner, now, self.lease_s)
        self._held_until = now + self.lease_s if held else 0.0
        return held

    def _post(self, hook: Hook, body: dict[str, object]) -> str:
        """'' when the endpoint took it (any 2xx), else why not, in one line."""
        headers = {"Content-Type": "application/fhir+json"}
        for h in hook.headers:
            name, _, value = h.partition(":")
            headers[name.strip()] = value.strip()
        try:
            answer = self.client.post(hook.endpoint, content=orjson.dumps(body), headers=headers)
        except httpx.HTTPError as exc:
            return bsnlib.redact(f"{exc.__class__.__name__}: {str(exc)[:120] or 'no answer'}")
        return "" if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"

    def _handshake(self, hook: Hook) -> int:
        why = self._post(hook, notification(hook, "handshake", base=self.base))
        if why:
            self._failed(hook, "handshake", why)
            return 0
        with self.db.transaction(lock=self.audit.LOCK):
            if self.rows.set_state(hook.id, status="active", reason="", attempts=0, next_try=0.0, expect="requested"):
                self.audit.append_in_tx([self._record(hook, "webhook.handshake", "success",
                                                      f"endpoint {self._host(hook)} answered: active")])
        return 1

    def _deliver(self, hook: Hook) -> int:
        done = 0
        for row in self.rows.events(hook.id, hook.delivered + 1, limit=BURST):
            ev = Event.of(row)
            now = self.rows.get(hook.id)
            current = Hook.of(now) if now else None
            if current is None or current.status != "active" or not self._hold():
                break  # ended or restarted by its owner meanwhile, or the lease went to another dispatcher
            why = self._post(current, notification(current, "event-notification", [ev], base=self.base))
            if why:
                self._failed(current, f"event {ev.number}", why)
                break
            with self.db.transaction(lock=self.audit.LOCK):
                self.rows.delivered_upto(hook.id, ev.number)
                self.audit.append_in_tx([self._record(hook, "webhook.delivered", "success",
                                                      f"event {ev.number} {ev.event_type} {ev.focus}")])
            done += 1
        return done

    def _failed(self, hook: Hook, what: str, why: str) -> None:
        """One more failed call: wait the next delay, or, after the last, go to ``error``: never a silent stop."""
        attempts = hook.attempts + 1
        if attempts > len(self.delays):
            status, next_try = "error", 0.0
            reason = f"{what}: no success after {attempts} attempts, last: {why}"
            action, outcome = "webhook.error", "failure"
        else:
            status, next_try = hook.status, self.clock() + self.delays[attempts - 1]
            reason = f"{what}: attempt {attempts} failed ({why}), next in {self.delays[attempts - 1]:g} s"
            action, outcome = "webhook.retry", "failure"
        with self.db.transaction(lock=self.audit.LOCK):
            if self.rows.set_state(hook.id, status=status, reason=reason, attempts=attempts, next_try=next_try,
                                   expect=hook.status):
                self.audit.append_in_tx([self._record(hook, action, outcome, reason)])
        (log.warning if status == "error" else log.info)("webhook %s: %s", hook.id, reason)

    @staticmethod
    def _host(hook: Hook) -> str:
        return urlsplit(hook.endpoint).netloc

    def _record(self, hook: Hook, action: str, outcome: str, reason: str) -> AuditRecord:
        return AuditRecord(action=action, actor=HUB_ACTOR, recipient=hook.party, outcome=outcome,
                           record_type="Subscription", record_id=hook.id, reason=reason)

    # ----- running ------------------------------------------------------------------
    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Rounds until ``stop`` is set; a store or network error is logged and the round tried again."""
        while not stop.is_set():
            try:
                busy = self.tick()
            except Exception:  # the loop must outlive any one failure: a stopped dispatcher loses nothing but time
                log.exception("webhook dispatcher round failed; trying again")
                busy = 0
            if not busy:
                stop.wait(interval)

    def close(self) -> None:
        self.client.close()
        try:
            with self.db.transaction(lock=LEASE_LOCK):
                self.rows.release(self.owner)
            self._held_until = 0.0
        except HubError:  # the store is away: the lease runs out by itself
            log.warning("webhook dispatcher could not hand back its lease; it expires in %g s", self.lease_s)


class DispatcherThread:
    """A dispatcher on a store connection and a thread of its own (``Database`` is one thread's)."""

    def __init__(self, url: str, key: bytes, **options: object) -> None:
        self.url = url
        self.key = key
        self.options = options
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)

    def _run(self) -> None:
        db = Database(self.url)
        try:
            dispatcher = Dispatcher(db, AuditLog(db, self.key, source="webhooks"), **self.options)  # type: ignore[arg-type]
            try:
                dispatcher.run(self.stop)
            finally:
                dispatcher.close()
        finally:
            db.close()

    def start(self) -> DispatcherThread:
        self.thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
