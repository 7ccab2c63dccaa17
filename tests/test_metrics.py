"""Operators' metrics: the audit log's counts, dead letters and (on RabbitMQ) queue depths, scraped over HTTP."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.cli.main import main
from hub.ops import metrics
from hub.settings import Settings
from hub.testing import GEELHOED, TestHub

INDICATIE = {"besluitnummer": "IB-1", "ingangsdatum": "2026-11-01", "zzp": "5VV", "client": GEELHOED,
             "voorkeurZorgaanbieder": "73730800"}


def scrape(port: int) -> tuple[str, dict[str, dict[tuple[tuple[str, str], ...], float]]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return text, samples


def audit_counts(ctx: TestHub) -> dict[tuple[tuple[str, str], ...], float]:
    rows = ctx.app.db.execute("SELECT action, outcome, kind, COUNT(*) FROM audit GROUP BY action, outcome, kind")
    return {(("action", a), ("kind", k), ("outcome", o)): float(n) for a, o, k, n in rows}


@pytest.fixture
def hub(settings: Settings) -> Iterator[TestHub]:
    ctx = TestHub(settings, out=lambda _: None)
    try:
        yield ctx
    finally:
        ctx.close()


def test_counters_follow_the_audit_log_and_never_show_a_bsn(hub: TestHub) -> None:
    hub.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
    bad = dict(INDICATIE, client=dict(GEELHOED, bsn="123456789"))  # fails the elfproef: dead-lettered
    hub.send("ciz", "indicatiebesluit", orjson.dumps(bad), client_key="c2")
    server, db = metrics.start(hub.settings, 0)
    try:
        port = server.server_port
        text, first = scrape(port)
        assert first["zorghub_audit_records_total"] == audit_counts(hub)
        assert first["zorghub_audit_records_total"][
            (("action", "delivered"), ("kind", "indicatiebesluit"), ("outcome", "success"))] == 4
        assert first["zorghub_audit_head_seq"][()] == hub.app.audit.head()[0]
        assert first["zorghub_dead_letters_open"][()] == 1
        assert first["zorghub_unpublished_messages"][()] == 0
        # later records are added to the totals, not counted again from the start
        hub.send("ciz", "indicatiebesluit", dict(INDICATIE, besluitnummer="IB-2"), client_key="c1")
        text2, second = scrape(port)
        assert second["zorghub_audit_records_total"] == audit_counts(hub)
        delivered = (("action", "delivered"), ("kind", "indicatiebesluit"), ("outcome", "success"))
        assert second["zorghub_audit_records_total"][delivered] == 8
        pseudonyms = {str(r[0]) for r in hub.app.db.execute("SELECT DISTINCT client FROM audit") if r[0]}
        for scraped in (text, text2):
            assert "999990019" not in scraped and "123456789" not in scraped
            assert pseudonyms and not any(p in scraped for p in pseudonyms)
    finally:
        server.shutdown()
        db.close()


@pytest.mark.rabbitmq
def test_queue_depths_on_rabbitmq(amqp_settings: Settings) -> None:
    ctx = TestHub(amqp_settings, out=lambda _: None)
    server = db = None
    try:
        ctx.send("ciz", "indicatiebesluit", INDICATIE, client_key="c1")
        server, db = metrics.start(ctx.settings, 0)
        # the demo reads inboxes with basic_get, so the deliveries wait in the broker until then; the
        # management API samples queue lengths every few seconds
        deadline = time.monotonic() + 30
        while True:
            _, samples = scrape(server.server_port)
            ready = samples["zorghub_queue_ready"]
            if ready.get((("queue", "zorghub.inbox.cak"),)) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert samples["zorghub_broker_up"][()] == 1
        assert ready[(("queue", "zorghub.inbox.cak"),)] == 1
        assert ready[(("queue", "zorghub.inbox.zonnehof"),)] == 0
        assert (("queue", "zorghub.dlq"),) in samples["zorghub_queue_consumers"]
    finally:
        if server is not None:
            server.shutdown()
        if db is not None:
            db.close()
        ctx.close()


def test_metrics_on_a_taken_port_is_a_one_line_error(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from hub.app import HubApp

    HubApp.build(settings).close()  # the exporter on its own only reads: the store must be there
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    try:
        code = main(["metrics", "--port", str(taken.getsockname()[1])])
    finally:
        taken.close()
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot serve metrics on 127.0.0.1" in err
