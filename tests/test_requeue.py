"""Requeue that cannot lose: on the real RabbitMQ, on SQLite and (with ZORGHUB_TEST_STORE=postgres) PostgreSQL.

A message to a party the registry does not know is dead-lettered (NO_ROUTE). The cause is then fixed by
registering the party, the hub is restarted with the new registry, and an operator requeues the entry
through the ``zorghub`` command: the message must reach its recipient exactly once, with the requeue in
the audit log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.cli.main import main
from hub.errors import RetryLater
from hub.ops.requeue import RequeueRefused, Selection, requeue
from hub.settings import Settings
from hub.testing import TestHub
from hub.transports import open_transport
from hub.transports.base import Outgoing, Transport
from tests.hubproc import env_for

NEW_PARTY = "zorgaanbieder-nieuw"
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PARTY_TOML = f"""
[[party]]
name = "{NEW_PARTY}"
display = "A provider registered after the message was sent"
id_type = "AGB"
id = "06229999"
roles = ["zorgaanbieder"]
password = "{NEW_PARTY}-secret"
"""


@pytest.fixture
def hub_settings(amqp_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's own party registry (so it can be fixed), and the environment the CLI reads."""
    parties = tmp_path / "parties.toml"
    parties.write_text(Path(amqp_settings.parties_path).read_text())
    settings = amqp_settings.replace(parties_file=str(parties))
    for key, value in env_for(settings).items():
        if key.startswith("ZORGHUB_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("ZORGHUB_PARTIES_FILE", str(parties))
    return settings


def register_new_party(settings: Settings) -> None:
    path = Path(settings.parties_path)
    path.write_text(path.read_text() + PARTY_TOML)


def dead_letter_one(settings: Settings) -> str:
    """Send a message to the unregistered party: it is dead-lettered, and its sender hears so."""
    ctx = TestHub(settings, out=lambda _: None)
    try:
        message_id = ctx.send("ciz", "echo", {"to": NEW_PARTY, "note": "hello"}, client_key="c1",
                              headers={"traceparent": TRACE})
        (entry,) = ctx.app.dead_letters.list()
        assert entry.message_id == message_id and entry.rule == "NO_ROUTE" and entry.sender == "ciz"
        (receipt,) = ctx.inbox("ciz")  # a dead letter with a known sender answers it, as a rejection does
        answer = orjson.loads(receipt.body)
        assert answer == {"messageId": message_id, "status": "dead_lettered", "kind": "echo", "rule": "NO_ROUTE",
                          "reason": entry.reason}
        return message_id
    finally:
        ctx.close()


@pytest.fixture
def fixed_hub(hub_settings: Settings) -> Iterator[tuple[TestHub, str]]:
    """A dead letter, then the cause fixed and a hub running with the fixed registry."""
    message_id = dead_letter_one(hub_settings)
    register_new_party(hub_settings)
    ctx = TestHub(hub_settings, out=lambda _: None)
    try:
        yield ctx, message_id
    finally:
        ctx.close()


def zorghub(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def settle(ctx: TestHub, target: int) -> None:
    """Wait until the hub handled ``target`` messages, then one more quiet moment for anything extra."""
    ctx.pump(target)
    time.sleep(0.5)


def test_requeued_dead_letter_is_processed_again_and_reaches_its_recipient(
        fixed_hub: tuple[TestHub, str], capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    rc, out, err = zorghub(capsys, "dlq", "requeue", message_id[:12], "--reason", "party registered",
                           "--as", "ops-anna")
    assert (rc, err) == (0, "")
    assert f"requeued {message_id} (generation 1)" in out and "requeued 1 message(s)" in out
    settle(ctx, 1)
    (delivered,) = ctx.inbox(NEW_PARTY)
    assert delivered.headers["x-origin-message-id"] == message_id  # contract v2: the sender's id is here
    assert orjson.loads(delivered.body) == {"to": NEW_PARTY, "note": "hello"}
    assert delivered.headers["x-sender"] == "ciz"  # processed as the original sender, not as the hub
    assert delivered.headers["traceparent"] == TRACE  # the original's headers travel with the requeue
    assert ctx.app.dead_letters.list() == []

    records = ctx.app.audit.for_message(message_id)
    actions = [r.action for r in records]
    assert actions == ["received", "answered", "dead_lettered", "requeued", "received", "delivered"]
    assert records[-1].recipient == NEW_PARTY and records[-1].reason  # why it went there, on the delivery
    requeued = records[3]
    assert requeued.actor == "ops-anna" and requeued.actor_role == "operator" and requeued.ts
    assert "party registered" in requeued.reason and "NO_ROUTE" in requeued.reason
    (entry,) = ctx.app.dead_letters.history(message_id)
    assert requeued.record_id == str(entry.seq)
    assert entry.requeued_by == "ops-anna" and entry.requeue_gen == 1 and entry.requeued_at
    assert ctx.app.audit.verify().ok

    rc, out, _ = zorghub(capsys, "dlq", "show", message_id[:10], "--json")
    assert rc == 0
    shown = json.loads(out)
    assert shown["message_id"] == message_id
    (e,) = shown["entries"]
    assert e["state"] == "requeued" and e["rule"] == "NO_ROUTE" and e["requeued_by"] == "ops-anna"
    assert e["requeue_reason"] == "party registered" and e["payload_sha256"] == entry.payload_sha256
    assert e["headers"] == {"traceparent": TRACE}
    assert [a["action"] for a in shown["audit"]] == actions
    assert "payload" not in shown
    rc, text, _ = zorghub(capsys, "dlq", "show", message_id)
    assert rc == 0 and f"sha256 {entry.payload_sha256}" in text and "rule      NO_ROUTE" in text
    assert "requeued" in text and "ops-anna" in text and "hello" not in text


def test_requeueing_the_same_entry_twice_delivers_once(
        fixed_hub: tuple[TestHub, str], capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    assert zorghub(capsys, "dlq", "requeue", message_id, "--reason", "fixed")[0] == 0
    settle(ctx, 1)
    rc, _, err = zorghub(capsys, "dlq", "requeue", message_id, "--reason", "again")
    assert rc == 1 and "already requeued" in err
    time.sleep(1.0)
    assert len(ctx.inbox(NEW_PARTY)) == 1
    assert [r.action for r in ctx.app.audit.for_message(message_id)].count("requeued") == 1


class LostConfirm:
    """A transport whose publish reaches the broker but whose confirm is lost (as in a crash right after)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.user = inner.user
        self.url = inner.url

    def publish(self, outgoing: list[Outgoing]) -> None:
        self.inner.publish(outgoing)
        raise RetryLater("the connection dropped before the broker's confirm arrived")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_unconfirmed_requeue_stays_open_and_its_repeat_is_processed_once(
        fixed_hub: tuple[TestHub, str], hub_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    inner = open_transport(hub_settings.broker_url)
    try:
        with pytest.raises(RequeueRefused, match="stay open"):
            requeue(hub_settings, Selection((message_id,)), operator="ops-anna", reason="party registered",
                    transport=LostConfirm(inner))  # type: ignore[arg-type]
    finally:
        inner.close()
    settle(ctx, 1)  # the publish did land: the hub delivers it
    assert len(ctx.inbox(NEW_PARTY)) == 1
    (entry,) = ctx.app.dead_letters.list()  # nothing half-applied: the entry is still open, its generation kept
    assert entry.message_id == message_id and entry.state == "requeue pending" and entry.requeue_gen == 1
    rc, out, _ = zorghub(capsys, "dlq", "list")
    assert rc == 0 and "requeue pending" in out

    # the operator requeues again: the same generation is republished, and the hub knows it is done
    rc, out, _ = zorghub(capsys, "dlq", "requeue", message_id, "--reason", "confirm was lost")
    assert rc == 0 and "(generation 1)" in out
    settle(ctx, 2)
    assert ctx.inbox(NEW_PARTY) == []
    assert ctx.app.dead_letters.list() == []
    actions = [r.action for r in ctx.app.audit.for_message(message_id)]
    # the hub may process the landed publish before or after the failure is recorded: either order is true
    assert actions.count("requeue_failed") == 1
    actions.remove("requeue_failed")
    assert actions == ["received", "answered", "dead_lettered", "requeued", "received", "delivered", "requeued"]
    assert ctx.app.audit.verify().ok


def test_dry_run_and_bulk_requeue_by_rule_and_kind(
        fixed_hub: tuple[TestHub, str], capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    other = ctx.send("ciz", "indicatiebesluitt", {"x": 1}, client_key="c2")  # an unknown kind: rejected
    before_records = ctx.app.audit.count()
    before = ctx._processed

    rc, out, _ = zorghub(capsys, "dlq", "requeue", "--rule", "NO_ROUTE", "--dry-run")
    assert rc == 0 and message_id in out and other not in out
    assert "would requeue 1 message(s); nothing was changed" in out
    rc, out, _ = zorghub(capsys, "dlq", "requeue", "--all", "--dry-run")
    assert rc == 0 and message_id in out and other in out and "would requeue 2" in out
    time.sleep(1.0)
    assert ctx._processed == before and ctx.app.audit.count() == before_records
    assert {e.message_id for e in ctx.app.dead_letters.list()} == {message_id, other}
    assert all(e.state == "open" for e in ctx.app.dead_letters.list())

    rc, out, _ = zorghub(capsys, "dlq", "requeue", "--kind", "echo", "--reason", "party registered")
    assert rc == 0 and "requeued 1 message(s)" in out
    settle(ctx, before + 1)
    assert len(ctx.inbox(NEW_PARTY)) == 1
    assert [e.message_id for e in ctx.app.dead_letters.list()] == [other]


def test_dlq_show_payload_is_for_auditors_only(fixed_hub: tuple[TestHub, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    rc, _, err = zorghub(capsys, "dlq", "show", message_id, "--payload", "--as", "ciz")
    assert rc == 1 and "auditor" in err
    rc, out, _ = zorghub(capsys, "dlq", "show", message_id, "--payload", "--as", "auditor", "--json")
    assert rc == 0 and orjson.loads(json.loads(out)["payload"]) == {"to": NEW_PARTY, "note": "hello"}
    access = [(r.action, r.actor, r.outcome) for r in ctx.app.audit.records("action = ?", ("audit.dlq-payload",))]
    assert access == [("audit.dlq-payload", "ciz", "failure"), ("audit.dlq-payload", "auditor", "success")]


def test_requeue_on_memory_without_a_hub_refuses_and_changes_nothing(
        settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env_for(settings).items():
        if key.startswith("ZORGHUB_"):
            monkeypatch.setenv(key, value)
    ctx = TestHub(settings, out=lambda _: None)
    try:
        ids = {ctx.send("ciz", "echo", {"to": "nobody-here"}, client_key=f"c{i}") for i in range(3)}
        before = (ctx.app.dead_letters.list(include_requeued=True), ctx.app.audit.count(),
                  ctx.app.processed.seen(("ciz", i) for i in ids))
    finally:
        ctx.close()
    assert len(before[0]) == 3
    rc, out, err = zorghub(capsys, "dlq", "requeue", "--all", "--reason", "try")
    assert rc == 1 and "requeued" not in out and "inside one process" in err and "nothing was requeued" in err
    ctx = TestHub(settings, out=lambda _: None)
    try:
        after = (ctx.app.dead_letters.list(include_requeued=True), ctx.app.audit.count(),
                 ctx.app.processed.seen(("ciz", i) for i in ids))
        assert after == before
        assert ctx.take(ctx.app.topology.shard(0)) == []
    finally:
        ctx.close()


def test_requeue_needs_a_reason_and_a_known_unique_id(fixed_hub: tuple[TestHub, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ctx, message_id = fixed_hub
    rc, _, err = zorghub(capsys, "dlq", "requeue", message_id)
    assert rc == 2 and "--reason is required" in err
    rc, _, err = zorghub(capsys, "dlq", "requeue", "no-such-id", "--reason", "x")
    assert rc == 1 and "no dead letter with id 'no-such-id'" in err
    rc, _, err = zorghub(capsys, "dlq", "requeue", "--reason", "x")
    assert rc == 1 and "name the dead letters" in err
    assert ctx.app.dead_letters.list()[0].state == "open"
