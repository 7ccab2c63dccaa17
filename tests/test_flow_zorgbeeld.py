"""Seed 002: Zorgbeeld reports, notifications, confirmations, stale reports and region-scoped reads."""

from __future__ import annotations

from hub.flows import support as common
from hub.flows.zorgbeeld import FLOW
from hub.settings import Settings
from hub.testing import TestHub, flow_suite
from tests.test_flow_support import set_today

REPORT = {"locatie": "NWG", "behandeling": "staar", "beschikbaar": "ja", "wachttijdWeken": 4, "status": "normaal"}
HIP = {"locatie": "AMS", "behandeling": "heup", "beschikbaar": "beperkt", "wachttijdWeken": 9, "status": "verhoogd"}


def test_zorgbeeld_end_to_end(hub: TestHub) -> None:
    antonius, amstel, oog, lcps, zv, nza = (hub[n] for n in ("zh-antonius", "zh-amstel", "zbc-oog", "lcps",
                                                             "zv-zuid", "nza"))
    set_today("2026-03-02")
    antonius.send("zorgbeeld.rapport", REPORT)
    for reader in (lcps, zv, hub["zv-noord"]):
        (m,) = reader.wait(1)
        assert m.kind == "zorgbeeld.rapport" and m.json()["behandeling"] == "staar"
    set_today("2026-03-04")
    antonius.send("zorgbeeld.rapport", REPORT)  # unchanged: a confirmation, nobody is notified
    amstel.send("zorgbeeld.rapport", HIP)
    assert lcps.wait(1)[0].json()["locatie"] == "AMS"
    assert zv.wait(1)[0].json()["locatie"] == "AMS"
    assert lcps.empty() and amstel.empty() and antonius.empty()

    # ten days after the last confirmation the weekly rhythm is missed: stale
    set_today("2026-03-12")
    amstel.send("zorgbeeld.rapport", dict(HIP, wachttijdWeken=12, status="hoog"))
    lcps.wait(1)
    zv.wait(1)
    zv.send("zorgbeeld.vraag", {})
    (beeld,) = zv.wait(1)
    stale = {r["aanbieder"]: r["stale"] for r in beeld.json()["reports"]}
    assert stale == {"zh-antonius": True, "zh-amstel": False}

    # a hospital reads its own ROAZ region only
    antonius.send("zorgbeeld.vraag", {})
    own = antonius.wait(1)[0].json()
    assert own["regio"] == "midden-nederland" and {r["aanbieder"] for r in own["reports"]} == {"zh-antonius"}
    assert own["reports"][0]["stale"] is True
    antonius.send("zorgbeeld.vraag", {"regio": "noord-holland-flevoland"})
    denied = antonius.receipt()
    assert denied["rule"] == "OTHER_REGION"
    lcps.send("zorgbeeld.vraag", {"historie": True})
    assert lcps.receipt()["rule"] == "HISTORY_NZA_ONLY"
    oog.send("zorgbeeld.bevestiging", {"alle": True})
    assert oog.receipt()["rule"] == "NO_REPORT"
    hub["ggz-dijk"].send("zorgbeeld.rapport", REPORT)
    assert hub["ggz-dijk"].receipt()["rule"] == "NOT_A_REPORTER"

    # confirming makes it current again; the NZa sees everything with history
    antonius.send("zorgbeeld.bevestiging", {"locatie": "NWG", "behandeling": "staar"})
    nza.send("zorgbeeld.vraag", {"historie": True})
    full = nza.wait(1)[0].json()
    assert not any(r["stale"] for r in full["reports"]) and len(full["history"]) == 3

    # CSV reports: one bad row refuses the file; a good file notifies the subscribers
    header = "peildatum;locatie_id;locatie_agb;behandeling;beschikbaar;wachttijd_weken;status\n"
    bad = header + "2026-03-12;OOG1;22010003;staar;ja;3;normaal\n2026-03-12;OOG1;22010003;lens;misschien;3;normaal\n"
    oog.send("zorgbeeld.csv", bad.encode(), content_type="text/csv")
    refused = oog.receipt()
    assert refused["rule"] == "ROW_ERRORS" and "line 3 beschikbaar" in refused["reason"]
    oog.send("zorgbeeld.csv", (header + "2026-03-12;OOG1;22010003;staar;ja;3;normaal\n").encode(),
             content_type="text/csv")
    assert lcps.wait(1)[0].json()["aanbieder"] == "zbc-oog"
    assert flow_suite(FLOW, hub).receipts >= 3


def test_rhythm_is_configurable(settings: Settings) -> None:
    from hub.flows.jobs import schedule
    from hub.flows.zorgbeeld import handlers as zorgbeeld

    ctx = TestHub(settings, out=lambda _: None)
    try:
        set_today("2026-03-02")
        ctx.send("zh-antonius", "zorgbeeld.rapport", REPORT)
        set_today("2026-03-12")
        assert zorgbeeld.picture(ctx.app, ctx.app.db)[0]["stale"] is True
        common.flow_settings(ctx.app, "zorgbeeld")["confirm_rhythm_days"] = 14
        assert zorgbeeld.picture(ctx.app, ctx.app.db)[0]["stale"] is False
        common.flow_settings(ctx.app, "zorgbeeld")["confirm_rhythm_days"] = 7
        assert schedule.run(ctx.app, "stale-check")["result"] == "1 stale report(s)"
    finally:
        common.set_clock(None)
        ctx.close()
