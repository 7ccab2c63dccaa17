"""Delivery contract v2: the outbox's ids, streams and sequence numbers, resend requests, and resuming.

One test body on the embedded transport and on RabbitMQ (the ``hub`` fixture).
"""

from __future__ import annotations

import orjson
import pytest

from hub.pipeline.outbox import delivery_id
from hub.settings import Settings
from hub.testing import TestHub

STREAM, SEQ, ORIGIN = "x-zorghub-stream", "x-zorghub-seq", "x-origin-message-id"


def echo(hub: TestHub, n: int, to: str = "cak") -> list[str]:
    return [hub.send("ciz", "echo", {"to": to, "text": f"ping {i}"}, client_key="c1") for i in range(n)]


def shard_of(msg: object) -> str:
    """The shard part of a message's stream: 0 on the embedded broker; on RabbitMQ the routing key's shard."""
    return str(msg.headers[STREAM]).rpartition("/")[2]  # type: ignore[attr-defined]


def wire(msg: object) -> tuple[bytes, dict, dict]:
    """What a receiver sees of a message: body, properties (without the broker's own), headers."""
    props = {k: v for k, v in msg.properties.items() if v is not None}  # type: ignore[attr-defined]
    return msg.body, props, dict(msg.headers)  # type: ignore[attr-defined]


def resend(hub: TestHub, party: str, body: dict) -> str:
    return hub.send(party, "zorghub.resend", body, client_key=f"{party}-resend")


def test_deliveries_are_numbered_per_stream_under_deterministic_ids(hub: TestHub) -> None:
    sent = echo(hub, 3)
    got = hub.inbox("cak")
    shard = shard_of(got[0])
    assert shard == "0" if hub.memory else int(shard) in range(hub.settings.shards)
    assert [m.headers[ORIGIN] for m in got] == sent
    assert [m.headers[STREAM] for m in got] == [f"cak/{shard}"] * 3
    assert [m.headers[SEQ] for m in got] == [1, 2, 3]
    assert [m.properties["message_id"] for m in got] == [delivery_id("ciz", s, "cak", "echo|") for s in sent]
    # the sender's receipt counts in the sender's own stream, under the receipt's usual id
    bad = hub.send("ciz", "echo", b"not json", client_key="c1")
    (receipt,) = hub.inbox("ciz")
    assert receipt.properties["message_id"] == f"{bad}:receipt"
    assert (receipt.headers[STREAM], receipt.headers[SEQ]) == (f"ciz/{shard}", 1)  # the same key, the same shard
    assert hub.app.audit.verify().ok


def test_a_resend_request_gets_its_own_stream_again_byte_for_byte(hub: TestHub) -> None:
    echo(hub, 4)
    delivered = hub.inbox("cak")
    stream = delivered[0].headers[STREAM]
    first = [wire(m) for m in delivered]
    request = resend(hub, "cak", {"stream": stream, "from": 2, "to": 3})
    got = hub.inbox("cak")
    assert [wire(m) for m in got[:2]] == first[1:3]  # the very same bytes, properties and headers
    receipt = got[2]
    body = orjson.loads(receipt.body)
    assert receipt.properties["type"] == "zorghub.receipt" and receipt.properties["correlation_id"] == request
    assert (body["status"], body["resent"]) == ("accepted", 2)
    assert len(got) == 3
    if receipt.headers[STREAM] == stream:  # the request's key landed on the deliveries' shard
        assert receipt.headers[SEQ] == 5  # the receipt counts in the requester's stream too
    # open-ended: from 4 on
    resend(hub, "cak", {"stream": stream, "from": 4})
    again = hub.inbox("cak")
    copies = [first[3], wire(receipt)] if receipt.headers[STREAM] == stream else [first[3]]
    assert [wire(m) for m in again[:-1]] == copies and orjson.loads(again[-1].body)["resent"] == len(copies)
    # the request is idempotent per (sender, message id) like every message
    hub.send("cak", "zorghub.resend", {"stream": stream, "from": 1}, message_id=request, client_key="x")
    assert hub.inbox("cak") == []
    decisions = [r for r in hub.app.audit.for_message(request) if r.action == "resend"]
    assert [(r.outcome, r.actor) for r in decisions] == [("allow", "cak")]


