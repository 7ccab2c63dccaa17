"""Acceptance 3: replay into a sandbox queue keeps each client's order; a replay cancelled halfway and resumed
delivers every selected message exactly once; replay is audited; a pruned payload is reported as gone."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.auditor.progress import Cancel, Progress
from hub.auditor.replay import Replayer, Target
from hub.auditor.retention import RetentionPolicy, prune_payloads
from hub.auditor.search import AuditFilter
from hub.settings import Settings
from tests.audit_helpers import Hub, feed, hub_settings, open_hub


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Hub:
    h = open_hub(hub_settings(settings, tmp_path, f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    feed(h, 600, seed=11)
    yield h
    h.close()


def _sandbox(h: Hub, queue: str) -> list:
    return h.transport.get(queue, 100000)


def test_order_preserving_replay_into_a_sandbox(hub: Hub) -> None:
    log = hub.app.audit
    flt = AuditFilter(kind="indicatiebesluit")
    selected = [r for r in log.records("action = ? AND kind = ?", ("delivered", "indicatiebesluit"))]
    replayer = Replayer(log, hub.transport, hub.app.topology, "auditor", batch=37)
    job = replayer.start(flt, Target(sandbox="zorghub-sandbox-order"))
    result = replayer.run(job, rate=0)
    assert result.delivered == len(selected) == job.total and not result.skipped
    got = _sandbox(hub, "zorghub-sandbox-order")
    assert [int(m.headers["x-replay-of-seq"]) for m in got] == [r.seq for r in selected]
    by_client: dict[str, list[str]] = defaultdict(list)
    for m, r in zip(got, selected, strict=True):
        assert m.body == log.payload(r.payload_sha256)  # exact bytes
        # the recorded delivery's own (contract v2) id, and the sender's id where the record has it
        assert m.properties["message_id"] == r.detail_json()["p"]["message_id"] and m.properties["type"] == r.kind
        assert m.headers["x-origin-message-id"] == r.message_id
        by_client[r.client].append(m.headers["x-origin-message-id"])
    for client, ids in by_client.items():
        original = [r.message_id for r in selected if r.client == client]
        assert ids == original
    replayed = log.records("action = ?", ("replayed",))
    assert len(replayed) == len(selected)
    assert {r.recipient for r in replayed} == {"sandbox:zorghub-sandbox-order"}
    assert log.verify().ok


def test_replay_to_a_party_inbox_is_throttled(hub: Hub) -> None:
    log = hub.app.audit
    hub.inbox("zonnehof")
    replayer = Replayer(log, hub.transport, hub.app.topology, "auditor")
    job = replayer.start(AuditFilter(recipient="cak", kind="echo", last_seq=1500), Target(party="zonnehof"))
    assert 10 < job.total < 100
    progress = Progress(job.total, "replay ")
    result = replayer.run(job, rate=400, progress=progress)
    assert result.seconds >= (job.total - 1) / 400 * 0.8
    assert progress.done == job.total and "ETA" in progress.line()
    inbox = hub.inbox("zonnehof")
    assert len(inbox) == job.total
    assert all(m.headers["x-replay-original-recipient"] == "cak" for m in inbox)


def test_cancelled_halfway_then_resumed_delivers_each_exactly_once(hub: Hub) -> None:
    log = hub.app.audit
    replayer = Replayer(log, hub.transport, hub.app.topology, "auditor", batch=25)
    job = replayer.start(AuditFilter(), Target(sandbox="zorghub-sandbox-resume"))
    total = job.total
    assert total > 500
    cancel = Cancel()
    first = replayer.run(job, cancel=cancel, on_batch=lambda done: cancel.set() if done >= total // 2 else None)
    assert first.cancelled and total // 2 <= first.delivered < total
    stored = replayer.cursors.get(job.job_id)
    assert stored.status == "cancelled" and stored.done == first.delivered
    # the hub keeps writing meanwhile: new deliveries must not join the job
    feed(hub, 50, seed=99)
    resumed = Replayer(log, hub.transport, hub.app.topology, "auditor", batch=25).run(replayer.cursors.get(job.job_id))
    assert not resumed.cancelled and resumed.delivered == total and resumed.resumed_from == stored.cursor_seq
    got = _sandbox(hub, "zorghub-sandbox-resume")
    seqs = [int(m.headers["x-replay-of-seq"]) for m in got]
    assert len(seqs) == total and Counter(seqs).most_common(1)[0][1] == 1
    assert seqs == sorted(seqs)
    assert seqs == [r.seq for r in log.records("action = ? AND seq <= ?", ("delivered", job.upto_seq))]
    assert replayer.cursors.get(job.job_id).status == "done"


def test_replay_of_a_pruned_message_says_the_payload_is_gone(hub: Hub) -> None:
    log = hub.app.audit
    later = datetime.now(UTC) + timedelta(days=40)
    pruned = prune_payloads(log, RetentionPolicy(payload_days=30), now=later)
    assert pruned.pruned > 0
    assert log.verify().ok  # metadata and hashes stay: the chain still verifies
    replayer = Replayer(log, hub.transport, hub.app.topology, "auditor")
    job = replayer.start(AuditFilter(recipient="cak", last_seq=60), Target(sandbox="zorghub-sandbox-pruned"))
    result = replayer.run(job)
    assert result.delivered == 0 and len(result.skipped) == job.total > 0
    # the payloads are sealed: retention shredded their data keys (issue 18), and replay says when
    day = later.date().isoformat()
    assert all("payload is gone" in why and f"shredded on {day}" in why for _, _, why in result.skipped)
    failed = log.records("action = ? AND outcome = ?", ("replayed", "failure"))
    assert len(failed) == job.total and f"shredded on {day}" in failed[0].reason


def test_replay_on_rabbitmq_into_a_sandbox(amqp_settings: Settings, tmp_path: Path) -> None:
    import orjson

    from hub.catalogue.topology import Topology
    from hub.store.audit import AuditLog, AuditRecord
    from hub.store.db import Database
    from hub.transports import open_transport

    log = AuditLog(Database(f"sqlite:///{tmp_path / 'amqp.sqlite3'}"), b"k" * 32)
    recs = []
    for i in range(120):
        detail = orjson.dumps({"x": "zorghub.out", "rk": "cak", "h": {"x-sender": "ciz"},
                               "p": {"message_id": f"m-{i}", "type": "echo", "content_type": "application/json"}})
        recs.append(AuditRecord(action="delivered", actor="ciz", recipient="cak", kind="echo", message_id=f"m-{i}",
                                client=f"p-{i % 3}", detail=detail.decode(), payload=b'{"n": %d}' % i,
                                content_type="application/json"))
    log.append(recs)
    transport = open_transport(amqp_settings.broker_url)
    try:
        replayer = Replayer(log, transport, Topology(), "auditor", batch=50)
        cancel = Cancel()
        job = replayer.start(AuditFilter(), Target(sandbox="audit-sandbox"))
        first = replayer.run(job, cancel=cancel, on_batch=lambda done: cancel.set())
        assert first.cancelled and first.delivered == 50
        rest = replayer.run(replayer.cursors.get(job.job_id))
        assert rest.delivered == 120
        got = transport.get("audit-sandbox", 1000)
        assert [m.properties["message_id"] for m in got] == [f"m-{i}" for i in range(120)]
        assert got[7].body == b'{"n": 7}' and got[7].properties["content_type"] == "application/json"
    finally:
        transport.close()
