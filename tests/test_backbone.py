"""The backbone's pipeline, one test body on the embedded transport and on RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hub.pipeline.outbox import delivery_id
from hub.settings import Settings
from hub.testing import GEELHOED, TestHub

INDICATIE = {
    "besluitnummer": "IB-1", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01", "zzp": "5VV",
    "client": GEELHOED, "voorkeurZorgaanbieder": "73730800",
}
ALL = {"ciz", "zk-utrecht", "zk-amsterdam", "bos-en-duin", "zonnehof", "cak", "pgo-geelhoed", "pgo-jansen",
       "nza", "auditor"}


@pytest.fixture(params=["memory", "rabbitmq"])
def hub(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestHub]:
    if request.param == "rabbitmq":
        settings = request.getfixturevalue("amqp_settings")
    ctx = TestHub(settings, out=lambda _: None)
    try:
        yield ctx
    finally:
        ctx.close()


def inboxes(ctx: TestHub) -> dict[str, list]:
    return {p: ctx.inbox(p) for p in sorted(ALL)}


def test_indicatie_reaches_exactly_the_right_parties(hub: TestHub) -> None:
    message_id = hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    got = inboxes(hub)
    receivers = {p for p, msgs in got.items() if msgs}
    assert receivers == {"zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak"}
    for p in receivers:
        (msg,) = got[p]
        # delivery contract v2: a deterministic id per (sender, message, recipient, route), the sender's own
        # id in x-origin-message-id, and the first number of the recipient's stream
        assert msg.properties["message_id"] == delivery_id("ciz", message_id, p, "indicatiebesluit|")
        assert msg.headers["x-origin-message-id"] == message_id
        shard = msg.headers["x-zorghub-stream"].removeprefix(f"{p}/")
        assert int(shard) in range(hub.settings.shards) and msg.headers["x-zorghub-seq"] == 1
        assert msg.properties["type"] == "indicatiebesluit"
        assert msg.headers["x-sender"] == "ciz"
        assert orjson.loads(msg.body) == INDICATIE
    records = hub.app.audit.for_message(message_id)
    assert [r.action for r in records] == ["received"] + ["delivered"] * 4
    # each delivery says why its recipient got the message (the routing decision, one rule each)
    assert {r.recipient: r.reason for r in records[1:]} == {
        "zk-utrecht": "zorgkantoor of region 5509", "pgo-geelhoed": "the client's PGO",
        "bos-en-duin": "care provider AGB 73730800", "cak": "role cak"}
    assert hub.app.audit.verify().ok


def test_region_by_postcode_when_municipality_unknown(hub: TestHub) -> None:
    client = {"bsn": "999990019", "postcode": "1012AB"}  # Amsterdam postcode -> COD001 5515
    hub.send("ciz", "indicatiebesluit", dict(INDICATIE, client=client), client_key="c1")
    assert len(hub.inbox("zk-amsterdam")) == 1
    assert hub.inbox("zk-utrecht") == []


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
IO31_BAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<iwlz:Bericht xmlns:iwlz="http://www.istandaarden.nl/iwlz/2_2/io31/schema"><iwlz:Header/></iwlz:Bericht>"""

BAD_INPUTS = [
    pytest.param("indicatiebesluit", "application/json", b'{"besluitnummer": ', "UNPARSEABLE", "JSON_SYNTAX",
                 id="invalid-json"),
    pytest.param("iwlz.IO31", "application/xml", IO31_BAD, "SCHEMA", "XSD", id="xml-fails-xsd"),
    pytest.param("iwlz.IO31", "application/xml", XXE, "UNPARSEABLE", "XML_DTD", id="xml-external-entity"),
    pytest.param("iwlz.IO31", "application/xml", LAUGHS, "UNPARSEABLE", "XML_DTD", id="billion-laughs"),
    pytest.param("indicatiebesluitt", "application/json", orjson.dumps(INDICATIE), "UNKNOWN_KIND",
                 "UNKNOWN_KIND", id="unknown-kind"),
    pytest.param("indicatiebesluit", "application/json",
                 orjson.dumps(dict(INDICATIE, client=dict(GEELHOED, bsn="123456789"))), "INVALID_BSN",
                 "INVALID_BSN", id="bsn-fails-elfproef"),
    pytest.param("indicatiebesluit", "application/json", b'{"x": "' + b"a" * 1_100_000 + b'"}', "TOO_LARGE",
                 "TOO_LARGE", id="too-large"),
]


