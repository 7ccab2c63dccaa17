"""Running workers: one process per worker, each on a disjoint set of shards, under a supervisor.

A worker pre-imports and warms up what it handles before it takes messages,
so the first batch does not pay start-up costs.

Faults a worker rides out on its own, without a restart:
- the broker connection drops: it reconnects; the broker redelivers what was not acked;
- the store connection drops: the Database is reopened in place and the batch in hand is run
  again. It was not acked, so running it again is what a redelivery would do (see the commit
  protocol in ``hub.pipeline.worker``); it is marked redelivered so that output committed but not
  yet confirmed is rebuilt from the message store rather than skipped.

``serve`` supervises the worker processes: SIGTERM or SIGINT stops them all gracefully
(each finishes and acks the batch in hand) within ``shutdown_grace_seconds``, a worker that
dies is restarted with capped exponential backoff, and a worker dies with its supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from hub import logs
from hub.app import HubApp
from hub.catalogue.mappings import announce_new_defaults
from hub.errors import RetryLater
from hub.pipeline.worker import Worker, release_heap, settle_heap
from hub.settings import Settings
from hub.store.db import Database, StoreUnavailable
from hub.store.mapping_defaults import MappingDefaults
from hub.transports import open_transport
from hub.transports.base import RawMessage, Transport
from hub.transports.streams import with_stream_inboxes

log = logging.getLogger("zorghub.runner")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RESTART_FIRST = 0.5  # seconds before the first restart of a worker that died
RESTART_CAP = 30.0  # the longest wait between restarts
STABLE_AFTER = 60.0  # a worker that ran this long starts its backoff afresh when it dies
_PR_SET_PDEATHSIG = 1


def application_name(index: int) -> str:
    """The name a worker's PostgreSQL connection shows in pg_stat_activity: which worker, which process."""
    return f"zorghub-worker-{index + 1} pid {os.getpid()}"


def run_worker(settings: Settings, index: int = 0, count: int = 1, stop: threading.Event | None = None,
               setup: Callable[[HubApp, Worker], None] | None = None) -> None:
    """Consume this worker's shards until ``stop`` is set, reconnecting on broker and store faults."""
    stop = stop or threading.Event()
    name = f"worker {index + 1}/{count}"
    app = _build_with_retry(settings, stop, application_name(index))
    if app is None:
        return
    backoff = _Backoff(0.5, 10)
    try:
        announce_new_defaults(app.translator.registry, app.parties, MappingDefaults(app.db))
        while not stop.is_set():
            try:
                transport = with_stream_inboxes(open_transport(settings.broker_url, prefetch=settings.prefetch),
                                                app.topology, app.parties, settings.broker_url, settings.stream_url)
                try:
                    transport.declare(app.topology, app.parties)
                    watched = _AckWatch(transport)
                    worker = Worker(app, cast(Transport, watched))
                    if setup:
                        setup(app, worker)
                    queues = transport.worker_queues(app.topology, index, count)
                    resumed = worker.resume(queues)  # what a crashed worker of these shards left unsent
                    if resumed:
                        log.info("%s published %d outbox entries left unsent", name, resumed)
                    settle_heap()
                    log.info("%s consuming %s", name, ", ".join(queues))
                    backoff.reset()
                    batches = _BatchRunner(worker, app.db, watched, stop, name)
                    transport.consume(queues, batches, batch_size=settings.batch_size, stop=stop,
                                      on_idle=worker.idle)
                    worker.relay.drain()  # stopping: the last batches' confirms, and their sent marks
                finally:
                    transport.close()
            except StoreUnavailable as exc:  # outside a batch, or given up on because we are stopping
                if stop.is_set():
                    break
                log.warning("%s: %s; reopening the store", name, exc.reason)
                if not _reopen(app.db, stop, stop.wait):
                    break
            except RetryLater as exc:
                log.warning("%s: %s; retrying in %.1fs", name, exc.reason, backoff.current)
                stop.wait(backoff.next())
            except Exception as exc:  # broker connection lost: reconnect, the broker redelivers
                if stop.is_set():
                    break
                log.warning("%s: %s: %s; reconnecting in %.1fs", name, exc.__class__.__name__, exc,
                            backoff.current)
                stop.wait(backoff.next())
    finally:
        release_heap()
        app.close()


