"""Seed 004: ketenzorg claims checked against the care group's contracts and sent to the right insurer."""

from __future__ import annotations

import csv
import io

import pytest

from hub.flows.ketenzorg import FLOW
from hub.flows.support import bsns
from hub.testing import TestHub, flow_suite


def test_ketenzorg_end_to_end(hub: TestHub, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    maas, heuvel, noord, zuid, zio = hub["ha-maas"], hub["ha-heuvel"], hub["zv-noord"], hub["zv-zuid"], hub["zio"]
    gen = bsns(30000000)
    client = next(gen)
    claim = {"declaratieId": "D-1", "programma": "dm2", "bsn": client, "uzovi": "3311", "periode": "2026-03",
             "prestatiecode": "KZ-DM2", "bedragCent": 7450}

    # valid: to the client's insurer only, in its format (Noord: Vektis-style CSV; Zuid: JSON)
    maas.send("ketenzorg.declaratie", claim)
    (m,) = noord.wait(1)
    assert m.content_type == "text/csv" and m.headers["x-sender"] == "ha-maas"
    row = next(csv.DictReader(io.StringIO(m.body.decode()), delimiter=";"))
    assert row["agb_zorgaanbieder"] == "01012345" and row["bsn"] == client and row["bedrag_cent"] == "7450"
    assert zuid.empty() and zio.empty() and maas.empty()
    heuvel.send("ketenzorg.declaratie", dict(claim, declaratieId="H-1", programma="astma", uzovi="7095",
                                             bsn=next(gen)))
    (z,) = zuid.wait(1)
    assert z.content_type == "application/json" and z.json()["programma"] == "astma"
    assert noord.empty()

    # the four rules, each with its reason; none of the receipts carries the BSN
    cases = [
        (dict(claim, declaratieId="D-2", periode="2025-11"), "NO_CONTRACT"),
        (dict(claim, declaratieId="D-3", programma="hvz"), "PROGRAMME_NOT_CONTRACTED"),
        (dict(claim, declaratieId="D-4", programma="copd", uzovi="7095"), "INSURER_NOT_CONTRACTED"),
        (dict(claim, declaratieId="D-5"), "DUPLICATE_CLAIM"),
    ]
    for body, rule in cases:
        maas.send("ketenzorg.declaratie", body)
        receipt = maas.receipt()
        assert receipt["rule"] == rule, receipt
        assert client not in str(receipt)
    assert noord.empty() and zuid.empty()
    heuvel.send("ketenzorg.declaratie", dict(claim, declaratieId="H-2", programma="dm2"))
    assert heuvel.receipt()["rule"] == "PROGRAMME_NOT_CONTRACTED"

    # monthly totals per insurer, for the care group only
    maas.send("ketenzorg.declaratie", dict(claim, declaratieId="D-6", periode="2026-04", bsn=next(gen),
                                           bedragCent=5000))
    noord.wait(1)
    zio.send("ketenzorg.totalen", {"jaar": 2026})
    totals = zio.wait(1)[0].json()["totalen"]
    assert totals == [{"verzekeraar": "zv-noord", "maand": "2026-03", "aantal": 1, "bedragCent": 7450},
                      {"verzekeraar": "zv-zuid", "maand": "2026-03", "aantal": 1, "bedragCent": 7450},
                      {"verzekeraar": "zv-noord", "maand": "2026-04", "aantal": 1, "bedragCent": 5000}]
    maas.send("ketenzorg.totalen", {})
    assert maas.receipt()["rule"] == "SENDER_ROLE"

    from hub.cli.main import main

    monkeypatch.setenv("ZORGHUB_HOME", hub.settings.home)
    capsys.readouterr()
    assert main(["--store", hub.settings.effective_store_url, "ketenzorg", "claims", "--year", "2026"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    suite = flow_suite(FLOW, hub)
    assert suite.receipts >= 6 and client in suite.bsns
