"""The requeue's idempotency key, and crash recovery that rebuilds only one generation's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.ops.requeue import Selection, requeue
from hub.settings import Settings
from hub.store.idempotency import REQUEUE_HEADER, processing_key, requeue_generation, split_key
from hub.testing import TestHub
from tests.test_requeue import NEW_PARTY, PARTY_TOML


@pytest.mark.parametrize("message_id,generation", [
    ("abc", 0), ("abc", 1), ("abc", 12), ("abc#requeue-1", 0), ("abc#requeue-1", 2), ("#requeue-", 0), ("", 3),
])
def test_processing_key_round_trips(message_id: str, generation: int) -> None:
    assert split_key(processing_key(message_id, generation)) == (message_id, generation)


def test_no_sender_chosen_id_collides_with_a_requeue() -> None:
    # a sender who sends "abc#requeue-1" must not pre-empt the first requeue of "abc"
    assert processing_key("abc#requeue-1", 0) != processing_key("abc", 1)
    assert processing_key("abc", 0) == "abc"  # ids processed before this release keep their marks


def test_the_generation_is_believed_only_from_the_hub() -> None:
    headers = {REQUEUE_HEADER: 3}
    assert requeue_generation({"user_id": "zorghub"}, headers, "zorghub") == 3
    assert requeue_generation({"user_id": "ciz"}, headers, "zorghub") == 0
    assert requeue_generation({"user_id": "zorghub"}, {REQUEUE_HEADER: "x"}, "zorghub") == 0
    assert requeue_generation({"user_id": "zorghub"}, {}, "zorghub") == 0


def test_crash_recovery_rebuilds_only_the_generation_that_crashed(settings: Settings, tmp_path: Path) -> None:
    parties = tmp_path / "parties.toml"
    parties.write_text(Path(settings.parties_path).read_text())
    settings = settings.replace(parties_file=str(parties))
    ctx = TestHub(settings, out=lambda _: None)
    try:
        message_id = ctx.send("ciz", "echo", {"to": NEW_PARTY}, client_key="c1")
    finally:
        ctx.close()
    parties.write_text(parties.read_text() + PARTY_TOML)
    ctx = TestHub(settings, out=lambda _: None)
    try:
        (done,) = requeue(settings, Selection((message_id,)), operator="op", reason="registered",
                          transport=ctx.hub_transport)
        ctx.pump(0)
        assert len(ctx.inbox(NEW_PARTY)) == 1
        key = processing_key(message_id, done.generation)
        assert ctx.app.processed.states([("ciz", message_id), ("ciz", key)]) == {("ciz", message_id): True,
                                                                                ("ciz", key): True}
        # what a redelivery after a crash would publish again: each generation its own output, nothing else
        first = [(o.exchange, o.routing_key) for o in ctx.worker._replay_outgoing(("ciz", message_id))]
        second = [(o.exchange, o.routing_key) for o in ctx.worker._replay_outgoing(("ciz", key))]
        topo = ctx.app.topology
        assert first == [(topo.outbound, "ciz"), (topo.dlx, "c1")]  # the receipt and the dead letter
        assert second == [(topo.outbound, NEW_PARTY)]  # the delivery, never the requeue itself
    finally:
        ctx.close()
