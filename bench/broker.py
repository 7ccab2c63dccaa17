"""The broker side of the benchmark: a running RabbitMQ, a fresh vhost, fast loading and counting."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pika
import pika.exceptions

from hub.catalogue.parties import PartyRegistry
from hub.transports.confirms import ConfirmWindow
from hub.transports.management import Management, party_password

HOST = "127.0.0.1"
PORT = 5672
MGMT_URL = "http://127.0.0.1:15672"
MGMT_PORT = 15672


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_rabbitmq(timeout: float = 90.0, log: Callable[[str], None] = print) -> None:
    """Start the local RabbitMQ (``rabbitmq-server -detached``) when nothing listens on 5672."""
    if port_open(PORT) and port_open(MGMT_PORT):
        return
    if not port_open(PORT):
        server = shutil.which("rabbitmq-server")
        if server is None:
            raise SystemExit("RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is not installed")
        log("starting RabbitMQ (rabbitmq-server -detached) ...")
        subprocess.run([server, "-detached"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(PORT) and port_open(MGMT_PORT):
            time.sleep(1.0)
            return
        time.sleep(0.5)
    raise SystemExit(f"RabbitMQ did not come up on ports {PORT} and {MGMT_PORT} within {timeout:.0f}s "
                     "(is the management plugin enabled?)")


def amqp_url(vhost: str, user: str = "guest", password: str = "guest") -> str:
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{HOST}:{PORT}/{quote(vhost, safe='')}"


def connect(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.heartbeat = 0
    params.blocked_connection_timeout = 300
    return pika.BlockingConnection(params)


@dataclass
class BenchVhost:
    """A vhost made for one run, with every party as a user allowed on the bench's prefixes."""

    name: str
    mgmt: Management

    @property
    def url(self) -> str:
        return amqp_url(self.name)

    def party_url(self, party: str, parties: PartyRegistry) -> str:
        return amqp_url(self.name, party, party_password(parties.get(party)))


@contextmanager
def fresh_vhost(parties: PartyRegistry, prefix_pattern: str = r"bench[a-z0-9]*") -> Iterator[BenchVhost]:
    mgmt = Management(MGMT_URL, "guest", "guest")
    name = f"zh-bench-{uuid.uuid4().hex[:8]}"
    mgmt.put_vhost(name)
    mgmt.put_permissions(name, "guest", ".*", ".*", ".*")
    for party in parties:
        mgmt.put_user(party.name, party_password(party))
        mgmt.put_permissions(name, party.name, configure="^$", write=rf"^{prefix_pattern}\.in$",
                             read=rf"^{prefix_pattern}\.inbox\.{party.name}$")
    try:
        yield BenchVhost(name, mgmt)
    finally:
        try:
            mgmt.delete_vhost(name)
        except Exception:  # best effort: never mask the run's own error
            pass


def rabbitmq_version() -> str:
    try:
        return str(Management(MGMT_URL, "guest", "guest").overview().get("rabbitmq_version", ""))
    except Exception:
        return ""


# ----- messages -------------------------------------------------------------------
def echo_body(seq: int, to: str, size: int = 1024) -> bytes:
    """An ``echo`` message of about ``size`` bytes."""
    head = orjson.dumps({"to": to, "seq": seq, "text": ""})
    pad = max(0, size - len(head))
    return orjson.dumps({"to": to, "seq": seq, "text": "x" * pad})


@dataclass(frozen=True)
class Message:
    body: bytes
    kind: str
    content_type: str


class _Confirms(ConfirmWindow):
    """The loader's confirms, and how many of them were refused (nacked)."""

    __slots__ = ("nacked",)

    def __init__(self) -> None:
        super().__init__()
        self.nacked = 0

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self.nacked += 1
        self.confirm(int(method.delivery_tag), bool(method.multiple))


