"""Stream inboxes: the broker's own deduplication by (producer name, publishing id), measured, and the hub
publishing a party's deliveries to its stream exactly once through two SIGKILLs."""

from __future__ import annotations

import asyncio
import collections
import json
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
from rstream import Consumer, ConsumerOffsetSpecification, OffsetType, amqp_decoder
from rstream.exceptions import LeaderNotAvailable

from hub.app import HubApp
from hub.catalogue.topology import Topology
from hub.settings import Settings
from hub.testing import vhost_of
from hub.transports.base import Outgoing
from hub.transports.hosts import BrokerUrl
from hub.transports.management import Management, party_password
from hub.transports.streams import StreamPublisher, stream_url, to_stream_message
from tests.conftest import MGMT_URL, _port_open, need
from tests.hubproc import start_worker, stop
from tests.test_crash_order import prepare, publish, received_count

pytestmark = pytest.mark.rabbitmq

TOTAL = 3000


@pytest.fixture
def stream_settings(amqp_settings: Settings) -> Settings:
    need("the RabbitMQ stream plugin", _port_open(5552), "nothing listens on 127.0.0.1:5552 (rabbitmq_stream)")
    return amqp_settings


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_stream(url: BrokerUrl, stream: str, expect: int, timeout: float = 60) -> list[tuple[str, dict]]:
    """Every message of ``stream`` from its first offset: (message id, application properties)."""
    host = url.hosts[0]
    user, _, password = url.userinfo.partition(":")
    got: list[tuple[str, dict]] = []

    async def main() -> None:
        consumer = Consumer(host.host, host.port or 5552, vhost=vhost_of(str(url)), username=user,
                            password=password)
        await consumer.start()

        async def on_message(msg, _context) -> None:  # type: ignore[no-untyped-def]
            mid = msg.properties.message_id
            got.append((text(mid), {text(k): text(v) if isinstance(v, bytes) else v
                                    for k, v in (msg.application_properties or {}).items()}))

        deadline = time.monotonic() + timeout
        while True:  # after a node loss the stream may still be electing its leader
            try:
                await consumer.subscribe(stream, on_message, decoder=amqp_decoder,
                                         offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None))
                break
            except LeaderNotAvailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)
        while len(got) < expect and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a quiet second: anything beyond ``expect`` shows too
        await consumer.close()

    asyncio.run(main())
    return got


def delivery(recipient: str, shard: int, seq: int, tag: str) -> Outgoing:
    return Outgoing("zorghub.out", recipient, f"body {tag}".encode(),
                    {"message_id": f"m-{tag}", "type": "echo", "content_type": "text/plain"},
                    {"x-zorghub-stream": f"{recipient}/{shard}", "x-zorghub-seq": seq})


def test_the_broker_drops_a_republished_publishing_id_also_across_a_reconnect(stream_settings: Settings) -> None:
    url = stream_url(stream_settings.broker_url)
    stream = "dedup-probe"
    first = StreamPublisher(url)
    try:
        first.declare([stream])
        first.publish(stream, "nza/0", [to_stream_message(delivery("nza", 0, n, f"0-{n}")) for n in (1, 2, 3)])
        # the same ids again on the same connection: confirmed, not stored
        first.publish(stream, "nza/0", [to_stream_message(delivery("nza", 0, n, f"0-{n}")) for n in (2, 3)])
        # another producer name counts on its own: its 1 and 2 are new
        first.publish(stream, "nza/1", [to_stream_message(delivery("nza", 1, n, f"1-{n}")) for n in (1, 2)])
    finally:
        first.close()
    again = StreamPublisher(url)  # a new connection, as after a crash: the broker still knows nza/0 is at 3
    try:
        again.publish(stream, "nza/0", [to_stream_message(delivery("nza", 0, n, f"0-{n}")) for n in (3, 4)])
    finally:
        again.close()
    stored = read_stream(url, stream, 6)
    assert [m for m, _ in stored] == ["m-0-1", "m-0-2", "m-0-3", "m-1-1", "m-1-2", "m-0-4"]
    assert stored[0][1]["x-zorghub-stream"] == "nza/0" and stored[0][1]["x-zorghub-seq"] == 1


