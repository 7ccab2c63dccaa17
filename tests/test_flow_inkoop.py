"""Seed 003: uitvraag, contracteer, onderhandel, naleving and beheer between insurers and providers."""

from __future__ import annotations

import pytest

from hub.flows.inkoop import FLOW
from hub.testing import TestHub, flow_suite
from tests.test_flow_support import set_today


def test_inkoop_end_to_end(hub: TestHub, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    noord, zuid, antonius, amstel = hub["zv-noord"], hub["zv-zuid"], hub["zh-antonius"], hub["zh-amstel"]
    set_today("2026-03-02")

    # uitvraag: to two providers; an answer with a contract application triggers the standing proposal
    noord.send("inkoop.uitvraag", {
        "uitvraagId": "UV-1", "titel": "Contractaanvraag 2027", "aan": ["zh-antonius", "zh-amstel"],
        "vragen": [{"id": "q1"}],
        "voorstelBijAanvraag": {"jaar": 2027, "producten": [{"code": "DBC-HEUP", "prijsCent": 950000, "volume": 300}]}})
    assert antonius.wait(1)[0].kind == "inkoop.uitvraag" and amstel.wait(1)[0].kind == "inkoop.uitvraag"
    hub["zbc-oog"].send("inkoop.antwoord", {"uitvraagId": "UV-1", "antwoorden": {}})
    assert hub["zbc-oog"].receipt()["rule"] == "NOT_ADDRESSED"
    antonius.send("inkoop.antwoord", {"uitvraagId": "UV-1", "antwoorden": {"q1": 280}, "contractAanvraag": True})
    assert noord.wait(1)[0].kind == "inkoop.antwoord"
    (voorstel,) = antonius.wait(1)
    pid = voorstel.json()["voorstelId"]
    assert voorstel.kind == "inkoop.voorstel" and voorstel.json()["producten"][0]["code"] == "DBC-HEUP"

    # contracteer: another provider cannot accept; the provider accepts once; accepting is final
    amstel.send("inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
    assert amstel.receipt()["rule"] == "NOT_YOUR_PROPOSAL"
    antonius.send("inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
    assert noord.wait(1)[0].json()["besluit"] == "akkoord"
    antonius.send("inkoop.besluit", {"voorstelId": pid, "besluit": "afgewezen"})
    assert antonius.receipt()["rule"] == "ALREADY_DECIDED"
    antonius.send("inkoop.contract.vraag", {"voorstelId": pid})
    contract = antonius.wait(1)[0].json()
    assert contract["status"] == "akkoord" and contract["voorstel"]["voorstelId"] == pid
    zuid.send("inkoop.contract.vraag", {"voorstelId": pid})
    assert zuid.receipt()["rule"] == "NOT_A_PARTY"
    accepted = [r for r in hub.app.audit.records("action = ?", ("contract_akkoord",))]
    assert len(accepted) == 1 and accepted[0].record_id == pid and accepted[0].actor == "zh-antonius"

    # onderhandel: offer, counter-offer, agreement; out of turn and after agreement are refused
    noord.send("inkoop.bod", {"onderhandelingId": "OH-1", "aan": "zh-antonius", "product": "DBC-STAAR",
                              "prijsCent": 120000, "volume": 800})
    antonius.wait(1)
    noord.send("inkoop.bod", {"onderhandelingId": "OH-1", "product": "DBC-STAAR", "prijsCent": 125000, "volume": 800})
    assert noord.receipt()["rule"] == "NOT_YOUR_TURN"
    antonius.send("inkoop.bod", {"onderhandelingId": "OH-1", "product": "DBC-STAAR", "prijsCent": 135000,
                                 "volume": 750})
    assert noord.wait(1)[0].json()["prijsCent"] == 135000
    noord.send("inkoop.bod", {"onderhandelingId": "OH-1", "akkoord": True})
    assert antonius.wait(1)[0].json()["akkoord"] is True
    antonius.send("inkoop.bod", {"onderhandelingId": "OH-1", "product": "DBC-STAAR", "prijsCent": 1, "volume": 1})
    assert antonius.receipt()["rule"] == "NEGOTIATION_CLOSED"
    amstel.send("inkoop.bod", {"onderhandelingId": "OH-1", "akkoord": True})
    assert amstel.receipt()["rule"] == "NOT_A_PARTY"

    # naleving: two requests, one delivered; the dashboard lists the missing one once it is due
    for vid, due in (("NV-Q1", "2026-04-15"), ("NV-PROFIEL", "2026-04-30")):
        noord.send("inkoop.aanleververzoek", {"verzoekId": vid, "voorstelId": pid, "onderwerp": "productie",
                                              "uiterlijk": due})
    assert len(antonius.wait(2)) == 2
    amstel.send("inkoop.levering", {"verzoekId": "NV-Q1", "cijfers": []})
    assert amstel.receipt()["rule"] == "NOT_YOUR_REQUEST"
    antonius.send("inkoop.levering", {"verzoekId": "NV-Q1", "cijfers": [{"DBC-HEUP": 71}]})
    assert noord.wait(1)[0].kind == "inkoop.levering"
    set_today("2026-05-01")
    noord.send("inkoop.dashboard", {})
    dash = noord.wait(1)[0].json()
    assert dash["ontbrekend"] == ["NV-PROFIEL"]
    assert {v["verzoekId"]: v["status"] for v in dash["verzoeken"]} == {"NV-Q1": "ontvangen",
                                                                       "NV-PROFIEL": "ontbreekt"}

    # beheer: communication per party and the scheduled jobs
    from hub.cli.main import main

    monkeypatch.setenv("ZORGHUB_HOME", hub.settings.home)
    capsys.readouterr()
    assert main(["--store", hub.settings.effective_store_url, "communication"]) == 0
    table = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert table["zh-antonius"][:2] == ["5", "2"] and table["zh-amstel"][3] == "3"  # sent, failed; rejections
    assert main(["--store", hub.settings.effective_store_url, "jobs", "run", "--all"]) == 0
    assert main(["--store", hub.settings.effective_store_url, "jobs"]) == 0
    out = capsys.readouterr().out
    assert "delivery-calendar" in out and "stale-check" in out and "retention" in out
    assert main(["--store", hub.settings.effective_store_url, "inkoop", "dashboard", "zv-noord"]) == 0
    assert "NV-PROFIEL" in capsys.readouterr().out
    assert flow_suite(FLOW, hub).receipts >= 3
