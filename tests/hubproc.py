"""Run hub workers as real OS processes, so tests can SIGKILL them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pika

from hub.settings import Settings

T = TypeVar("T")


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


def origin_id(props: pika.BasicProperties) -> str:
    """The sender's own message id of a delivery (delivery contract v2: ``x-origin-message-id``)."""
    return str((props.headers or {})["x-origin-message-id"])


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


# ----- `zorghub serve` as a real process tree ------------------------------------------------------
STARTED = re.compile(r"worker (\d+)/\d+ started \(pid (\d+)\)")


class Serve:
    """``zorghub serve`` in a session of its own, so the test can find every process it leaves behind."""

    def __init__(self, settings: Settings, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.log_path = os.path.join(settings.home, f"serve-{time.monotonic_ns()}.log")
        os.makedirs(settings.home, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (kept for the child)
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--workers", str(workers)],
                                     env={**env_for(settings), **(env or {})}, stdout=subprocess.DEVNULL,
                                     stderr=self._log, start_new_session=True)
        self.pid = self.proc.pid

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def workers(self) -> dict[int, int]:
        """Worker number -> pid of its latest start, from the supervisor's log."""
        return {int(n): int(pid) for n, pid in STARTED.findall(self.log())}

    def wait_for_workers(self, count: int, timeout: float = 60, other_than: dict[int, int] | None = None
                         ) -> dict[int, int]:
        def ready() -> dict[int, int] | None:
            found = self.workers()
            if len(found) < count or any(found.get(n) == pid for n, pid in (other_than or {}).items()):
                return None
            return found if all(running(pid) for pid in found.values()) else None

        found = wait_for(ready, timeout)
        assert found, f"serve did not start {count} worker(s) in {timeout} s:\n{self.log()[-3000:]}"
        return found

    def group(self) -> list[int]:
        """Every live process of the session: serve, its workers and anything they started."""
        return group_members(self.pid)

    def close(self) -> None:
        """Clean up after a failed test: nothing of the tree may outlive it."""
        for pid in [self.pid, *self.group()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._log.close()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait a while for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    return out


def wait_for(check: Callable[[], T | None], timeout: float, every: float = 0.1) -> T | None:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def close_amqp_connections(mgmt_url: str, vhost: str, user: str = "guest", password: str = "guest", *,
                           at_least: int = 0, named: str | None = None, timeout: float = 30.0) -> int:
    """Close every client connection on ``vhost`` through the management API, as an operator (or a failover) would.

    The management API lists a new connection only once its statistics arrived (seconds later): with
    ``at_least``, wait until that many are listed. ``named``: only the connections of that name (the hub
    names its own: ``zorghub http``, ``zorghub hub``).
    """
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(method: str, path: str) -> bytes:
        req = urllib.request.Request(f"{mgmt_url}/api/{path}", method=method,
                                     headers={"Authorization": f"Basic {token}", "X-Reason": "fault test"})
        with urllib.request.urlopen(req, timeout=15) as resp:
            return bytes(resp.read())

    deadline = time.monotonic() + timeout
    while True:
        listed = json.loads(call("GET", f"vhosts/{urllib.parse.quote(vhost, safe='')}/connections") or b"[]")
        names = [str(c["name"]) for c in listed
                 if named is None or (c.get("client_properties") or {}).get("connection_name") == named]
        if len(names) >= at_least or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for name in names:
        call("DELETE", f"connections/{urllib.parse.quote(name, safe='')}")
    return len(names)