def test_a_resend_request_for_another_partys_stream_is_refused_and_audited(hub: TestHub) -> None:
    echo(hub, 2)
    stream = hub.inbox("cak")[0].headers[STREAM]
    request = resend(hub, "bos-en-duin", {"stream": stream, "from": 1})
    (receipt,) = hub.inbox("bos-en-duin")
    body = orjson.loads(receipt.body)
    assert (body["status"], body["rule"]) == ("rejected", "RESEND_NOT_YOURS")
    assert "x-zorghub-seq" in receipt.headers
    assert hub.inbox("cak") == []  # nothing was sent again
    decisions = [r for r in hub.app.audit.for_message(request) if r.action == "resend"]
    assert [(r.outcome, r.actor) for r in decisions] == [("deny", "bos-en-duin")]
    assert "RESEND_NOT_YOURS" in decisions[0].reason
    assert hub.app.audit.verify().ok


def test_unsent_entries_are_published_again_on_resume_byte_for_byte(settings: Settings) -> None:
    """On the embedded broker (the worker's transport is this thread's); on RabbitMQ, see test_crash_points."""
    hub = TestHub(settings, out=lambda _: None)
    try:
        resumed(hub)
    finally:
        hub.close()


def resumed(hub: TestHub) -> None:
    echo(hub, 3)
    first = [wire(m) for m in hub.inbox("cak")]
    assert int(hub.app.db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 0")[0][0]) == 0
    # as after a crash between the publish and the sent mark
    hub.app.db.execute("UPDATE outbox SET sent = 0 WHERE stream = 'cak/0' AND seq >= 2")
    assert hub.worker.resume([hub.app.topology.shard(0)]) == 2
    again = [wire(m) for m in hub.inbox("cak")]
    assert again == first[1:]
    assert int(hub.app.db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 0 AND stream = 'cak/0'")[0][0]) == 0


def test_an_altered_body_is_never_resumed(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with TestHub(settings, out=lambda _: None) as hub:
        echo(hub, 1)
        assert len(hub.inbox("cak")) == 1
        (digest,) = [str(r[0]) for r in hub.app.db.execute("SELECT payload_sha256 FROM outbox WHERE stream = 'cak/0'")]
        hub.app.db.execute("UPDATE outbox SET sent = 0")
        hub.app.db.execute("UPDATE payloads SET body = ? WHERE sha256 = ?", (b'{"forged": 1}', digest))
        with caplog.at_level("ERROR", logger="zorghub"):
            assert hub.worker.resume([hub.app.topology.shard(0)]) == 0
        assert hub.inbox("cak") == []
        assert any("is not sent" in r.getMessage() and "altered" in r.getMessage() for r in caplog.records)


def test_an_idle_worker_leaves_fresh_confirms_to_the_next_batch_and_marks_old_ones(settings: Settings) -> None:
    """Under a light load a transaction of its own for every confirm doubled the store's commits: a fresh
    confirm waits for the next batch's transaction, one older than ``IDLE_MARK_AFTER`` is marked when idle."""
    from hub.pipeline.relay import IDLE_MARK_AFTER

    def unsent() -> int:
        return int(hub.app.db.execute("SELECT COUNT(*) FROM outbox WHERE sent = 0")[0][0])

    hub = TestHub(settings, out=lambda _: None)
    try:
        echo(hub, 1)
        hub.app.db.execute("UPDATE outbox SET sent = 0")  # as if its confirm came after the batch
        relay = hub.worker.relay
        (entry,) = hub.worker.outbox.unsent([0])
        relay.send([((entry.stream, entry.seq), relay.rebuild(entry))])  # the embedded broker confirms at once
        hub.worker.idle()
        assert unsent() == 1  # fresh: left for the next batch
        echo(hub, 1)  # the next batch's transaction marks it, with its own entry
        assert unsent() == 0

        hub.app.db.execute("UPDATE outbox SET sent = 0")
        relay.send([((e.stream, e.seq), relay.rebuild(e)) for e in hub.worker.outbox.unsent([0])])
        hub.worker.idle()
        assert unsent() == 2
        relay._confirmed_since -= IDLE_MARK_AFTER  # type: ignore[operator]  # no batch came for that long
        hub.worker.idle()
        assert unsent() == 0
    finally:
        hub.close()
