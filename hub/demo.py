"""``zorghub demo``: the walk-throughs every installed flow declares (``Flow.demos``), seed by seed.

The same script runs on the embedded default (one process, kombu memory://,
SQLite) and on RabbitMQ, where every party connects with its own credentials
and the hub runs as a worker beside them (``hub.testing.TestHub``).

Every run starts from a fresh state, so the demo can run any number of times in a row
(``demo_state``): by default each run gets a home of its own under ``.zorghub/``; a home or store
the user named is used only when it is empty, or emptied first with ``--reset``. On RabbitMQ the
queues the demo uses are purged before it starts, so nothing from an earlier run is processed again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.errors import ConfigError
from hub.settings import Settings
from hub.store import private
from hub.testing import GEELHOED, Printer, TestHub, describe, vhost_of, with_credentials

# the harness's and the URL helpers' former names, for code written against them
DemoContext = TestHub
_vhost = vhost_of
_with_credentials = with_credentials

__all__ = ["GEELHOED", "DemoContext", "TestHub", "demo_state", "describe", "load_demos", "run_demo",
           "run_demo_command"]

#: where the runs live when the user named no home or store: one folder per run
DEMO_ROOT = Path(Settings.home)
#: the hub's files in a home (the key is kept by a reset: a fresh store takes the key it finds)
_SQLITE_FILES = ("hub.sqlite3", "hub.sqlite3-wal", "hub.sqlite3-shm", "hub.sqlite3-journal")


def load_demos() -> dict[int, Callable[[TestHub], bool]]:
    """Every installed flow's walk-throughs by seed number."""
    from hub.plugins.registry import demos, load_flows

    return demos(load_flows())


def run_demo(settings: Settings, seeds: list[int], out: Printer = print,
             demos: Mapping[int, Callable[[TestHub], bool]] | None = None) -> int:
    hub = TestHub(settings, out)
    try:
        ok = True
        demos = load_demos() if demos is None else demos
        for n in seeds:
            demo = demos.get(n)
            if demo is None:
                out(f"Seed {n:03d}: not available in this build")
                ok = False
                continue
            ok = demo(hub) and ok
            out("")
        result = hub.app.audit.verify()
        out(f"Audit chain: {result.checked} records verified "
            f"({'intact' if result.ok else 'BROKEN: ' + result.problem}).")
        return 0 if ok and result.ok else 1
    finally:
        hub.close()


@dataclass(frozen=True)
class DemoState:
    """Where one demo run keeps its state, and how to look at it afterwards."""

    settings: Settings
    where: str

    @property
    def verify_hint(self) -> str:
        prefix = f"ZORGHUB_HOME={self.settings.home} "
        if self.settings.store_url:
            prefix += f"ZORGHUB_STORE_URL={_redact(self.settings.store_url)} "
        return f"`{prefix}zorghub audit verify` checks it"


def demo_state(settings: Settings, *, reset: bool = False, environ: Mapping[str, str] | None = None,
               now: datetime | None = None) -> DemoState:
    """The fresh state for one run: a new home under ``.zorghub/``, or the named one if it is empty.

    A home or store the user named (``ZORGHUB_HOME``, ``--store``, ``ZORGHUB_STORE_URL``, the config
    file) is never silently reused: a named home an earlier run filled gets a fresh home per run inside
    it; a named store with data in it is refused, unless ``reset`` empties it (``reset`` empties a
    named home too).
    """
    env = os.environ if environ is None else environ
    named = (bool(settings.store_url) or settings.home != Settings.home or "ZORGHUB_HOME" in env
             or "ZORGHUB_STORE_URL" in env)
    if not named:
        home = _fresh_home(DEMO_ROOT, now)
        return DemoState(settings.replace(home=str(home)), f"{home} (a home of its own)")
    if not _store_has_data(settings):
        return DemoState(settings, _describe_store(settings))
    if not settings.store_url and not reset:
        # a named home that an earlier run filled: this run gets a fresh home of its own inside it
        home = _fresh_home(settings.home_path, now)
        return DemoState(settings.replace(home=str(home)), f"{home} (a home of its own inside {settings.home})")
    if not reset:
        raise ConfigError(f"the demo wants a fresh state, but {_describe_store(settings)} already holds a store: "
                          "name an empty one, leave --store unset for a new home per run, or add --reset to empty it")
    _reset(settings)
    return DemoState(settings, f"{_describe_store(settings)} (emptied by --reset)")


def _fresh_home(root: Path, now: datetime | None) -> Path:
    """A new, private ``demo-<time>`` folder under ``root``: one per run, two runs in a second included."""
    private.make_private_dir(root)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    home = root / f"demo-{stamp}"
    n = 1
    while home.exists():
        n += 1
        home = root / f"demo-{stamp}-{n}"
    private.make_private_dir(home)
    return home


def run_demo_command(settings: Settings, seeds: list[int], *, reset: bool = False, out: Printer = print,
                     demos: Mapping[int, Callable[[TestHub], bool]] | None = None) -> int:
    """``zorghub demo``: the walk-throughs in a fresh state, saying where that state is."""
    state = demo_state(settings, reset=reset)
    out(f"State of this run: {state.where}.")
    out("")
    from hub.transports import is_embedded

    if not is_embedded(state.settings.broker_url):
        _purge_broker(state.settings)
    rc = run_demo(state.settings, seeds, out, demos)
    out(f"State of this run: {state.where}; {state.verify_hint}.")
    return rc


def _describe_store(settings: Settings) -> str:
    if settings.store_url:
        return f"the store {_redact(settings.store_url)}"
    return f"the home {settings.home}"


def _redact(url: str) -> str:
    from hub.store.db import redact_url

    return redact_url(url)


def _store_has_data(settings: Settings) -> bool:
    from hub.store.db import Database
    from hub.store.errors import StoreMissing

    if not settings.store_url:
        sqlite = settings.home_path / "hub.sqlite3"
        if not sqlite.exists():
            return False
    try:
        Database.open_existing(settings.effective_store_url).close()
    except StoreMissing:
        return False
    return True


def _reset(settings: Settings) -> None:
    """Empty the named store: its SQLite files, or every table in its PostgreSQL schema."""
    if not settings.store_url:
        for name in _SQLITE_FILES:
            (settings.home_path / name).unlink(missing_ok=True)
        return
    from hub.store import migrations
    from hub.store.db import Database

    db = Database.open_existing(settings.effective_store_url)
    try:
        migrations.drop_all(db)
    finally:
        db.close()


def _purge_broker(settings: Settings) -> None:
    """Empty the queues an earlier run may have left messages in: the shards, retries and dead letters."""
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.transports import open_transport

    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    parties = PartyRegistry.load(settings.parties_path)
    transport = open_transport(settings.broker_url)
    try:
        transport.declare(topology, parties)  # so that every queue exists; declaring again changes nothing
        queues = [*topology.shard_queues(), *(topology.retry_queue(d) for d in settings.retry_delays_ms),
                  topology.dlq, *(topology.inbox(p.name) for p in parties)]
        for queue in queues:
            transport.purge(queue)
    finally:
        transport.close()
