"""`zorghub serve` as systemd or Docker runs it: real processes, real RabbitMQ, real signals."""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
import uuid

import pytest

from hub.app import HubApp
from hub.settings import Settings
from tests.hubproc import Serve, drain_queue, origin_id, running, wait_for
from tests.test_crash_order import prepare, publish, received_count, unconfirmed

pytestmark = pytest.mark.slow


def echo_messages(n: int, tag: str = "") -> list[tuple[str, str, bytes]]:
    return [(f"{tag}{uuid.uuid4()}", f"client-{i % 97}", json.dumps({"to": "nza", "seq": i}).encode())
            for i in range(n)]


def collect(settings: Settings, expect: int, timeout: float = 240) -> collections.Counter[str]:
    counter: collections.Counter[str] = collections.Counter()
    drain_queue(settings.broker_url, "zorghub.inbox.nza", expect, timeout,
                lambda props, body: counter.update([origin_id(props)]))
    return counter


def test_sigterm_stops_every_worker_in_time_and_a_restart_loses_nothing(amqp_settings: Settings) -> None:
    settings = amqp_settings
    prepare(settings)
    messages = echo_messages(5000)
    publisher = threading.Thread(target=publish, args=(settings.broker_url, messages, "echo"))
    hub = Serve(settings, workers=2)
    try:
        workers = hub.wait_for_workers(2)
        publisher.start()
        # stop it under load: some messages done, most not
        assert wait_for(lambda: received_count(settings) > 300, 120), hub.log()[-3000:]
        tree = set(hub.group()) | set(workers.values())
        assert set(workers.values()) <= tree and len(tree) >= 3
        hub.proc.send_signal(signal.SIGTERM)  # to the supervisor only, as `docker stop` does to PID 1
        sent = time.monotonic()
        code = hub.proc.wait(timeout=10)
        left = wait_for(lambda: not any(running(p) for p in tree) and not hub.group(),
                        max(0.0, 10 - (time.monotonic() - sent)), every=0.05)
        took = time.monotonic() - sent
        assert left, f"still running {took:.1f} s after SIGTERM: {[p for p in tree if running(p)]}"
        assert code == 0, hub.log()[-3000:]
        log = hub.log()
        assert "SIGTERM: stopping 2 worker(s)" in log and "all workers stopped" in log
        done_at_stop = received_count(settings)
        assert 0 < done_at_stop < 5000, done_at_stop
        # graceful: every batch in hand was finished, its output confirmed and marked, before exit
        assert unconfirmed(settings) == set()
    finally:
        hub.close()
    publisher.join()

    again = Serve(settings, workers=2)
    try:
        again.wait_for_workers(2)
        counter = collect(settings, 5000)
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(timeout=10) == 0
    finally:
        again.close()
    ids = {m[0] for m in messages}
    lost = ids - set(counter)
    dupes = {k: v for k, v in counter.items() if v > 1}
    print(f"SIGTERM at {done_at_stop} of 5000 after {took:.1f} s; restart delivered {len(counter)} distinct, "
          f"lost {len(lost)}, duplicates {len(dupes)}")
    assert not lost, f"{len(lost)} messages lost"
    assert not dupes, f"a graceful stop sent {len(dupes)} messages twice"
    with HubApp.build(settings) as app:
        assert app.audit.verify().ok


def test_a_killed_worker_is_restarted_and_a_stuck_one_is_killed_after_the_grace(amqp_settings: Settings) -> None:
    settings = amqp_settings
    prepare(settings)
    hub = Serve(settings, workers=2, env={"ZORGHUB_SHUTDOWN_GRACE_SECONDS": "3"})
    try:
        first = hub.wait_for_workers(2)
        os.kill(first[1], signal.SIGKILL)
        after = hub.wait_for_workers(2, other_than={1: first[1]})
        assert after[1] != first[1] and after[2] == first[2]
        assert f"worker 1/2 (pid {first[1]}) died: signal SIGKILL; restarting it in" in hub.log()
        # messages still flow, through both workers' shards
        messages = echo_messages(400, tag="after-kill-")
        publish(settings.broker_url, messages, "echo")
        counter = collect(settings, 400, timeout=120)
        assert set(counter) == {m[0] for m in messages}

        # a worker that cannot stop (here: stopped by SIGSTOP) is killed once the grace is over
        os.kill(after[2], signal.SIGSTOP)
        hub.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = hub.proc.wait(timeout=10)
        took = time.monotonic() - sent
        assert code == 1
        assert 3 <= took < 8, took
        assert f"worker pid(s) {after[2]} did not stop within 3 s and were killed" in hub.log()
        assert wait_for(lambda: not any(running(p) for p in after.values()) and not hub.group(), 5)
    finally:
        hub.close()


def test_workers_die_with_a_killed_supervisor(amqp_settings: Settings) -> None:
    prepare(amqp_settings)
    hub = Serve(amqp_settings, workers=2)
    try:
        workers = hub.wait_for_workers(2)
        hub.proc.send_signal(signal.SIGKILL)  # no chance to stop anyone: the kernel tells the workers
        hub.proc.wait(timeout=10)
        gone = wait_for(lambda: not any(running(p) for p in workers.values()) and not hub.group(), 10)
        assert gone, f"orphans left: {[p for p in workers.values() if running(p)]}"
    finally:
        hub.close()
