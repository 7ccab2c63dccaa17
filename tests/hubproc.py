"""Run hub workers as real OS processes, so tests can SIGKILL them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pika

from hub.settings import Settings


def env_for(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ZORGHUB_HOME": settings.home, "ZORGHUB_BROKER_URL": settings.broker_url,
        "ZORGHUB_STORE_URL": settings.store_url, "ZORGHUB_SHARDS": str(settings.shards),
        "ZORGHUB_BATCH_SIZE": str(settings.batch_size), "ZORGHUB_PREFETCH": str(settings.prefetch),
        "ZORGHUB_SCHEMA_DIR": settings.schema_dir,
    })
    return env


def start_worker(settings: Settings, index: int = 0, of: int = 1) -> subprocess.Popen[bytes]:
    log = open(os.path.join(settings.home, f"worker-{index}.log"), "ab")  # noqa: SIM115  (kept for the child)
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "-v", "worker", "--index", str(index), "--of", str(of)],
                            env=env_for(settings), stdout=subprocess.DEVNULL, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drain_queue(url: str, queue: str, expect: int, timeout: float,
                on_message: Callable[[pika.BasicProperties, bytes], None]) -> int:
    """Consume until ``expect`` distinct message ids arrived (then one idle second for stragglers) or time is up."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    got = 0
    ids: set[str] = set()
    last = acked = 0
    deadline = time.monotonic() + timeout
    for method, props, body in ch.consume(queue, inactivity_timeout=1.0):
        if method is None:
            if len(ids) >= expect:
                break  # complete, and a quiet second: no duplicate is still on its way
        else:
            on_message(props, body)
            got += 1
            ids.add(str(props.message_id))
            last = method.delivery_tag
            if got % 500 == 0:
                ch.basic_ack(last, multiple=True)
                acked = last
        if time.monotonic() > deadline:
            break
    if last > acked:
        ch.basic_ack(last, multiple=True)
    ch.cancel()
    conn.close()
    return got
