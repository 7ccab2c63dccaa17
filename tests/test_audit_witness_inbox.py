"""Issue 18, item 3: the hub publishes signed tree heads to witness parties through their inboxes (the
outbox), a witness following its inbox verifies each and alarms on a rewrite; a party asks for the
inclusion proofs of its own records (refused, and audited, for another party's).

Mostly on RabbitMQ, and on the test's store (SQLite; PostgreSQL with ZORGHUB_TEST_STORE=postgres).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from hub.auditor import treehead
from hub.auditor.publish import HEAD_SHARD
from hub.catalogue.schemas import load_json_schema
from hub.pipeline.outbox import delivery_id
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.store.db import Database
from hub.testing import TestHub
from hub.transports import with_credentials
from hub.transports.management import party_password
from tests.test_audit_tree import _verify_standalone

WITNESS = "auditor"
EVERY = 4  # records: each echo is two (received, delivered)


@pytest.fixture
def witness_hub(amqp_settings: Settings, tmp_path: Path) -> Iterator[TestHub]:
    settings = amqp_settings.replace(audit_witnesses=(WITNESS,), audit_witness_every=EVERY, audit_witness_seconds=0,
                                     audit_signing_key=str(tmp_path / "signing.pem"))
    with TestHub(settings, out=lambda _: None) as hub:
        yield hub


def _echo(hub: TestHub, n: int, to: str = "cak") -> list[str]:
    return [hub.send("ciz", "echo", {"to": to, "text": f"ping {i}"}, client_key="c1") for i in range(n)]


def _public_key(hub: TestHub, tmp_path: Path) -> Path:
    pub = tmp_path / "hub.pub"
    pub.write_bytes(treehead.public_pem(treehead.load_signing_key(hub.settings.signing_key_path)))
    return pub


def _witness_cmd(hub: TestHub, pub: Path, state: Path, *extra: str) -> list[str]:
    url = with_credentials(hub.settings.broker_url, WITNESS, party_password(hub.app.parties.get(WITNESS)))
    return [sys.executable, "-m", "hub.cli", "audit", "witness", "--public-key", str(pub), "--state", str(state),
            "--inbox", hub.app.topology.inbox(WITNESS), "--amqp-url", url, *extra]


class _Lines:
    """A running witness's output, line by line, waited for with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.strip())

    def next(self, timeout: float = 30.0) -> str:
        return self.lines.get(timeout=timeout)


def _cut_and_retree(hub: TestHub, keep: int) -> Database:
    """What the operator, holding the store and both keys, could do: drop the records after ``keep``, drop
    the tree and its heads (rebuilt from the records at the next signing). The store, still open."""
    db = Database(hub.settings.effective_store_url)
    with db.transaction():
        db.execute("DELETE FROM audit WHERE seq > ?", (keep,))
        db.execute("DELETE FROM merkle_tile")
        db.execute("DELETE FROM tree_heads")
    return db


def _one_head(hub: TestHub, timeout: float = 20.0) -> Any:
    """The one message in the witness's inbox (a head goes out just after the batch that made it due)."""
    deadline = time.monotonic() + timeout
    while not (got := hub.take(hub.app.topology.inbox(WITNESS))) and time.monotonic() < deadline:
        time.sleep(0.05)
    (head,) = got
    return head


def _valid_head_message(body: bytes) -> dict[str, Any]:
    """A published head as the contract's schema for ``zorghub.tree-head`` describes it."""
    doc = orjson.loads(body)
    jsonschema.Draft202012Validator(load_json_schema("replies/tree-head.schema.json")).validate(doc)
    return dict(doc)


def _heads_in_outbox(hub: TestHub) -> list[tuple[str, int, str]]:
    rows = hub.app.db.execute("SELECT stream, seq, message_id FROM outbox WHERE shard = ? ORDER BY seq",
                              (HEAD_SHARD,))
    return [(str(s), int(n), str(m)) for s, n, m in rows]


