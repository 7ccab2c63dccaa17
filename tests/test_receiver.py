"""zorghub-receiver against a real RabbitMQ vhost: the test plays the hub and publishes contract-shaped messages.

The hub's side of the contract (outbox, resend handler) is tested with the receiver in
test_receiver_hub.py; here each rule of the receiver itself: repeats dropped and counted, a gap
parked and asked for, the tail probed, a failed callback rolled back, state kept over a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
from zorghub_receiver import Message, Receiver

from tests.receiver_helpers import effects, effects_table, open_db, record_effect, running, until

pytestmark = pytest.mark.rabbitmq
INBOX = "zorghub.inbox.acme"
REQUESTS = "hub.requests"  # what the receiver publishes to zorghub.in lands here
STREAM = "acme/0"


@pytest.fixture
def broker(rabbitmq_vhost: str) -> Iterator[str]:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare(INBOX, durable=True, arguments={"x-queue-type": "quorum"})
    ch.exchange_declare("zorghub.in", "fanout", durable=True)
    ch.queue_declare(REQUESTS, durable=True)
    ch.queue_bind(REQUESTS, "zorghub.in")
    conn.close()
    yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vendor.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def publish(url: str, *messages: tuple[str, int | None], stream: str = STREAM, kind: str = "echo",
            correlation_id: str | None = None, body: bytes = b"{}") -> None:
    """Publish (message id, seq) pairs to the inbox as the hub would."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    for message_id, seq in messages:
        headers: dict[str, Any] = {"x-sender": "ciz"}
        if seq is not None:
            headers.update({"x-zorghub-stream": stream, "x-zorghub-seq": seq})
        ch.basic_publish("", INBOX, body, pika.BasicProperties(
            message_id=message_id, type=kind, content_type="application/json", correlation_id=correlation_id,
            headers=headers, delivery_mode=2))
    conn.close()


def requests(url: str) -> list[tuple[pika.BasicProperties, dict[str, Any]]]:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    got = []
    while True:
        method, props, body = ch.basic_get(REQUESTS, auto_ack=True)
        if method is None:
            break
        got.append((props, json.loads(body)))
    conn.close()
    return got


def receiver(url: str, db_url: str, handle: Any = record_effect, **kw: Any) -> Receiver:
    db = open_db(db_url)
    effects_table(db)
    return Receiver(url, db, handle, queue=INBOX, **{"tail_check": 3600.0, "resend_after": 3600.0, **kw})


def seqs(db_url: str) -> list[int | None]:
    return [row[3] for row in effects(open_db(db_url))]


def test_applies_in_order_and_drops_repeats(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1), ("m2", 2), ("m2", 2), ("m3", 3), ("m1", 1), ("m4", 4))
    publish(broker, ("loose", None), ("loose", None))  # no sequence number: deduplicated by id alone
    with running(receiver(broker, db_url)) as r:
        until(lambda: len(effects(open_db(db_url))) >= 5 and r.stats.duplicates >= 3, what="five effects")
    rows = effects(open_db(db_url))
    assert [(m, s) for m, _k, _st, s in rows] == [("m1", 1), ("m2", 2), ("m3", 3), ("m4", 4), ("loose", None)]
    assert r.stats.applied == 5 and r.stats.duplicates == 3
    again = receiver(broker, db_url)
    assert again.totals() == {"applied": 5, "duplicates": 3}  # committed with the effects
    # a repeat after a restart (a redelivery of something acked late) is still dropped
    publish(broker, ("m3", 3), ("m5", 5))
    with running(again) as r2:
        until(lambda: r2.stats.applied == 1 and r2.stats.duplicates == 1, what="m5 and the repeat")
    assert seqs(db_url) == [1, 2, 3, 4, None, 5]
    assert requests(broker) == []  # no gap, no tail probe (tail_check is an hour): nothing asked of the hub


def test_the_same_id_on_another_stream_moves_that_streams_mark_but_is_not_applied(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1))
    publish(broker, ("m1", 1), ("m2", 2), stream="acme/1")
    with running(receiver(broker, db_url)) as r:
        until(lambda: r.stats.applied == 2 and r.stats.duplicates == 1, what="m1 once, m2")
    assert [(m, st, s) for m, _k, st, s in effects(open_db(db_url))] == [("m1", "acme/0", 1), ("m2", "acme/1", 2)]


