"""The commit protocol under SIGKILL at each step, injected deterministically into a real worker process.

Steps of one batch: the database commit (audit records, outbox entries), the ack,
the relay's publish with pipelined confirms, the sent mark. A kill
- after the commit and the ack, before publishing: the restarted worker's relay publishes the unsent
  entries, and each recipient gets each exactly once;
- after the sent mark: nothing is published again: exactly once;
- half-way through publishing, or after the broker confirmed it all but before the sent mark: the hub
  cannot know what landed, so the relay publishes every unsent entry again: nothing is lost, and
  exactly the deliveries that had landed arrive twice (same message id, same stream sequence number);
- half-way through publishing, and again half-way through publishing again after the restart: the same,
  at most twice more.
The audit log holds every message once in every case.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _crash_worker() -> None:
    """The subprocess: a normal worker whose first non-empty commit dies at ZORGHUB_TEST_CRASH_AT."""
    import threading

    from hub.ops.runner import run_worker
    from hub.settings import Settings

    where = os.environ["ZORGHUB_TEST_CRASH_AT"]

    def kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def setup(app: Any, worker: Any) -> None:
        publish = worker.transport.publish_pipelined
        held: list[bool] = []

        def crashing(outgoing: list[Any], on_settled: Any) -> None:
            if not outgoing:
                publish(outgoing, on_settled)
            elif where == "before-publish":
                kill()
            elif where == "mid-publish":  # the first half reaches the broker, confirmed; the rest never
                publish(outgoing[:len(outgoing) // 2], lambda ok: kill())
            elif where == "after-publish":  # all confirmed, the sent mark never written
                publish(outgoing, lambda ok: kill())
            elif not held:  # after-mark: the first publish is confirmed and marked sent, then the kill

                def marked(ok: bool) -> None:
                    on_settled(ok)
                    worker.relay.flush()
                    kill()

                held.append(True)
                publish(outgoing, marked)
            # else: a later batch, committed while the first one's confirms were on their way, is not published
            # before the kill comes (as if the kill came first): the restart publishes it, once

        worker.transport.publish_pipelined = crashing

    run_worker(Settings.load(), stop=threading.Event(), setup=setup)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _crash_worker()
    sys.exit(0)


from hub.app import HubApp  # noqa: E402
from hub.settings import Settings  # noqa: E402
from tests.hubproc import drain_queue, env_for, origin_id, start_worker, stop  # noqa: E402
from tests.test_crash_order import indicatie, prepare, publish, unsent_origins  # noqa: E402


def broker_depth(settings: Settings, queue: str) -> int:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()

pytestmark = pytest.mark.rabbitmq
RECIPIENTS = ("zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak")


def crash_at(settings: Settings, where: str) -> None:
    """Run a worker that dies at ``where`` in its first commit with output; wait for the kill."""
    env = {**env_for(settings), "ZORGHUB_TEST_CRASH_AT": where, "PYTHONPATH": str(ROOT)}
    crashing = subprocess.Popen([sys.executable, __file__], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    assert crashing.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.parametrize("kills", [["before-publish"], ["mid-publish"], ["after-publish"], ["after-mark"],
                                   ["mid-publish", "mid-publish"]], ids="+".join)
def test_a_kill_at_each_step_loses_nothing(amqp_settings: Settings, kills: list[str]) -> None:
    settings = amqp_settings.replace(shards=1, batch_size=50, prefetch=100)
    prepare(settings)
    messages = [(str(uuid.uuid4()), f"client-{i % 7}", indicatie(i)) for i in range(120)]
    publish(settings.broker_url, messages, "indicatiebesluit")
    for where in kills:
        crash_at(settings, where)
    app = HubApp.build(settings)
    try:
        committed = int(app.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'received'")[0][0])
        entries = int(app.db.execute("SELECT COUNT(*) FROM outbox")[0][0])
        sent = int(app.db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 1")[0][0])
        unconfirmed = unsent_origins(app.db)
    finally:
        app.close()
    # the kill came after the database commit of a batch, whose size is the broker's timing (a batch is
    # cut when the socket has nothing more): every message committed has its four outbox entries ...
    assert committed > 0 and entries == 4 * committed
    if kills[-1] == "after-mark":  # ... and after the sent mark of the first batch's entries, all four each
        assert 0 < sent <= entries and sent % 4 == 0
    else:  # ... or before any sent mark
        assert sent == 0
    if kills == ["mid-publish"]:  # some deliveries had landed when the worker died, and not all
        inbox = sum(broker_depth(settings, f"zorghub.inbox.{p}") for p in RECIPIENTS)
        assert 0 < inbox < 4 * committed
    worker = start_worker(settings)
    try:
        counts = {}
        for party in RECIPIENTS:
            counter: Counter[str] = Counter()
            drain_queue(settings.broker_url, f"zorghub.inbox.{party}", len(messages), 60,
                        lambda props, body, c=counter: c.update([origin_id(props)]))
            counts[party] = counter
    finally:
        stop(worker)
    ids = {m[0] for m in messages}
    in_flight = kills[-1] in ("mid-publish", "after-publish")  # output sent, not known to be confirmed
    for party, counter in counts.items():
        assert set(counter) == ids, f"{party}: {len(ids - set(counter))} missing"  # nothing lost, ever
        twice = {k for k, v in counter.items() if v > 1}
        if not in_flight:  # the kill came where the hub knows what went out: exactly once
            assert not twice, f"{party}: {len(twice)} twice"
        else:  # only what was in flight comes again, once more per kill at most
            assert twice and twice <= unconfirmed, f"{party}: {len(twice - unconfirmed)} twice outside the batch"
            assert max(counter.values()) <= 1 + len(kills)
    app = HubApp.build(settings)
    try:
        received = Counter(r[0] for r in app.db.execute("SELECT message_id FROM audit WHERE action = 'received'"))
        assert set(received) == ids and max(received.values()) == 1
        assert int(app.db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 0")[0][0]) == 0
        assert app.audit.verify().ok
    finally:
        app.close()

