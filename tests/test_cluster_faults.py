"""Faults with real parts: a 3-node RabbitMQ cluster, one node SIGKILLed under load, the hub failing over."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.transports import open_transport
from hub.transports.management import Management
from tests.cluster import Cluster, Node
from tests.hubproc import drain_queue, start_worker, stop, wait_for
from tests.test_crash_order import prepare, publish, received_count

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

TOTAL = 10_000


def publish_noting_errors(url: str, messages: list[tuple[str, str, bytes]], errors: list[BaseException]) -> None:
    try:
        publish(url, messages, "echo")
    except BaseException as exc:  # the test reports it: a publish the broker refused is a lost message
        errors.append(exc)


def kill_mid_stream(settings: Settings, node: Node, after: int, total: int) -> int:
    """SIGKILL ``node`` once the worker committed ``after`` inputs (some, not all); how many it had."""
    deadline = time.monotonic() + 120
    while received_count(settings) < after and time.monotonic() < deadline:
        time.sleep(0.05)
    at_kill = received_count(settings)
    assert 0 < at_kill < total, at_kill
    node.kill()
    return at_kill


def hub_queues(cluster: Cluster, vhost: str) -> list[dict[str, str]]:
    """Name, type and leader node of the hub's queues, from the management API of a live node."""
    mgmt = Management(cluster.mgmt_url(cluster.live()[0]), cluster.user, cluster.password)
    rows = mgmt._call("GET", f"queues/{urllib.parse.quote(vhost, safe='')}?columns=name,type,leader")
    return [{k: str(v) for k, v in r.items()} for r in rows or [] if str(r["name"]).startswith("zorghub.")]


def leaders(cluster: Cluster, vhost: str) -> collections.Counter[str]:
    return collections.Counter(q.get("leader", "") for q in hub_queues(cluster, vhost) if q["type"] == "quorum")


def test_multi_host_url_skips_a_dead_host(cluster: Cluster, cluster_vhost: str) -> None:
    """The first host of the list refuses: the transport connects to the next one, and works there."""
    from tests.cluster import free_port

    live = cluster.live()[1]
    url = f"amqp://guest:guest@127.0.0.1:{free_port()},{live.host_port}/{urllib.parse.quote(cluster_vhost, safe='')}"
    transport = open_transport(url)
    try:
        assert transport._conn._impl.params.port == live.amqp  # type: ignore[attr-defined]
        ch = transport._conn.channel()  # type: ignore[attr-defined]
        ch.queue_declare("probe", durable=False, auto_delete=True)
        ch.basic_publish("", "probe", b"x")
        assert ch.basic_get("probe", auto_ack=True)[2] == b"x"
    finally:
        transport.close()


def test_node_loss_loses_nothing_and_the_hub_carries_on(cluster: Cluster, cluster_settings: Settings,
                                                         cluster_vhost: str) -> None:
    settings = cluster_settings.replace(shards=2)
    first, second, third = cluster.nodes
    prepare(settings)  # declared through the first host: the queues' leaders start there
    types = {q["name"]: q["type"] for q in hub_queues(cluster, cluster_vhost)}
    shards_and_inboxes = {q: t for q, t in types.items() if ".shard." in q or ".inbox." in q}
    assert shards_and_inboxes and set(shards_and_inboxes.values()) == {"quorum"}, types
    led = wait_for(lambda: leaders(cluster, cluster_vhost)[first.name], 30, every=0.5)  # stats come late
    assert led, leaders(cluster, cluster_vhost)

    vhost = urllib.parse.quote(cluster_vhost, safe="")
    messages = [(str(uuid.uuid4()), f"client-{i % 97}", json.dumps({"to": "nza", "n": i}).encode())
                for i in range(TOTAL)]
    errors: list[BaseException] = []
    publisher = threading.Thread(target=publish_noting_errors, args=(cluster.node_url(second, vhost), messages, errors))
    worker = start_worker(settings)
    log_path = Path(settings.home) / "worker-0.log"
    publisher.start()
    try:
        # the node the worker is connected to, and the leader of the queues it declared
        at_kill = kill_mid_stream(settings, first, 1500, TOTAL)
        killed_at = time.monotonic()
        deadline = time.monotonic() + 120
        while received_count(settings) <= at_kill + 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        resumed_after = time.monotonic() - killed_at
        publisher.join(300)
        assert not publisher.is_alive() and not errors, errors
        counter: collections.Counter[str] = collections.Counter()  # by the sender's message id
        drain_queue(cluster.node_url(third, vhost), "zorghub.inbox.nza", TOTAL, 180,
                    lambda props, body: counter.update([(props.headers or {}).get("x-origin-message-id")]))
        # the hub carried on: the same worker process, never restarted, now on a surviving node
        assert worker.poll() is None, log_path.read_text()[-3000:]
        log = log_path.read_text()
        ports = [int(p) for p in re.findall(r"connected to RabbitMQ at 127\.0\.0\.1:(\d+)", log)]
        assert ports[0] == first.amqp and ports[-1] in {second.amqp, third.amqp}, ports
    finally:
        stop(worker)
        if first.proc is None:
            cluster.restart(first)
    ids = {m[0] for m in messages}
    missing = ids - set(counter)
    assert not missing, f"{len(missing)} of {TOTAL} messages lost"
    duplicates = sum(v - 1 for v in counter.values())
    print(f"\nnode loss: killed at {at_kill} committed inputs; the worker committed again "
          f"{resumed_after:.1f} s after the kill; {duplicates} duplicate deliveries (at-least-once)")


def test_node_loss_under_a_stream_inbox_stores_each_delivery_once(
        cluster: Cluster, cluster_settings: Settings, cluster_vhost: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.catalogue.topology import Topology
    from hub.transports.hosts import BrokerUrl
    from tests.test_stream_inbox import parties_with_stream_inbox, read_stream

    first, second, third = cluster.nodes
    vhost = urllib.parse.quote(cluster_vhost, safe="")
    parties = parties_with_stream_inbox(tmp_path, "nza")
    monkeypatch.setenv("ZORGHUB_PARTIES_FILE", str(parties))
    monkeypatch.setenv("ZORGHUB_STREAM_URL", cluster.stream_url(vhost))
    settings = cluster_settings.replace(shards=2, parties_file=str(parties), stream_url=cluster.stream_url(vhost))
    prepare(settings)
    total = 3000
    messages = [(str(uuid.uuid4()), f"client-{i % 97}", json.dumps({"to": "nza", "n": i}).encode())
                for i in range(total)]
    publish(cluster.node_url(second, vhost), messages, "echo")
    worker = start_worker(settings)
    try:
        at_kill = kill_mid_stream(settings, first, 600, total)
        stored = read_stream(BrokerUrl.parse(cluster.stream_url(vhost, [third])),
                             Topology(prefix=settings.prefix).stream_inbox("nza"), total, timeout=180)
        assert worker.poll() is None, (Path(settings.home) / "worker-0.log").read_text()[-3000:]
    finally:
        stop(worker)
        if first.proc is None:
            cluster.restart(first)
    origins = collections.Counter(str(props["x-origin-message-id"]) for _, props in stored)
    assert set(origins) == {m[0] for m in messages}, f"{total - len(origins)} deliveries missing from the stream"
    assert max(origins.values()) == 1, [m for m, c in origins.items() if c > 1][:5]
    print(f"\nstream inbox, node loss: killed at {at_kill} committed inputs; {len(stored)} messages in the stream "
          f"for {total} deliveries")