def test_a_gap_is_parked_asked_for_and_filled_in_order(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1), ("m2", 2), ("m5", 5), ("m6", 6))
    with running(receiver(broker, db_url)) as r:
        asked = until(lambda: requests(broker), what="a resend request")
        (props, body), = asked
        assert props.type == "zorghub.resend" and props.user_id == "guest"
        assert props.content_type == "application/json" and props.message_id.startswith("zorghub-resend-")
        assert body == {"stream": STREAM, "from": 3, "to": 4}
        assert seqs(db_url) == [1, 2] and r.stats.parked == 2 and r.stats.gaps == 1
        # the hub sends 3 and 4 again, then its receipt for the request
        publish(broker, ("m3", 3), ("m4", 4))
        publish(broker, ("m1:receipt", 7), kind="zorghub.receipt", correlation_id=props.message_id,
                body=json.dumps({"status": "accepted", "resent": 2}).encode())
        until(lambda: r.stats.applied == 6, what="1..6 applied")
    assert seqs(db_url) == [1, 2, 3, 4, 5, 6]  # the receipt answering the request is the receiver's, not the vendor's
    assert r.stats.refused == 0 and r.stats.resend_requests == 1


def test_parked_messages_survive_a_restart(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1), ("m3", 3))
    with running(receiver(broker, db_url)) as r:
        until(lambda: r.stats.parked == 1, what="m3 parked")
    publish(broker, ("m2", 2))
    with running(receiver(broker, db_url)) as r:
        until(lambda: r.stats.applied == 2, what="m2 and the parked m3")
    assert seqs(db_url) == [1, 2, 3]


def test_a_repeated_request_while_the_gap_stays_open(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1), ("m4", 4))
    got: list[tuple[pika.BasicProperties, dict[str, Any]]] = []
    with running(receiver(broker, db_url, resend_after=1.0)) as r:
        until(lambda: got.extend(requests(broker)) or len(got) >= 2, 10, what="a second request")
    assert r.stats.gaps == 1 and r.stats.resend_requests >= 2
    assert all(body == {"stream": STREAM, "from": 2, "to": 3} for _p, body in got)


def test_the_tail_is_probed_once_when_the_inbox_goes_quiet(broker: str, db_url: str) -> None:
    publish(broker, ("m1", 1), ("m2", 2))
    publish(broker, ("x1", 4), stream="acme/1")
    with running(receiver(broker, db_url, tail_check=1.0, streams=["acme/2"])) as r:
        until(lambda: r.stats.resend_requests >= 3, 10, what="the tail probe")
        first = requests(broker)
        probes = {body["stream"]: body for _p, body in first if "to" not in body}
        assert probes == {"acme/0": {"stream": "acme/0", "from": 3}, "acme/2": {"stream": "acme/2", "from": 1}}
        assert any(body == {"stream": "acme/1", "from": 1, "to": 3} for _p, body in first)  # a gap, not a tail
        # the hub's answer to a probe is no traffic: it starts no new probe
        publish(broker, ("p:receipt", 1), stream="acme/3", kind="zorghub.receipt",
                correlation_id=first[0][0].message_id, body=json.dumps({"status": "accepted", "resent": 0}).encode())
        time.sleep(2.5)
        assert [b for _p, b in requests(broker) if "to" not in b] == []
        publish(broker, ("m3", 3))  # new traffic: the next quiet period probes again
        until(lambda: any(b == {"stream": "acme/0", "from": 4} for _p, b in requests(broker)), 10, what="a new probe")


def test_a_refused_request_is_counted_and_not_handed_on(broker: str, db_url: str) -> None:
    publish(broker, ("r:receipt", 1), kind="zorghub.receipt", correlation_id="zorghub-resend-abc",
            body=json.dumps({"status": "rejected", "rule": "RESEND_NOT_YOURS", "reason": "not your stream"}).encode())
    publish(broker, ("other:receipt", 2), kind="zorghub.receipt", correlation_id="my-own-message")
    with running(receiver(broker, db_url)) as r:
        until(lambda: r.stats.applied == 1, what="the vendor's receipt")
    assert r.stats.refused == 1
    assert [(m, k) for m, k, _s, _q in effects(open_db(db_url))] == [("other:receipt", "zorghub.receipt")]


