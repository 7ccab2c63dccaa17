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
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "worker", "--index", str(index), "--of", str(of)],
                            env=env_for(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


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
    """Consume from ``queue`` until ``expect`` messages arrived or the time is up."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    got = 0
    last = acked = 0
    deadline = time.monotonic() + timeout
    for method, props, body in ch.consume(queue, inactivity_timeout=1.0):
        if method is not None:
            on_message(props, body)
            got += 1
            last = method.delivery_tag
            if got % 500 == 0:
                ch.basic_ack(last, multiple=True)
                acked = last
        if got >= expect or time.monotonic() > deadline:
            break
    if last > acked:
        ch.basic_ack(last, multiple=True)
    ch.cancel()
    conn.close()
    return got