class _AckWatch:
    """The worker's transport, noting whether the batch in hand was acked (its commit went through)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.acked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def ack(self, tags: list[Any]) -> None:
        self._transport.ack(tags)
        self.acked = True


class _BatchRunner:
    """The batch handler given to the transport: runs a batch, and runs it again after the store came back."""

    def __init__(self, worker: Worker, db: Database, transport: _AckWatch, stop: threading.Event,
                 name: str) -> None:
        self.worker = worker
        self.db = db
        self.transport = transport
        self.stop = stop
        self.name = name
        self._sleep: Callable[[float], Any] = getattr(transport, "sleep", time.sleep)

    def __call__(self, batch: list[RawMessage]) -> None:
        lost_at: float | None = None
        while True:
            self.transport.acked = False
            try:
                self.worker.handle_batch(batch)
            except StoreUnavailable as exc:
                if self.stop.is_set():
                    raise  # not acked: the broker hands the batch to whoever consumes next
                if self.transport.acked:  # lost after the ack (an after-batch hook): the batch is done
                    log.warning("%s: %s after the batch was acked; reopening it", self.name, exc.reason)
                    if not _reopen(self.db, self.stop, self._pause):
                        raise
                    return
                if lost_at is None:  # one line per incident, however many attempts it takes
                    lost_at = time.monotonic()
                    log.warning("%s: %s; reopening it and retrying the batch of %d message(s)", self.name,
                                exc.reason, len(batch))
                if not _reopen(self.db, self.stop, self._pause):
                    raise
                # maybe committed, not confirmed: what a redelivery is, so treat it as one
                batch = [dataclasses.replace(raw, redelivered=True) for raw in batch]
                continue
            if lost_at is not None:
                log.info("%s: the store is back after %.1fs; the batch went through", self.name,
                         time.monotonic() - lost_at)
            return

    def _pause(self, seconds: float) -> None:
        """Wait, keeping the broker connection alive (heartbeats), and wake up early on stop."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(left, 0.2))


def _reopen(db: Database, stop: threading.Event, pause: Callable[[float], Any]) -> bool:
    """Reopen the store's connection, backing off while it is out of reach; False if stopped first."""
    backoff = _Backoff(0.2, 5)
    while not stop.is_set():
        try:
            db.reopen()
            return True
        except RetryLater as exc:
            log.debug("store still unreachable: %s", exc.reason)
            pause(backoff.next())
    return False


def _build_with_retry(settings: Settings, stop: threading.Event,
                      app_name: str = "zorghub") -> HubApp | None:
    """The store may be busy (another worker creating it) or down: wait for it rather than die."""
    backoff = _Backoff(0.5, 10)
    while not stop.is_set():
        try:
            db = Database(settings.effective_store_url, background_checkpoint=True, application_name=app_name)
            try:
                return HubApp.build(settings, db=db)
            except BaseException:
                db.close()
                raise
        except RetryLater as exc:
            log.warning("store not ready: %s; retrying in %.1fs", exc.reason, backoff.current)
            stop.wait(backoff.next())
    return None


@dataclass
class _Backoff:
    first: float
    cap: float
    current: float = 0.0

    def __post_init__(self) -> None:
        self.current = self.first

    def next(self) -> float:
        """The wait to use now; the following one doubles, up to the cap."""
        wait = self.current
        self.current = min(self.current * 2, self.cap)
        return wait

    def reset(self) -> None:
        self.current = self.first


# ----- one process ------------------------------------------------------------------------------
def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the batch in hand is finished and acked, then the worker exits."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())


def worker_main(settings: Settings, index: int = 0, count: int = 1) -> int:
    """``zorghub worker``: one worker in the foreground, for a process supervisor (systemd, a container)."""
    stop = threading.Event()
    _stop_on_signals(stop)
    run_worker(settings, index, count, stop)
    return 0


