"""The webhook tables and the dispatcher's rules, on SQLite and PostgreSQL: events numbered per
subscription in the producing transaction, the backoff schedule that ends in an audited ``error``,
and one dispatcher at a time per store."""

from __future__ import annotations

import pytest

from hub.http.webhooks.dispatcher import Dispatcher
from hub.http.webhooks.service import Webhooks
from hub.http.webhooks.shapes import TOPIC
from hub.store.audit import AuditLog
from hub.store.db import Database
from hub.store.webhooks import WebhookRows
from tests.webhook_helpers import free_port

KEY = b"k" * 32
TYPES = ("NIEUWE_INDICATIE", "GEWIJZIGDE_INDICATIE")


def _sub(endpoint: str, types: str = "") -> dict[str, object]:
    res: dict[str, object] = {"resourceType": "Subscription", "status": "requested", "reason": "test",
                              "criteria": TOPIC, "channel": {"type": "rest-hook", "endpoint": endpoint}}
    if types:
        res["_criteria"] = {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/"
                                                  "StructureDefinition/backport-filter-criteria",
                                           "valueString": f"eventType={types}"}]}
    return res


def test_events_are_numbered_per_subscription_inside_the_transaction(store_url: str) -> None:
    db = Database(store_url)
    try:
        hooks = Webhooks(db, AuditLog(db, KEY), TYPES)
        all_types = hooks.create("zk", _sub("http://127.0.0.1:9/a")).id
        only_new = hooks.create("zk", _sub("http://127.0.0.1:9/b", "NIEUWE_INDICATIE")).id
        elsewhere = hooks.create("other", _sub("http://127.0.0.1:9/c")).id
        rows = WebhookRows(db)
        with db.transaction():
            rows.record("zk", "NIEUWE_INDICATIE", "CoverageEligibilityResponse/1", b"{}", "t1")
            rows.record("zk", "GEWIJZIGDE_INDICATIE", "CoverageEligibilityResponse/1", b"{}", "t2")
        with pytest.raises(RuntimeError), db.transaction():  # a batch that fails keeps no event
            rows.record("zk", "NIEUWE_INDICATIE", "CoverageEligibilityResponse/2", b"{}", "t3")
            raise RuntimeError("the batch fails after the event")
        assert [e.number for e in hooks.events("zk", all_types)[1]] == [1, 2]
        assert [(e.number, e.event_type) for e in hooks.events("zk", only_new)[1]] == [(1, "NIEUWE_INDICATIE")]
        assert hooks.events("other", elsewhere)[1] == []
        hooks.set_status("zk", all_types, "off")
        with db.transaction():
            rows.record("zk", "NIEUWE_INDICATIE", "CoverageEligibilityResponse/3", b"{}", "t4")
        assert hooks.get("zk", all_types).last_event == 2  # an ended subscription counts no more
        assert hooks.get("zk", only_new).last_event == 2
    finally:
        db.close()


def test_retries_follow_the_delays_then_error_audited(store_url: str) -> None:
    db = Database(store_url)
    now = [1000.0]
    try:
        audit = AuditLog(db, KEY)
        hooks = Webhooks(db, audit, TYPES)
        sid = hooks.create("zk", _sub(f"http://127.0.0.1:{free_port()}/down")).id  # nothing listens there
        dispatcher = Dispatcher(db, audit, delays=(1, 2), timeout=1, clock=lambda: now[0])
        try:
            seen = []
            for step in (0, 1, 2):
                assert dispatcher.tick() == 0
                hook = hooks.get("zk", sid)
                seen.append((hook.status, hook.attempts, hook.next_try))
                assert dispatcher.tick() == 0 and hooks.get("zk", sid).attempts == hook.attempts  # not due yet
                now[0] += (1, 2, 0)[step]
            assert seen == [("requested", 1, 1001.0), ("requested", 2, 1003.0), ("error", 3, 0.0)]
            now[0] += 3600
            assert dispatcher.tick() == 0 and hooks.get("zk", sid).attempts == 3  # in error: no more calls
        finally:
            dispatcher.close()
        actions = [(r.action, r.outcome) for r in audit.records("record_id = ?", (sid,))]
        assert actions == [("webhook.subscribe", "success"), ("webhook.retry", "failure"),
                           ("webhook.retry", "failure"), ("webhook.error", "failure")]
    finally:
        db.close()


def test_one_dispatcher_at_a_time(store_url: str) -> None:
    db = Database(store_url)
    try:
        rows = WebhookRows(db)
        with db.transaction():
            assert rows.lease("a", 100.0, 5)
            assert not rows.lease("b", 101.0, 5)  # a holds it
            assert rows.lease("a", 104.0, 5)  # renewed, to 109
            assert not rows.lease("b", 108.0, 5)
            assert rows.lease("b", 109.5, 5)  # a stopped renewing: b takes over
            rows.release("b")
            assert rows.lease("a", 110.0, 5)  # handed back at once
    finally:
        db.close()


@pytest.mark.parametrize(("change", "rule"), [
    ({"criteria": "Patient?name=x"}, "SUBSCRIPTION_TOPIC"),
    ({"channel": {"type": "email", "endpoint": "mailto:x@example.org"}}, "SUBSCRIPTION_CHANNEL"),
    ({"channel": {"type": "rest-hook", "endpoint": "ftp://example.org/x"}}, "SUBSCRIPTION_ENDPOINT"),
    ({"channel": "rest-hook"}, "SUBSCRIPTION_BODY"),
    ({"_criteria": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                                          "backport-filter-criteria", "valueString": "eventType=NO_SUCH"}]}},
     "SUBSCRIPTION_FILTER"),
    ({"_criteria": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                                          "backport-filter-criteria", "valueString": "patient=123"}]}},
     "SUBSCRIPTION_FILTER"),
    ({"resourceType": "Patient"}, "SUBSCRIPTION_BODY"),
])
def test_a_subscription_the_hub_cannot_serve_is_refused_with_its_rule(tmp_path: object, change: dict[str, object],
                                                                     rule: str) -> None:
    from hub.errors import Rejected

    db = Database(f"sqlite:///{tmp_path}/s.sqlite3")
    try:
        hooks = Webhooks(db, AuditLog(db, KEY), TYPES)
        with pytest.raises(Rejected) as refused:
            hooks.create("zk", {**_sub("http://127.0.0.1:9/a"), **change})
        assert refused.value.rule == rule
        assert hooks.of("zk") == []  # nothing half-made
    finally:
        db.close()
