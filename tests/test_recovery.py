"""Recovery without a person: the store's and the broker's connections cut under load, nothing lost.

Real faults on the real services: ``pg_terminate_backend`` on the hub's own PostgreSQL backends
(found by their application_name), the hub's AMQP connections closed through the management API,
and a store connection closed under a running worker.
"""

from __future__ import annotations

import collections
import logging
import re
import signal
import threading
import uuid
from typing import Any

import psycopg
import pytest

from hub.app import HubApp
from hub.ops.runner import run_worker
from hub.pipeline.hooks import OnMessage
from hub.pipeline.worker import Worker
from hub.settings import Settings
from tests.conftest import MGMT_URL, PG_URL
from tests.hubproc import Serve, close_amqp_connections, wait_for
from tests.test_crash_order import prepare, publish, received_count
from tests.test_serve import collect, echo_messages

pytestmark = pytest.mark.slow


def hub_backends(worker_pids: set[int]) -> list[int]:
    """The PostgreSQL backends of these worker processes, by the application_name each worker sets."""
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT pid, application_name FROM pg_stat_activity "
                             "WHERE application_name LIKE 'zorghub-worker-%'").fetchall()
    named = ((int(pid), re.search(r" pid (\d+)$", str(name))) for pid, name in rows)
    return [pid for pid, match in named if match and int(match.group(1)) in worker_pids]


def terminate_hub_backends(worker_pids: set[int]) -> int:
    backends = hub_backends(worker_pids)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        done = admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                             (backends,)).fetchall()
    return sum(1 for (ok,) in done if ok)


def report(name: str, ids: set[str], counter: collections.Counter[str]) -> tuple[set[str], dict[str, int]]:
    lost = ids - set(counter)
    dupes = {k: v for k, v in counter.items() if v > 1}
    print(f"{name}: {len(ids)} sent, {len(counter)} distinct delivered, lost {len(lost)}, "
          f"duplicates {len(dupes)} ({sum(dupes.values()) - len(dupes)} extra copies)")
    for message_id, copies in sorted(dupes.items()):
        print(f"  duplicate {message_id} x{copies}")
    return lost, dupes


def test_postgres_and_broker_connections_cut_under_load_lose_nothing(amqp_settings: Settings, pg_url: str,
                                                                      rabbitmq_vhost: str) -> None:
    settings = amqp_settings.replace(store_url=pg_url)
    prepare(settings)
    messages = echo_messages(3000)
    ids = {m[0] for m in messages}
    publisher = threading.Thread(target=publish, args=(settings.broker_url, messages, "echo"))
    hub = Serve(settings, workers=2)
    try:
        workers = hub.wait_for_workers(2)
        pids = set(workers.values())
        assert wait_for(lambda: len(hub_backends(pids)) >= 2, 60), "the workers' backends are not named"
        publisher.start()
        progress = [0]

        def after(more: int) -> None:
            """Wait until the hub has done ``more`` messages past the last fault: it recovered by itself."""
            target = progress[0] + more
            assert wait_for(lambda: received_count(settings) >= target, 180), \
                f"stuck at {received_count(settings)} (wanted {target}):\n{hub.log()[-4000:]}"
            progress[0] = received_count(settings)

        after(300)
        assert terminate_hub_backends(pids) >= 2
        after(500)
        publisher.join()  # the publisher's own connection is on the vhost too: cut only the hub's
        closed = close_amqp_connections(MGMT_URL, rabbitmq_vhost, at_least=2)
        assert closed >= 2, f"{closed} hub connection(s) listed:\n{hub.log()[-4000:]}"
        after(500)
        assert terminate_hub_backends(pids) >= 2
        counter = collect(settings, 3000)
        log = hub.log()
        assert hub.workers() == workers, "a worker was restarted: the faults should not need one"
        hub.proc.send_signal(signal.SIGTERM)
        assert hub.proc.wait(timeout=15) == 0
    finally:
        hub.close()
    lost, dupes = report("pg_terminate_backend x2 + AMQP connections closed x1", ids, counter)
    assert not lost, f"{len(lost)} messages lost"
    assert set(counter) <= ids  # every duplicate carries the original message id
    assert log.count("the store connection was lost") >= 2
    assert "the store is back" in log or "reopening the store" in log
    with HubApp.build(settings) as app:
        received = collections.Counter(
            r[0] for r in app.db.execute("SELECT message_id FROM audit WHERE action = 'received'"))
        assert set(received) == ids and max(received.values()) == 1  # each processed once, however often sent
        assert app.audit.verify().ok


def test_a_store_connection_closed_under_a_running_worker_is_reopened(
        amqp_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """The same on the configured store (SQLite, or PostgreSQL with ZORGHUB_TEST_STORE=postgres)."""
    settings = amqp_settings
    prepare(settings)
    messages = echo_messages(1500, tag=f"{uuid.uuid4().hex[:6]}-")
    stop = threading.Event()
    closed_at: list[int] = []
    connections: list[Any] = []
    delivered = [0]

    def setup(app: HubApp, worker: Worker) -> None:
        def cut(kind: str, _env: Any, _extra: Any) -> None:
            if kind != "delivered":
                return
            delivered[0] += 1
            if delivered[0] in (300, 900):  # twice, from inside the worker: its next batch finds it gone
                connections.append(app.db._conn)
                app.db._conn.close()
                closed_at.append(delivered[0])

        worker.observers.append(OnMessage(cut))

    caplog.set_level(logging.INFO, logger="zorghub.runner")
    thread = threading.Thread(target=run_worker, args=(settings, 0, 1, stop), kwargs={"setup": setup},
                              daemon=True)
    thread.start()
    try:
        publish(settings.broker_url, messages, "echo")
        counter = collect(settings, len(messages), timeout=180)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    lost, _dupes = report("store connection closed x2", {m[0] for m in messages}, counter)
    assert closed_at == [300, 900]
    assert not lost, f"{len(lost)} messages lost"
    lines = [r.getMessage() for r in caplog.records if "the store connection was lost" in r.getMessage()]
    assert len(lines) == 2, lines
    assert sum("the store is back" in r.getMessage() for r in caplog.records) == 2