def _die_with_parent(parent: int, stop: threading.Event) -> None:
    """A worker must not outlive its supervisor, even one killed with SIGKILL.

    On Linux the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG); everywhere a
    thread also watches the parent pid, which covers a parent gone before the prctl call.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                log.warning("the supervisor (pid %d) is gone: stopping", parent)
                stop.set()

    if os.getppid() != parent:
        stop.set()
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _process_main(settings: Settings, index: int, count: int, parent: int) -> None:
    """A supervised worker process. It starts with the stop signals blocked (see ``_Supervisor._start``)."""
    stop = threading.Event()
    _stop_on_signals(stop)
    _die_with_parent(parent, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a signal that came while starting lands now
    logs.setup(logging.INFO)
    logging.getLogger("pika").setLevel(logging.WARNING)  # its INFO is every channel opened and closed
    run_worker(settings, index, count, stop)


# ----- the supervisor ---------------------------------------------------------------------------
@dataclass
class _Slot:
    index: int
    proc: Any = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0


class _Supervisor:
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.count = workers
        self.ctx = multiprocessing.get_context("spawn")
        self.stop = threading.Event()
        self.slots = [_Slot(i) for i in range(workers)]
        self.stopped_by = ""

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopped_by = self.stopped_by or signal.Signals(signum).name
        self.stop.set()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            # create the store, its tables and the hub key once, before the workers race for them
            app = _build_with_retry(self.settings, self.stop)
            if app is None:
                return 0
            app.close()
            for slot in self.slots:
                self._start(slot)
            while not self.stop.is_set():
                self._watch()
            return self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, slot: _Slot) -> None:
        proc = self.ctx.Process(target=_process_main, args=(self.settings, slot.index, self.count, os.getpid()),
                                name=f"zorghub-worker-{slot.index + 1}")
        # the child inherits the blocked mask and unblocks once its own handlers are in place:
        # a SIGTERM arriving while it starts stops it gracefully instead of killing it
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        slot.proc, slot.started = proc, time.monotonic()
        log.info("worker %d/%d started (pid %d)", slot.index + 1, self.count, proc.pid)

    def _watch(self) -> None:
        """Wait for a worker to die or a restart to fall due (or a stop signal), and act on it."""
        now = time.monotonic()
        due = [s.restart_at - now for s in self.slots if s.proc is None]
        timeout = max(0.0, min([0.5, *due]))
        running = [s.proc.sentinel for s in self.slots if s.proc is not None]
        if running:
            multiprocessing.connection.wait(running, timeout)
        else:
            self.stop.wait(timeout)
        if self.stop.is_set():
            return
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is None:
                if now >= slot.restart_at:
                    self._start(slot)
            elif not slot.proc.is_alive():
                self._died(slot, now)

    def _died(self, slot: _Slot, now: float) -> None:
        slot.proc.join()
        if now - slot.started >= STABLE_AFTER:
            slot.failures = 0
        delay = min(RESTART_FIRST * 2 ** slot.failures, RESTART_CAP)
        slot.failures += 1
        log.error("worker %d/%d (pid %d) died: %s; restarting it in %.1fs (restart %d)", slot.index + 1, self.count,
                  slot.proc.pid, _how(slot.proc.exitcode), delay, slot.failures)
        slot.proc, slot.restart_at = None, now + delay

    def _shutdown(self) -> int:
        """Ask every worker to stop, wait up to the grace period, then kill what is left."""
        grace = self.settings.shutdown_grace_seconds
        procs = [s.proc for s in self.slots if s.proc is not None]
        log.info("%s: stopping %d worker(s), at most %d s", self.stopped_by or "stop", len(procs), grace)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            # short waits: an exit is also seen by polling, should a sentinel stay open for any reason
            multiprocessing.connection.wait([p.sentinel for p in procs if p.is_alive()],
                                            max(0.0, min(0.2, deadline - time.monotonic())))
        stuck = [p for p in procs if p.is_alive()]
        for proc in stuck:
            proc.kill()
        for proc in procs:
            proc.join()
        if stuck:
            log.error("zorghub serve: worker pid(s) %s did not stop within %d s and were killed",
                      ", ".join(str(p.pid) for p in stuck), grace)
            return 1
        failed = [p for p in procs if p.exitcode != 0]
        if failed:
            log.error("zorghub serve: worker pid(s) %s stopped with %s", ", ".join(str(p.pid) for p in failed),
                      ", ".join(_how(p.exitcode) for p in failed))
            return 1
        log.info("all workers stopped")
        return 0


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def serve(settings: Settings, workers: int) -> int:
    """Run ``workers`` supervised worker processes until SIGTERM or SIGINT; 0 when all stopped in time."""
    return _Supervisor(settings, workers).run()