def publish_many(url: str, exchange: str, messages: Callable[[int], Message], count: int, *, user_id: str,
                 routing_key: Callable[[int], str], ids: list[str] | None = None,
                 timeout: float = 300.0) -> float:
    """Publish ``count`` persistent messages as fast as the broker takes them, and wait until the broker has
    confirmed every one; returns seconds.

    Confirms are pipelined, not waited for one by one. Without them, a connection closed right after the
    last publish could lose what a busy broker had not yet handed to its quorum queues (seen after a long
    test run: 241 of 300 arrived).
    """
    conn = connect(url)
    ch = conn.channel()
    impl = ch._impl  # queue frames and flush every few hundred, not a socket write per message
    confirms = _Confirms()
    ready: list[bool] = []
    impl.confirm_delivery(ack_nack_callback=confirms.on_confirm, callback=lambda _frame: ready.append(True))
    began = time.perf_counter()
    try:
        while not ready:
            conn.process_data_events(time_limit=0.01)
        for n in range(count):
            m = messages(n)
            message_id = ids[n] if ids is not None else uuid.uuid4().hex
            impl.basic_publish(exchange, routing_key(n), m.body, pika.BasicProperties(
                delivery_mode=2, message_id=message_id, type=m.kind, content_type=m.content_type,
                user_id=user_id))
            if n % 500 == 499:
                ch.basic_qos(prefetch_count=0)  # a round trip: everything queued before it is written
        deadline = time.monotonic() + timeout
        while confirms.confirmed() < count and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.05)
        if confirms.confirmed() < count or confirms.nacked:
            raise RuntimeError(f"the broker confirmed {confirms.confirmed() - confirms.nacked} of {count} messages "
                               f"({confirms.nacked} refused) within {timeout:.0f}s")
    finally:
        conn.close()
    return time.perf_counter() - began


def queue_depths(url: str, queues: list[str]) -> dict[str, int]:
    conn = connect(url)
    try:
        ch = conn.channel()
        return {q: int(ch.queue_declare(q, passive=True).method.message_count) for q in queues}
    finally:
        conn.close()