def test_a_failing_callback_rolls_back_the_batch_and_stops(broker: str, db_url: str) -> None:
    def fail_on_m3(msg: Message, db: Any) -> None:
        record_effect(msg, db)
        if msg.message_id == "m3":
            raise RuntimeError("vendor database says no")

    publish(broker, ("m1", 1), ("m2", 2), ("m3", 3))
    r = receiver(broker, db_url, fail_on_m3, batch_size=10)
    with pytest.raises(RuntimeError, match="says no"):
        r.run()
    got = seqs(db_url)
    assert got in ([], [1], [1, 2])  # the batch holding m3 left nothing behind
    with running(receiver(broker, db_url)) as again:
        until(lambda: len(effects(open_db(db_url))) == 3, what="all three after the fix")
    assert seqs(db_url) == [1, 2, 3] and again.stats.duplicates == 0


def test_a_queue_the_broker_refuses_stops_the_receiver(broker: str, tmp_path: Any) -> None:
    r = receiver(broker, f"sqlite:///{tmp_path / 'v.sqlite3'}")
    r.queue = "zorghub.inbox.nobody"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        r.run()  # one error, not a reconnect loop
    assert refused.value.reply_code == 404


def test_sqlite_in_autocommit_mode_still_gets_one_transaction_a_batch(broker: str, tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "v.sqlite3"
    effects_table(sqlite3.connect(path))

    def fail_on_m2(msg: Message, db: Any) -> None:
        record_effect(msg, db)
        if msg.message_id == "m2":
            raise RuntimeError("no")

    publish(broker, ("m1", 1), ("m2", 2))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # no implicit BEGIN
    r = Receiver(broker, db, fail_on_m2, queue=INBOX, tail_check=3600.0)
    with pytest.raises(RuntimeError):
        r.run()
    check = sqlite3.connect(path)
    applied = [r[0] for r in check.execute("SELECT message_id FROM effects ORDER BY n")]
    marked = [r[0] for r in check.execute("SELECT message_id FROM zorghub_received ORDER BY seq")]
    hwm = check.execute("SELECT hwm FROM zorghub_streams").fetchall()
    assert applied in ([], ["m1"]) and marked == applied  # m2's batch rolled back whole, its marks with it
    assert hwm == ([(1,)] if applied else [])


def test_a_connection_in_autocommit_mode_is_refused(pg_url: str) -> None:
    db = open_db(pg_url)
    db.autocommit = True
    with pytest.raises(ValueError, match="autocommit"):
        Receiver("amqp://guest:guest@127.0.0.1:5672/%2F", db, record_effect)
    db.close()


def test_a_partial_answer_is_followed_by_a_request_for_the_rest_at_once(broker: str, db_url: str) -> None:
    """The hub answers one request with at most its limit: the receiver asks for what is still missing."""
    publish(broker, ("m1", 1), ("m7", 7))
    with running(receiver(broker, db_url)) as r:  # resend_after is an hour: only the answer can prompt it
        ((first, body),) = until(lambda: requests(broker), what="the first request")
        assert body == {"stream": STREAM, "from": 2, "to": 6}
        publish(broker, ("m2", 2), ("m3", 3))
        publish(broker, ("a:receipt", 1), stream="acme/9", kind="zorghub.receipt", correlation_id=first.message_id,
                body=json.dumps({"status": "accepted", "resent": 2}).encode())
        ((_second, body),) = until(lambda: requests(broker), what="the second request")
        assert body == {"stream": STREAM, "from": 4, "to": 6}
        publish(broker, ("m4", 4), ("m5", 5), ("m6", 6))
        until(lambda: r.stats.applied == 7, what="1..7")
    assert seqs(db_url) == [1, 2, 3, 4, 5, 6, 7] and r.stats.gaps == 1


def test_a_mark_raised_by_hand_over_a_lost_gap_frees_the_parked_messages(broker: str, db_url: str) -> None:
    """What an operator does when the hub can no longer send a gap again: the receiver goes on from there."""
    publish(broker, ("m1", 1), ("m3", 3), ("m4", 4))
    with running(receiver(broker, db_url)) as r:
        until(lambda: r.stats.parked == 2, what="3 and 4 parked")
    db = open_db(db_url)
    db.cursor().execute("UPDATE zorghub_streams SET hwm = 2")
    db.commit()
    with running(receiver(broker, db_url)) as r:
        until(lambda: len(seqs(db_url)) == 3, what="the parked ones applied")
    assert seqs(db_url) == [1, 3, 4] and r.stats.applied == 2
