"""Acceptance, on RabbitMQ: inputs that cannot fool the hub.

Duplicate JSON keys are refused with their path; a sender's own hub headers never reach a recipient;
a BSN sent as the AMQP ``type`` is no metric label; a BSN written with dots or spaces is redacted in
receipts, dead-letter reasons and log lines.
"""

from __future__ import annotations

import logging
import urllib.request

import orjson
import pytest

from hub.ops import metrics
from hub.testing import TestHub
from tests.test_inputs_files import dead_letters

INDICATIE = {"besluitnummer": "IB-1", "ingangsdatum": "2026-11-01", "zzp": "5VV",
             "client": {"bsn": "999990019", "gemeentecode": "0344", "postcode": "3511AB"},
             "voorkeurZorgaanbieder": "73730800"}
RECIPIENTS = ("zk-utrecht", "pgo-geelhoed", "pgo-jansen", "bos-en-duin", "cak")
GROUPED = ("999.990.019", "9999 90019")


@pytest.mark.rabbitmq
def test_duplicate_keys_are_refused_with_their_path(hub: TestHub) -> None:
    ciz = hub["ciz"]
    body = orjson.dumps(INDICATIE).replace(  # a second client after the first, in the same object
        b'"client":{"bsn":"999990019"', b'"client":{"bsn":"999990019","bsn":"999991772"')
    assert body.count(b'"bsn"') == 2
    mid = ciz.send("indicatiebesluit", body)
    receipt = ciz.receipt()
    assert receipt["rule"] == "JSON_DUPLICATE_KEY" and "$.client.bsn" in receipt["reason"]
    assert "999991772" not in receipt["reason"]
    assert dead_letters(hub.settings)[mid].rule == "JSON_DUPLICATE_KEY"
    whole = orjson.dumps(INDICATIE).replace(b'"zzp":"5VV"', b'"client":{"bsn":"999991772"},"zzp":"5VV"')
    ciz.send("indicatiebesluit", whole)
    assert "$.client" in ciz.receipt()["reason"]
    for name in RECIPIENTS:
        assert hub[name].empty(), f"{name} received a message with a duplicate key"


@pytest.mark.rabbitmq
def test_a_senders_hub_headers_never_reach_a_recipient(hub: TestHub) -> None:
    forged = {"x-network-sequence": 7, "x-network-subscription": "forged", "x-network-event-type": "forged",
              "x-sender": "cak", "x-sender-id": "forged", "x-sender-id-type": "AGB", "X-Mapping": "forged",
              "x-original-sender": "zk-utrecht", "x-retries": 99, "x-status": "accepted", "x-rule": "forged",
              "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    hub["ciz"].send("indicatiebesluit", INDICATIE, headers=forged)
    for name in ("zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak"):
        (m,) = hub[name].wait(1)
        assert m.headers["x-sender"] == "ciz", (name, m.headers)
        assert not any(k.startswith("x-network-") for k in m.headers), (name, m.headers)
        assert "forged" not in repr(m.headers) and "x-retries" not in m.headers and "x-status" not in m.headers
        assert m.headers["traceparent"] == forged["traceparent"]  # a sender's own trace context is kept
    rows = hub.app.db.execute("SELECT DISTINCT actor FROM audit WHERE action = 'received'")
    assert [r[0] for r in rows] == ["ciz"]


@pytest.mark.rabbitmq
def test_a_bsn_as_type_is_no_metric_label_and_grouped_bsns_are_redacted(
        hub: TestHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zorghub")
    ciz, dijk = hub["ciz"], hub["ggz-dijk"]
    sent: list[str] = []
    for kind in ("999990019", *GROUPED):
        sent.append(ciz.send(kind, INDICATIE))
        receipt = ciz.receipt()
        assert receipt["rule"] == "UNKNOWN_KIND"
        assert kind not in receipt["reason"] and "999990019" not in receipt["reason"]
    for bsn in GROUPED:  # the schema's message quotes the value it refuses
        sent.append(dijk.send("nza.zorgcluster", {"trajectId": "T-1", "bsn": bsn, "moment": "start",
                                                  "zorgcluster": 7, "datum": "2026-02-01"}))
        receipt = dijk.receipt()
        assert receipt["rule"] == "SCHEMA:pattern" and "does not match" in receipt["reason"], receipt
        assert bsn not in receipt["reason"] and "*********" in receipt["reason"]
    parked = dead_letters(hub.settings)
    reasons = " ".join(parked[m].reason for m in sent)
    audit = " ".join(str(r[0]) for r in hub.app.db.execute("SELECT reason FROM audit"))
    for text in (reasons, audit, caplog.text):
        for bsn in ("999990019", *GROUPED):
            assert bsn not in text
    assert "*********" in reasons and "rejected" in caplog.text

    server, db = metrics.start(hub.settings, 0)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).read().decode()
    finally:
        server.shutdown()
        db.close()
    assert 'kind="unknown"' in text and 'kind="nza.zorgcluster"' in text
    for bsn in ("999990019", *GROUPED):
        assert bsn not in text