class DepthWatcher:
    """Counts the messages in some queues by passive declares, cheaply, on one connection."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.queues = queues
        self._conn = connect(url)
        self._ch = self._conn.channel()

    def total(self) -> int:
        return sum(int(self._ch.queue_declare(q, passive=True).method.message_count) for q in self.queues)

    def consumers(self) -> int:
        return sum(int(self._ch.queue_declare(q, passive=True).method.consumer_count) for q in self.queues)

    def wait_total(self, target: int, timeout: float, *, at_least: bool = True, poll: float = 0.05,
                   on_poll: Callable[[float, int], None] | None = None) -> tuple[bool, int]:
        deadline = time.monotonic() + timeout
        n = self.total()
        while True:
            if on_poll:
                on_poll(time.perf_counter(), n)
            if (n >= target) if at_least else (n <= target):
                return True, n
            if time.monotonic() > deadline:
                return False, n
            time.sleep(poll)
            n = self.total()

    def close(self) -> None:
        try:
            self._conn.close()
        except pika.exceptions.AMQPError:
            pass


@dataclass
class Drain:
    """Throughput as the receiving queues saw it: first output to the last expected one."""

    expected: int
    reached: int
    seconds: float
    first_count: int

    @property
    def rate(self) -> float:
        done = self.reached - self.first_count
        return done / self.seconds if self.seconds > 0 and done > 0 else 0.0


def measure_drain(watcher: DepthWatcher, expected: int, timeout: float, poll: float = 0.05,
                  started: float | None = None, on_first: Callable[[int], None] | None = None) -> Drain:
    """Wait for ``expected`` messages in the watched queues, timing from the first one seen.

    When everything arrived before the second look (a tiny run), the time counts from ``started``
    (a ``perf_counter`` value), start-up included. ``on_first`` is called with the count when the first
    ones are seen (the caller reads the consumer's CPU time there, to leave its start-up out).
    """
    first: list[tuple[float, int]] = []
    last: list[tuple[float, int]] = []

    def on_poll(t: float, n: int) -> None:
        if n > 0 and not first:
            first.append((t, n))
            if on_first is not None:
                on_first(n)
        last[:] = [(t, n)]

    watcher.wait_total(expected, timeout, poll=poll, on_poll=on_poll)
    if not first:
        return Drain(expected, 0, 0.0, 0)
    t_end, n_end = last[0]
    t0, n0 = first[0]
    if n0 >= n_end and started is not None:
        return Drain(expected, n_end, t_end - started, 0)
    return Drain(expected, n_end, t_end - t0, n0)


# ----- latency --------------------------------------------------------------------
class LatencyProbe:
    """Paced sends and a consumer on the receiving queues: publish-to-delivery times in ms."""

    def __init__(self, publish_url: str, consume_url: str, queues: list[str], copies: int = 1) -> None:
        self.publish_url = publish_url
        self.consume_url = consume_url
        self.queues = queues
        self.copies = copies
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.first_sent = 0.0
        self.last_received = 0.0
        self.first_body: bytes | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _consume(self) -> None:
        try:
            conn = connect(self.consume_url)
            ch = conn.channel()
            ch.basic_qos(prefetch_count=1000)

            def on_message(c: Any, method: Any, props: Any, body: bytes) -> None:
                now = time.perf_counter()
                # a delivery names the sent message in x-origin-message-id (its own id is the hub's)
                t = self.sent.get(str((props.headers or {}).get("x-origin-message-id") or props.message_id or ""))
                if t is None:  # a reply: matched by the request's id
                    t = self.sent.get(str(props.correlation_id or ""))
                if t is not None:
                    self.latencies.append((now - t) * 1000.0)
                    self.last_received = now
                    if self.first_body is None:
                        self.first_body = body
                c.basic_ack(method.delivery_tag)

            for q in self.queues:
                ch.basic_consume(q, on_message)
            self._ready.set()
            while not self._stop.is_set():
                conn.process_data_events(time_limit=0.05)
            conn.close()
        except BaseException as exc:  # reported by run()
            self._error = exc
            self._ready.set()

    def run(self, exchange: str, make: Callable[[int], Message], *, rate: float, seconds: float,
            user_id: str, routing_key: Callable[[int], str], settle: float = 10.0) -> list[float]:
        thread = threading.Thread(target=self._consume, name="latency-consumer", daemon=True)
        thread.start()
        self._ready.wait(30)
        conn = connect(self.publish_url)
        ch = conn.channel()
        count = max(1, int(rate * seconds))
        began = self.first_sent = time.perf_counter()
        try:
            for n in range(count):
                due = began + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                m = make(n)
                message_id = uuid.uuid4().hex
                self.sent[message_id] = time.perf_counter()
                ch.basic_publish(exchange, routing_key(n), m.body, pika.BasicProperties(
                    delivery_mode=2, message_id=message_id, type=m.kind, content_type=m.content_type,
                    user_id=user_id))
        finally:
            conn.close()
        deadline = time.monotonic() + settle
        while len(self.latencies) < count * self.copies and time.monotonic() < deadline and self._error is None:
            time.sleep(0.05)
        self._stop.set()
        thread.join(10)
        if self._error is not None:
            raise RuntimeError(f"latency consumer failed: {self._error}") from self._error
        return list(self.latencies)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


def proc_status_kb(pid: int, field: str = "VmHWM") -> int | None:
    """A field of /proc/<pid>/status in kB (VmHWM is the peak resident set)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_busy_idle() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, idle


def quiesce(max_seconds: float = 20.0, busy_below: float = 0.15, window: float = 0.5) -> float:
    """Let the last scenario's aftermath finish before the next one: its dirty pages written out (the
    kernel would write them 30 s later, under the next scenario's fsyncs) and the machine idle (the
    broker compacting quorum segments, workers exiting). Seconds it took; gives up after ``max_seconds``."""
    began = time.perf_counter()
    os.sync()
    calm = 0
    try:
        before = _cpu_busy_idle()
    except OSError:
        return round(time.perf_counter() - began, 2)
    while calm < 2 and time.perf_counter() - began < max_seconds:
        time.sleep(window)
        after = _cpu_busy_idle()
        busy, idle = after[0] - before[0], after[1] - before[1]
        before = after
        calm = calm + 1 if busy <= busy_below * max(1, busy + idle) else 0
    return round(time.perf_counter() - began, 2)