def parties_with_stream_inbox(tmp_path: Path, party: str) -> Path:
    from hub.settings import _PACKAGE_DATA

    text = (_PACKAGE_DATA / "parties.toml").read_text()
    marker = f'name = "{party}"\n'
    assert marker in text
    path = tmp_path / "parties.toml"
    path.write_text(text.replace(marker, marker + "stream_inbox = true\n"))
    return path


def test_a_stream_inbox_holds_each_delivery_once_through_two_hub_sigkills(
        stream_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parties = parties_with_stream_inbox(tmp_path, "nza")
    monkeypatch.setenv("ZORGHUB_PARTIES_FILE", str(parties))  # the worker processes read the environment
    settings = stream_settings.replace(shards=2, parties_file=str(parties))
    prepare(settings)
    messages = [(str(uuid.uuid4()), f"client-{i % 97}", json.dumps({"to": "nza", "n": i}).encode())
                for i in range(TOTAL)]
    publish(settings.broker_url, messages, "echo")
    worker = start_worker(settings)
    at_kill = []
    try:
        for _ in range(2):
            deadline = time.monotonic() + 120
            while received_count(settings) <= (at_kill[-1] if at_kill else 0) + 300 and time.monotonic() < deadline:
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            at_kill.append(received_count(settings))
            worker = start_worker(settings)
        assert 0 < at_kill[0] < at_kill[1] < TOTAL, at_kill
        # read as the party itself, with the least-privilege permissions `parties sync` gives it
        app = HubApp.build(settings)
        Management(MGMT_URL, "guest", "guest").sync_parties(vhost_of(settings.broker_url), app.parties, app.topology)
        as_nza = stream_url(settings.broker_url).with_credentials("nza", party_password(app.parties.get("nza")))
        app.close()
        stored = read_stream(as_nza, Topology(prefix=settings.prefix).stream_inbox("nza"), TOTAL, timeout=180)
    finally:
        stop(worker)
    log = (Path(settings.home) / "worker-0.log").read_text()
    resumed = sum(int(n) for n in re.findall(r"published (\d+) outbox entries left unsent", log))
    counts = collections.Counter(m for m, _ in stored)
    assert len(counts) == TOTAL, f"{TOTAL - len(counts)} deliveries missing from the stream"
    assert max(counts.values()) == 1, [m for m, c in counts.items() if c > 1][:5]
    assert {str(props["x-origin-message-id"]) for _, props in stored} == {m[0] for m in messages}
    # each shard's sequence is in the stream once, in order, without gaps
    seqs: dict[str, list[int]] = collections.defaultdict(list)
    for _, props in stored:
        seqs[str(props["x-zorghub-stream"])].append(int(props["x-zorghub-seq"]))
    for name, numbers in seqs.items():
        assert numbers == list(range(1, len(numbers) + 1)), name
    print(f"\nstream inbox: kills at {at_kill} committed inputs; {resumed} outbox entries published again "
          f"after the kills; {len(stored)} messages in the stream for {TOTAL} deliveries")


def test_the_stream_publisher_passes_over_a_host_that_refuses(stream_settings: Settings) -> None:
    from tests.cluster import free_port

    vhost = vhost_of(stream_settings.broker_url)
    url = BrokerUrl.parse(f"rabbitmq-stream://guest:guest@127.0.0.1:{free_port()},127.0.0.1:5552/{vhost}")
    publisher = StreamPublisher(url)
    try:
        publisher.declare(["failover-probe"])
        publisher.publish("failover-probe", "cak/0", [to_stream_message(delivery("cak", 0, 1, "f-1"))])
    finally:
        publisher.close()
    assert [m for m, _ in read_stream(BrokerUrl.parse(f"rabbitmq-stream://guest:guest@127.0.0.1:5552/{vhost}"),
                                      "failover-probe", 1)] == ["m-f-1"]
