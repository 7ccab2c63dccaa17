"""Seed 001: NZa OHW deliveries (file adapter and AMQP), row-level receipts, calendar, care clusters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.flows import support as common
from hub.flows.nza import FLOW
from hub.flows.nza import handlers as nza
from hub.flows.nza.demo import ohw_zip
from hub.settings import Settings
from hub.testing import TestHub, flow_suite
from tests.test_flow_support import rules, set_today

BSN = "999990019"



def test_ohw_and_care_clusters_end_to_end(hub: TestHub, tmp_path: Path) -> None:
    from hub.ops.files import FileDropAdapter

    set_today("2026-03-10")
    dijk, veld, nza_party, zv = hub["ggz-dijk"], hub["ggz-veld"], hub["nza"], hub["zv-noord"]

    # happy path through the watched directory, as ggz-dijk (on RabbitMQ with its own broker credentials)
    drop = tmp_path / "drop"
    drop.mkdir()
    zip_bytes = ohw_zip("06220011", "2026-03", 50)
    (drop / "ohw-2026-03.zip").write_bytes(zip_bytes)
    adapter = FileDropAdapter(drop, hub.client("ggz-dijk"), {".zip": "nza.ohw"}, settle_seconds=0)
    [(_, file_mid)] = adapter.scan_once()
    hub.note_sent(file_mid, zip_bytes)
    (m,) = dijk.wait(1)
    receipt = m.json()
    assert m.kind == nza.RECEIPT and receipt["status"] == "accepted" and receipt["onTime"] is True
    assert receipt["okRows"] == 50 and receipt["errors"] == []
    (delivered,) = nza_party.wait(1)
    assert delivered.body == zip_bytes and delivered.kind == "nza.ohw"
    assert delivered.headers["x-sender"] == "ggz-dijk" and delivered.headers["x-period"] == "2026-03"

    # three bad rows among 5,000, over AMQP: refused, and the receipt lists exactly those three
    veld.send("nza.ohw", ohw_zip("06220022", "2026-03", 5000, bad_lines=[2, 2500], bad_bsn_lines=[4999]),
              content_type="application/zip")
    (m,) = veld.wait(1)
    receipt = m.json()
    assert receipt["status"] == "rejected" and receipt["rule"] == "ROW_ERRORS"
    assert [(e["line"], e["column"]) for e in receipt["errors"]] == [(2, "minuten"), (2500, "minuten"),
                                                                     (4999, "client_bsn")]
    assert receipt["badRows"] == 3 and receipt["okRows"] == 4997
    scanned = m.body.replace(b"ohw.csv", b"").replace(receipt["messageId"].encode(), b"")  # a uuid may hold 9 digits
    assert not re.search(rb"(?<!\d)\d{9}(?!\d)", scanned), "a BSN-like number leaked"

    # denials: a pakbon with another provider's AGB; an insurer may not deliver OHW
    veld.send("nza.ohw", ohw_zip("06220011", "2026-03", 5), content_type="application/zip")
    bad_agb = veld.wait(1)[0].json()
    assert bad_agb["status"] == "rejected" and bad_agb["errors"][0]["column"] == "zorgaanbieder_agb"
    zv.send("nza.ohw", ohw_zip("06220011", "2026-03", 5), content_type="application/zip")
    assert zv.receipt()["rule"] == "SENDER_ROLE"
    assert nza_party.empty()

    # care clusters: start, then the client leaves early -> evaluation requested; evaluation without start refused
    start = {"trajectId": "T-1", "bsn": BSN, "moment": "start", "zorgcluster": 7, "datum": "2026-02-01",
             "evaluatieDatum": "2026-08-01"}
    dijk.send("nza.zorgcluster", start, key="t1")
    assert [x.kind for x in nza_party.wait(1)] == ["nza.zorgcluster"]
    dijk.send("nza.uitzorg", {"trajectId": "T-1", "bsn": BSN, "datum": "2026-03-09"}, key="t1")
    (ask,) = dijk.wait(1)
    assert ask.kind == "nza.evaluatie.gevraagd" and ask.json()["trajectId"] == "T-1"
    assert BSN.encode() not in ask.body
    assert [x.kind for x in nza_party.wait(1)] == ["nza.uitzorg"]
    veld.send("nza.zorgcluster", dict(start, moment="evaluatie", trajectId="T-9"), key="t9")
    denied = veld.receipt()
    assert denied["rule"] == "NO_START" and BSN not in str(denied)
    dijk.send("nza.uitzorg", {"trajectId": "T-404", "bsn": BSN, "datum": "2026-03-09"})
    assert rules([dijk.receipt()]) == ["UNKNOWN_TRAJECTORY"]

    cal = {(c["provider"], c["period"]): c["status"] for c in nza.calendar(hub.app, hub.app.db)}
    assert cal[("ggz-dijk", "2026-03")] == "received" and cal[("ggz-veld", "2026-03")] == "rejected"
    suite = flow_suite(FLOW, hub)
    assert suite.receipts >= 5 and BSN in suite.bsns


def test_late_delivery_shows_as_late(settings: Settings, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.main import main

    ctx = TestHub(settings, out=lambda _: None)
    try:
        set_today("2026-02-14")
        ctx.send("ggz-dijk", "nza.ohw", ohw_zip("06220011", "2026-02", 10), content_type="application/zip")
        set_today("2026-02-20")
        ctx.send("ggz-veld", "nza.ohw", ohw_zip("06220022", "2026-02", 10), content_type="application/zip")
        late = [c for c in ctx.inbox("ggz-veld")]
        assert len(late) == 1
    finally:
        common.set_clock(None)
        ctx.close()
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["nza", "deliveries", "--today", "2026-03-05"]) == 0
    lines = {tuple(line.split()[:2]): line.split()[3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines[("ggz-dijk", "2026-02")] == "received"
    assert lines[("ggz-veld", "2026-02")] == "late"
    assert lines[("ggz-dijk", "2026-01")] == "late"  # nothing delivered, past the 15th
    assert lines[("ggz-dijk", "2026-03")] == "due"
    assert main(["nza", "deliveries", "--today", "2026-03-05", "--rhythm", "2"]) == 0
    periods = {line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert periods == {"2026-01", "2026-03"}
    assert main(["audit", "verify"]) == 0
