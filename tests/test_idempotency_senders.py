"""Acceptance 6, first part: the idempotency key is (sender, message id), on memory and RabbitMQ.

The same message id from two parties is two messages: both are processed and delivered, each
audited under its own sender, each rebuilt on its own by crash recovery. A repeat from the same
sender is still a duplicate.
"""

from __future__ import annotations

import orjson
import pytest

from hub.ops.requeue import Selection, select
from hub.pipeline.outbox import delivery_id
from hub.store.audit import AuditRecord
from hub.store.idempotency import HUB_ACTOR, ORIGIN_FIELD, REQUEUED_ACTION, generation_records, sender_records
from hub.testing import TestHub

SHARED_ID = "order-0001"


def _echo(hub: TestHub, party: str, body: dict[str, str], message_id: str = SHARED_ID) -> None:
    hub.send(party, "echo", body, message_id=message_id, client_key=f"key-{party}")


def test_same_message_id_from_two_parties_is_processed_for_both(hub: TestHub) -> None:
    _echo(hub, "ciz", {"to": "cak", "note": "from ciz"})
    _echo(hub, "zk-utrecht", {"to": "cak", "note": "from the zorgkantoor"})
    got = hub["cak"].wait(2)
    # contract v2: the sender's id is in x-origin-message-id; each delivery's own id names its sender too
    assert sorted((m.headers["x-origin-message-id"], m.headers["x-sender"], m.json()["note"]) for m in got) == [
        (SHARED_ID, "ciz", "from ciz"), (SHARED_ID, "zk-utrecht", "from the zorgkantoor")]
    assert sorted(m.properties["message_id"] for m in got) == sorted(
        delivery_id(s, SHARED_ID, "cak", "echo|") for s in ("ciz", "zk-utrecht"))
    received = [r.actor for r in hub.app.audit.for_message(SHARED_ID) if r.action == "received"]
    assert sorted(received) == ["ciz", "zk-utrecht"]
    assert hub.app.processed.seen([("ciz", SHARED_ID), ("zk-utrecht", SHARED_ID), ("cak", SHARED_ID)]) == {
        ("ciz", SHARED_ID), ("zk-utrecht", SHARED_ID)}

    # a real repeat from a sender who already sent it: skipped, nothing delivered, nothing audited
    _echo(hub, "ciz", {"to": "cak", "note": "ciz again"})
    assert hub["cak"].empty()
    assert [r.actor for r in hub.app.audit.for_message(SHARED_ID) if r.action == "received"].count("ciz") == 1

    # crash recovery (done, output unconfirmed) rebuilds each sender's own delivery, never the other's
    for sender, note in (("ciz", "from ciz"), ("zk-utrecht", "from the zorgkantoor")):
        (again,) = list(hub.worker._replay_outgoing((sender, SHARED_ID)))
        assert (again.routing_key, again.headers["x-sender"]) == ("cak", sender)
        assert orjson.loads(again.body)["note"] == note
    assert hub.app.audit.verify().ok


def test_same_message_id_dead_lettered_for_two_parties_answers_and_parks_both(hub: TestHub) -> None:
    _echo(hub, "ciz", {"to": "nobody-registered"})
    _echo(hub, "cak", {"to": "nobody-registered"})
    for party in ("ciz", "cak"):
        receipt = hub[party].receipt()
        assert (receipt["messageId"], receipt["status"], receipt["rule"]) == (SHARED_ID, "dead_lettered",
                                                                              "NO_ROUTE")
    parked = [(e.sender, e.message_id) for e in select(hub.app.dead_letters, Selection(all_entries=True))]
    assert sorted(parked) == [("cak", SHARED_ID), ("ciz", SHARED_ID)]  # a requeue would take both
    for sender in ("ciz", "cak"):
        (receipt, dead) = list(hub.worker._replay_outgoing((sender, SHARED_ID)))
        assert receipt.routing_key == sender and dead.exchange == hub.app.topology.dlx
        assert dead.headers["x-original-sender"] == sender


def _rec(seq: int, action: str, actor: str, detail: dict[str, object] | None = None) -> AuditRecord:
    return AuditRecord(action=action, actor=actor, message_id=SHARED_ID, seq=seq,
                       detail=orjson.dumps(detail).decode() if detail is not None else "")


def test_sender_records_split_hub_messages_and_requeues_by_origin() -> None:
    records = [
        _rec(1, "received", "ciz"), _rec(2, "delivered", "ciz", {"x": "out", "rk": "cak"}),
        _rec(3, "notified", HUB_ACTOR, {"x": "out", "rk": "cak", ORIGIN_FIELD: "ciz"}),
        _rec(4, "received", "cak"), _rec(5, "notified", HUB_ACTOR, {"x": "out", "rk": "ciz", ORIGIN_FIELD: "cak"}),
        _rec(6, REQUEUED_ACTION, "operator", {"h": {"x-original-sender": "cak", "x-requeue-generation": 1}}),
        _rec(7, "received", "cak"),
        _rec(8, "replayed", "auditor", {"x": "out", "rk": "cak"}),
    ]
    assert [r.seq for r in sender_records(records, "ciz")] == [1, 2, 3]
    assert [r.seq for r in sender_records(records, "cak")] == [4, 5, 6, 7]
    assert [r.seq for r in generation_records(sender_records(records, "cak"), 1)] == [7]
    # a hub record from before the sender key names no origin: the id was then its one sender's
    legacy = [_rec(1, "received", "ciz"), _rec(2, "notified", HUB_ACTOR, {"x": "out", "rk": "cak"})]
    assert [r.seq for r in sender_records(legacy, "ciz")] == [1, 2]


@pytest.mark.parametrize("sender", ["ciz", ""])
def test_processed_states_are_per_sender(hub: TestHub, sender: str) -> None:
    hub.app.processed.mark_in_tx([(SHARED_ID, sender, "delivered", "2026-01-01T00:00:00Z")])
    other = "cak"
    assert hub.app.processed.states([(sender, SHARED_ID), (other, SHARED_ID)]) == {(sender, SHARED_ID): False}
    hub.app.processed.mark_published([(other, SHARED_ID)])
    assert hub.app.processed.states([(sender, SHARED_ID)]) == {(sender, SHARED_ID): False}
    hub.app.processed.mark_published([(sender, SHARED_ID)])
    assert hub.app.processed.states([(sender, SHARED_ID)]) == {(sender, SHARED_ID): True}
