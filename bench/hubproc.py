"""Hub workers in their own processes (spawn), as ``zorghub serve`` runs them."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from bench.broker import proc_status_kb
from hub.catalogue.parties import PartyRegistry
from hub.catalogue.topology import Topology
from hub.ops.runner import run_worker
from hub.settings import Settings
from hub.store.db import Database
from hub.transports.amqp import AmqpTransport


def declare(settings: Settings) -> Topology:
    """The hub's real topology, declared before any load arrives."""
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    transport = AmqpTransport(settings.broker_url)
    try:
        transport.declare(topology, PartyRegistry.load(settings.parties_path))
    finally:
        transport.close()
    return topology


def _no_sealer(db: Database, kek_source: str, *, create: bool = False) -> None:
    """The store as it was before payloads were sealed: no key-encryption key attached, bodies as they are."""


def _worker_main(settings: Settings, index: int, count: int, clear_payloads: bool = False) -> None:
    if clear_payloads:  # the baseline of a paired measurement, never a way to run the hub
        from hub.store import payloads

        payloads.attach = _no_sealer  # type: ignore[assignment]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    run_worker(settings, index, count, stop)


class HubWorkers:
    """``count`` worker processes on disjoint shards; peak RSS read from /proc before they exit."""

    def __init__(self, settings: Settings, count: int = 1, *, clear_payloads: bool = False) -> None:
        self.settings = settings
        ctx = multiprocessing.get_context("spawn")
        self.procs: list[Any] = [ctx.Process(target=_worker_main, args=(settings, i, count, clear_payloads),
                                             name=f"bench-hub-worker-{i}", daemon=True) for i in range(count)]

    def start(self) -> HubWorkers:
        # open the store once first: workers opening a fresh SQLite file together can fail switching it to WAL
        Database(self.settings.effective_store_url).close()
        self.settings.key_bytes()  # likewise the key file: two workers must not each write a key of their own
        for p in self.procs:
            p.start()
        return self

    def alive(self) -> bool:
        return all(p.is_alive() for p in self.procs)

    def peak_rss_mb(self) -> float | None:
        """The largest peak resident set (VmHWM) among the workers, in MB."""
        values = [proc_status_kb(p.pid) for p in self.procs if p.pid]
        known = [v for v in values if v is not None]
        return round(max(known) / 1024.0, 1) if known else None

    def total_rss_mb(self) -> float | None:
        """The workers' peak resident sets (VmHWM) added up, in MB: the hub's footprint on the machine."""
        values = [proc_status_kb(p.pid) for p in self.procs if p.pid]
        known = [v for v in values if v is not None]
        return round(sum(known) / 1024.0, 1) if known else None

    def cpu_seconds(self) -> float | None:
        """The workers' CPU time so far (user and system, from /proc), added up."""
        total = 0.0
        for p in self.procs:
            try:
                with open(f"/proc/{p.pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                return None
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def written_bytes(self) -> int | None:
        """The bytes the workers have handed to write(2) so far (``wchar`` in /proc), added up: the store's log,
        its checkpoint copies and any other file; socket sends do not count."""
        total = 0
        for p in self.procs:
            try:
                with open(f"/proc/{p.pid}/io") as fh:
                    total += next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))
            except (OSError, StopIteration, ValueError):
                return None
        return total

    def stop(self, timeout: float = 20.0) -> float | None:
        rss = self.peak_rss_mb()
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(5)
        return rss

    def __enter__(self) -> HubWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