@pytest.mark.parametrize("kind,content_type,body,code,rule", BAD_INPUTS)
def test_bad_input_is_rejected_dead_lettered_and_audited(
    hub: TestHub, schema_dir: object, kind: str, content_type: str, body: bytes, code: str, rule: str
) -> None:
    message_id = hub.send("ciz", kind, body, content_type=content_type, client_key="c1")
    got = inboxes(hub)
    # no delivery to anyone; exactly one receipt to the sender
    assert {p for p, msgs in got.items() if msgs} == {"ciz"}
    (receipt,) = got["ciz"]
    assert receipt.properties["type"] == "zorghub.receipt"
    assert receipt.properties["correlation_id"] == message_id
    assert receipt.properties["message_id"] == f"{message_id}:receipt"  # the outbox's id scheme
    answer = orjson.loads(receipt.body)
    assert answer["messageId"] == message_id and answer["status"] == "rejected"
    assert answer["rule"] == rule
    assert "123456789" not in receipt.body.decode()
    # a dead-letter record with the reason, on the broker's DLQ and in the store
    (dead,) = hub.take(hub.app.topology.dlq, 10)
    assert dead.properties["message_id"] == message_id
    assert dead.headers["x-rule"] == rule and dead.headers["x-error-class"]
    assert dead.headers["x-original-sender"] == "ciz" and dead.headers["x-reason"]
    assert dead.body == body
    entries = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert len(entries) == 1 and entries[0].rule == rule
    assert "123456789" not in entries[0].reason
    records = hub.app.audit.for_message(message_id)
    assert [r.action for r in records] == ["received", "rejected", "dead_lettered"]
    assert all(r.outcome == "failure" for r in records)
    assert hub.app.audit.verify().ok
    assert code  # the error class code is part of the parametrisation's documentation


def test_duplicate_message_id_is_processed_once(hub: TestHub) -> None:
    message_id = hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1", message_id=message_id)
    assert len(hub.inbox("zk-utrecht")) == 1
    assert len([r for r in hub.app.audit.for_message(message_id) if r.action == "received"]) == 1


def test_sender_not_allowed_for_kind_is_refused(hub: TestHub) -> None:
    message_id = hub.send("cak", "indicatiebesluit", INDICATIE, client_key="c1")
    (receipt,) = hub.inbox("cak")
    assert orjson.loads(receipt.body)["rule"] == "SENDER_ROLE"
    assert hub.inbox("zk-utrecht") == []
    assert hub.app.processed.seen([("cak", message_id)]) == {("cak", message_id)}


def test_dead_letter_requeue_runs_the_message_again(settings: Settings) -> None:
    ctx = TestHub(settings, out=lambda _: None)
    try:
        message_id = ctx.send("ciz", "echo", {"to": "nobody-here"}, client_key="c1")
        (entry,) = ctx.app.dead_letters.list()
        assert entry.message_id == message_id and "unknown party" in entry.reason
        from hub.ops.requeue import Selection, requeue

        # the embedded broker lives in this process: requeue through the running hub's own transport
        ctx.app.db.close()
        ctx.app = type(ctx.app).build(settings)
        ctx.worker.app = ctx.app
        done = requeue(settings, Selection((message_id,)), operator="op", reason="retry after fix",
                       transport=ctx.hub_transport)
        assert [r.entry.message_id for r in done] == [message_id]
        assert ctx.app.dead_letters.list() == []
        ctx.pump(0)  # the requeued original runs again as the original sender, and fails the same way
        (again,) = ctx.app.dead_letters.list()
        assert again.message_id == message_id and again.sender == "ciz" and "unknown party" in again.reason
        received = [r for r in ctx.app.audit.for_message(message_id) if r.action == "received"]
        assert len(received) == 2
    finally:
        ctx.close()


def test_retry_path_holds_and_redelivers_on_the_embedded_transport(settings: Settings, tmp_path: Path) -> None:
    """A RetryLater from a handler goes through the delay path and comes back, not lost."""
    from hub.errors import RetryLater

    # the echo kind with a handler: a kinds file of its own, not a write into the catalogue
    route = 'route = [{by = "field-party", field = "/to"}]\n'
    kinds = settings.kinds_path.read_text(encoding="utf-8").replace(route, route + 'handler = "test.flaky"\n', 1)
    (tmp_path / "kinds.toml").write_text(kinds, encoding="utf-8")
    settings = settings.replace(retry_delays_ms=(50, 100), kinds_file=str(tmp_path / "kinds.toml"))
    ctx = TestHub(settings, out=lambda _: None)
    calls: list[str] = []

    def flaky(checked, hctx):  # type: ignore[no-untyped-def]
        calls.append(checked.envelope.message_id)
        if len(calls) < 3:
            raise RetryLater("the indicatie is not there yet")
        return ctx.app.router.route(checked)

    try:
        assert ctx.app.kinds.get("echo").handler == "test.flaky"
        ctx.app.handlers["test.flaky"] = flaky
        message_id = ctx.send("ciz", "echo", {"to": "nza"}, client_key="c1")
        assert len(ctx.inbox("nza")) == 1
        assert calls == [message_id] * 3
        actions = [r.action for r in ctx.app.audit.for_message(message_id)]
        assert actions == ["deferred", "deferred", "received", "delivered"]
    finally:
        ctx.close()


def test_log_lines_never_carry_a_bsn(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from hub import logs

    logs.setup(logging.INFO)
    log = logging.getLogger("zorghub.test")
    log.info("client %s moved", "999990019")
    try:
        raise KeyError("999990019")
    except KeyError:
        log.exception("lookup failed")
    err = capsys.readouterr().err
    assert "999990019" not in err and "*********" in err and "lookup failed" in err