@pytest.mark.rabbitmq
def test_a_witness_following_its_inbox_verifies_every_head_and_alarms_on_a_rewrite(
        witness_hub: TestHub, tmp_path: Path) -> None:
    hub = witness_hub
    _echo(hub, 2)  # four records: the first head is due
    pub = _public_key(hub, tmp_path)
    state = tmp_path / "witness" / "head.json"
    proc = subprocess.Popen(_witness_cmd(hub, pub, state, "--follow"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out = _Lines(proc)
    try:
        assert out.next() == "ok: first head kept: 4 records (nothing earlier to compare with)"
        _echo(hub, 1)  # six records: not due yet
        _echo(hub, 1)  # eight: due, with a consistency proof from the four the witness got
        assert out.next() == "ok: consistent: 4 -> 8 records"
        assert json.loads(state.read_text())["tree_size"] == 8
        # each head is an outbox entry like any delivery: its own stream, numbered, a deterministic id
        assert _heads_in_outbox(hub) == [
            (f"{WITNESS}/heads", 1, delivery_id("zorghub", "tree-head:4", WITNESS, "zorghub.tree-head|")),
            (f"{WITNESS}/heads", 2, delivery_id("zorghub", "tree-head:8", WITNESS, "zorghub.tree-head|"))]
        bodies = [hub.app.audit.payload(str(d)) for (d,) in hub.app.db.execute(
            "SELECT payload_sha256 FROM outbox WHERE shard = ? ORDER BY seq", (HEAD_SHARD,))]
        assert [_valid_head_message(b or b"")["format"] for b in bodies] == [
            "zorghub-tree-head/1", "zorghub-consistency-proof/1"]

        _cut_and_retree(hub, 6).close()  # the last two records go
        _echo(hub, 3)  # 12 records, four past the last head: the next goes out, over the rewritten tree
        line = out.next()
        assert line.startswith("ALARM: fork: the head of 12 records is not consistent with the kept head of 8"), \
            line
        assert proc.wait(timeout=30) == 1
        assert json.loads(state.read_text())["tree_size"] == 8  # the witness keeps the head it trusted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.rabbitmq
def test_a_witness_alarms_on_a_cut_log_presented_as_a_file(witness_hub: TestHub, tmp_path: Path) -> None:
    hub = witness_hub
    _echo(hub, 4)  # eight records: heads of 4 and 8 in the witness's inbox
    pub = _public_key(hub, tmp_path)
    state = tmp_path / "head.json"
    done = subprocess.run(_witness_cmd(hub, pub, state), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.splitlines()) == (
        0, ["ok: first head kept: 4 records (nothing earlier to compare with)", "ok: consistent: 4 -> 8 records"])
    # delete the last four records, rebuild the tree, sign a new head with the real key, hand it over
    db = _cut_and_retree(hub, 4)
    try:
        forged = treehead.sign_head(AuditLog(db, hub.settings.key_bytes()),
                                    treehead.load_signing_key(hub.settings.signing_key_path))
    finally:
        db.close()
    doc = tmp_path / "forged.json"
    doc.write_text(json.dumps(forged.to_dict()))
    done = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "witness", "--public-key", str(pub),
                           "--state", str(state), str(doc)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ALARM: rollback: the new tree head has 4 records" in done.stderr


def _prove(hub: TestHub, party: str, body: dict[str, object]) -> tuple[str, list[object]]:
    request = hub.send(party, "zorghub.prove", body, client_key=f"{party}-prove")
    return request, [m for m in hub.inbox(party) if m.properties.get("correlation_id") == request]


@pytest.mark.rabbitmq
def test_a_party_gets_the_proofs_of_its_own_records_and_is_refused_anothers(
        witness_hub: TestHub, tmp_path: Path) -> None:
    hub = witness_hub
    (sent,) = _echo(hub, 1)
    (delivered,) = hub.inbox("cak")
    assert delivered.headers["x-origin-message-id"] == sent
    # the recipient asks by the origin id it was given: the proofs of the records naming it
    request, (answer,) = _prove(hub, "cak", {"message_id": sent})
    assert answer.properties["type"] == "zorghub.inclusion-proofs"
    bundle = orjson.loads(answer.body)
    leaves = [json.loads(bytes.fromhex(p["leaf"])) for p in bundle["proofs"]]
    assert [(leaf[3], leaf[8]) for leaf in leaves] == [("delivered", "cak")]  # action, recipient: cak's only
    pub = _public_key(hub, tmp_path)
    path = tmp_path / "answer.json"
    path.write_bytes(answer.body)
    checked = _verify_standalone(pub, path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: records 2 are in the signed tree of size")
    altered = bytearray(answer.body)
    at = altered.index(b'"leaf":"') + 9
    altered[at] = ord("0") if altered[at] != ord("0") else ord("1")
    path.write_bytes(bytes(altered))
    assert _verify_standalone(pub, path).returncode == 1
    allowed = [r for r in hub.app.audit.for_message(request) if r.action == "prove"]
    assert [(r.outcome, r.actor) for r in allowed] == [("allow", "cak")]

    # the sender asks for the record of its message by seq: record 1 is its receipt of it
    _, (mine,) = _prove(hub, "ciz", {"record": 1})
    assert [p["leaf_index"] for p in orjson.loads(mine.body)["proofs"]] == [0]

    # another party asks for the same: refused, and the refusal is on record
    for body in ({"message_id": sent}, {"record": 2}):
        request, (receipt,) = _prove(hub, "bos-en-duin", body)
        got = orjson.loads(receipt.body)
        assert (receipt.properties["type"], got["status"], got["rule"]) == (
            "zorghub.receipt", "rejected", "PROOF_NOT_YOURS")
        denied = [r for r in hub.app.audit.for_message(request) if r.action == "prove"]
        assert [(r.outcome, r.actor) for r in denied] == [("deny", "bos-en-duin")]
        assert "PROOF_NOT_YOURS" in denied[0].reason
    assert hub.app.audit.verify().ok


@pytest.mark.rabbitmq
def test_a_head_the_broker_never_confirmed_is_published_again_after_a_crash(witness_hub: TestHub) -> None:
    hub = witness_hub
    _echo(hub, 2)
    head = _one_head(hub)
    assert head.properties["type"] == "zorghub.tree-head"
    settings = hub.settings
    # as if the worker died after the commit, before the broker took the head: unsent, not in the inbox
    hub.app.db.execute("UPDATE outbox SET sent = 0 WHERE shard = ?", (HEAD_SHARD,))
    hub.close()
    with TestHub(settings, out=lambda _: None) as again:
        _echo(again, 1)  # six records: no new head due; the restarted worker resumes the unsent one
        resent = _one_head(again)
        assert (resent.body, resent.properties["message_id"], resent.headers["x-zorghub-seq"]) == (
            head.body, head.properties["message_id"], 1)
        assert _valid_head_message(resent.body)["tree_size"] == 4


def test_a_head_goes_out_after_the_time_set_when_the_log_has_grown(settings: Settings, tmp_path: Path) -> None:
    """By time alone (every=0): nothing while the log stands still, a head once it grew and the time passed."""
    s = settings.replace(audit_witnesses=(WITNESS,), audit_witness_every=0, audit_witness_seconds=60,
                         audit_signing_key=str(tmp_path / "signing.pem"))
    with TestHub(s, out=lambda _: None) as hub:
        (publisher,) = hub.app.publishers
        _echo(hub, 1)
        assert hub.take(hub.app.topology.inbox(WITNESS)) == []  # grown, but the minute has not passed
        publisher._at -= 61  # a minute later
        hub.worker.idle()
        (head,) = hub.take(hub.app.topology.inbox(WITNESS))
        assert orjson.loads(head.body)["tree_size"] == 2
        publisher._at -= 61
        hub.worker.idle()  # the time passed again, but no record since: nothing
        assert hub.take(hub.app.topology.inbox(WITNESS)) == []


def test_a_witness_gets_its_heads_again_with_a_resend_request(settings: Settings, tmp_path: Path) -> None:
    s = settings.replace(audit_witnesses=(WITNESS,), audit_witness_every=EVERY, audit_witness_seconds=0,
                         audit_signing_key=str(tmp_path / "signing.pem"))
    with TestHub(s, out=lambda _: None) as hub:
        _echo(hub, 2)
        (head,) = hub.take(hub.app.topology.inbox(WITNESS))
        hub.send(WITNESS, "zorghub.resend", {"stream": f"{WITNESS}/heads", "from": 1}, client_key="w")
        again, receipt = hub.take(hub.app.topology.inbox(WITNESS))
        assert (again.body, again.properties["message_id"]) == (head.body, head.properties["message_id"])
        assert orjson.loads(receipt.body)["resent"] == 1
