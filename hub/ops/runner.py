"""Running workers: one process per worker, each on a disjoint set of shards.

A worker pre-imports and warms up what it handles before it takes messages,
so the first batch does not pay start-up costs.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable

from hub import logs
from hub.app import HubApp
from hub.catalogue.mappings import announce_new_defaults
from hub.errors import RetryLater
from hub.pipeline.worker import Worker
from hub.settings import Settings
from hub.store.db import Database
from hub.store.mapping_defaults import MappingDefaults
from hub.transports import open_transport

log = logging.getLogger("zorghub.runner")


def run_worker(settings: Settings, index: int = 0, count: int = 1, stop: threading.Event | None = None,
               setup: Callable[[HubApp, Worker], None] | None = None) -> None:
    """Consume this worker's shards until ``stop`` is set, reconnecting on broker faults."""
    stop = stop or threading.Event()
    app = _build_with_retry(settings, stop)
    if app is None:
        return
    backoff = 0.5
    try:
        announce_new_defaults(app.translator.registry, app.parties, MappingDefaults(app.db))
        while not stop.is_set():
            try:
                transport = open_transport(settings.broker_url, prefetch=settings.prefetch)
                try:
                    transport.declare(app.topology, app.parties)
                    worker = Worker(app, transport)
                    if setup:
                        setup(app, worker)
                    queues = transport.worker_queues(app.topology, index, count)
                    log.info("worker %d/%d consuming %s", index + 1, count, ", ".join(queues))
                    backoff = 0.5
                    transport.consume(queues, worker.handle_batch, batch_size=settings.batch_size, stop=stop)
                finally:
                    transport.close()
            except RetryLater as exc:
                log.warning("worker %d: %s; retrying in %.1fs", index, exc.reason, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as exc:  # broker connection lost: reconnect, the broker redelivers
                if stop.is_set():
                    break
                log.warning("worker %d: %s: %s; reconnecting in %.1fs", index, exc.__class__.__name__, exc,
                            backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
    finally:
        app.close()


def _build_with_retry(settings: Settings, stop: threading.Event) -> HubApp | None:
    """The store may be busy (another worker creating it) or down: wait for it rather than die."""
    backoff = 0.5
    while not stop.is_set():
        try:
            db = Database(settings.effective_store_url, background_checkpoint=True)
            try:
                return HubApp.build(settings, db=db)
            except BaseException:
                db.close()
                raise
        except RetryLater as exc:
            log.warning("store not ready: %s; retrying in %.1fs", exc.reason, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 10)
    return None


def _process_main(settings: Settings, index: int, count: int) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logs.setup(logging.INFO)
    run_worker(settings, index, count, stop)


def serve(settings: Settings, workers: int) -> int:
    """Start ``workers`` processes and wait; SIGTERM or Ctrl-C stops them all."""
    # create the store, its tables and the hub key once, before the workers race for them
    _build_with_retry(settings, threading.Event()).close()  # type: ignore[union-attr]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_main, args=(settings, i, workers), name=f"zorghub-worker-{i}")
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
    return max((p.exitcode or 0) for p in procs)
