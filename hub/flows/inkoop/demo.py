"""Seed 003 on the hub: Zorginkoopportaal between Zorgverzekeraar Noord and the hospitals.

Runs on the embedded default (memory://) and on RabbitMQ alike, through ``hub.testing.TestHub``.
"""

from __future__ import annotations

import orjson

from hub.flows.jobs import schedule
from hub.flows.support import at, kinds_of, reported, rules_of, set_clock, show
from hub.testing import TestHub


def _seed003(ctx: TestHub) -> bool:
    out = ctx.out
    out("Seed 003: Zorginkoopportaal between Zorgverzekeraar Noord and the hospitals.")
    set_clock(at("2026-03-02T08:00:00"))
    try:
        out("Step 1. uitvraag: Noord asks Antonius and Amstel to apply for a 2027 contract:")
        ctx.send("zv-noord", "inkoop.uitvraag", {
            "uitvraagId": "UV-2027-01", "titel": "Contractaanvraag MSZ 2027", "aan": ["zh-antonius", "zh-amstel"],
            "vragen": [{"id": "q1", "tekst": "Aantal heupoperaties 2025?"}],
            "voorstelBijAanvraag": {"jaar": 2027, "producten": [{"code": "DBC-HEUP", "prijsCent": 950000,
                                                                  "volume": 300}]}})
        show(ctx, ["zh-antonius", "zh-amstel"])
        out("Step 2. Antonius answers and applies: the answer goes to Noord, a proposal to Antonius:")
        ctx.send("zh-antonius", "inkoop.antwoord", {"uitvraagId": "UV-2027-01", "antwoorden": {"q1": 280},
                                                    "contractAanvraag": True})
        got = show(ctx, ["zv-noord", "zh-antonius"])
        ok = kinds_of(got["zh-antonius"]) == ["inkoop.voorstel"]
        pid = orjson.loads(got["zh-antonius"][0].body)["voorstelId"]
        out("Step 3. contracteer: Amstel tries to accept Antonius's proposal; Antonius accepts; then again:")
        ctx.send("zh-amstel", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        ctx.send("zh-antonius", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        ctx.send("zh-antonius", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        got = show(ctx, ["zh-amstel", "zh-antonius", "zv-noord"])
        ok = ok and rules_of(got["zh-amstel"]) == ["NOT_YOUR_PROPOSAL"] \
            and rules_of(got["zh-antonius"]) == ["ALREADY_DECIDED"] and kinds_of(got["zv-noord"]) == ["inkoop.besluit"]
        out("Step 4. onderhandel: offer, counter-offer, agreement on cataract surgery:")
        ctx.send("zv-noord", "inkoop.bod", {"onderhandelingId": "OH-1", "aan": "zh-antonius", "product": "DBC-STAAR",
                                            "prijsCent": 120000, "volume": 800})
        ctx.send("zh-antonius", "inkoop.bod", {"onderhandelingId": "OH-1", "product": "DBC-STAAR",
                                               "prijsCent": 135000, "volume": 750})
        ctx.send("zv-noord", "inkoop.bod", {"onderhandelingId": "OH-1", "akkoord": True})
        show(ctx, ["zh-antonius", "zv-noord"])
        out("Step 5. naleving: two delivery requests; one is delivered, the other is missing on 1 May:")
        for vid, due in (("NV-Q1", "2026-04-15"), ("NV-PROFIEL", "2026-04-30")):
            ctx.send("zv-noord", "inkoop.aanleververzoek", {"verzoekId": vid, "voorstelId": pid,
                                                            "onderwerp": "productiecijfers", "uiterlijk": due})
        ctx.send("zh-antonius", "inkoop.levering", {"verzoekId": "NV-Q1", "cijfers": [{"DBC-HEUP": 71}]})
        show(ctx, ["zh-antonius", "zv-noord"])
        set_clock(at("2026-05-01T08:00:00"))
        ctx.send("zh-antonius", "inkoop.dashboard", {})
        dash = orjson.loads(ctx.inbox("zh-antonius")[0].body)
        for v in dash["verzoeken"]:
            out(f"  {v['verzoekId']:11s} due {v['uiterlijk']}  {v['status']}")
        ok = ok and dash["ontbrekend"] == ["NV-PROFIEL"]
        out("Step 6. beheer: the scheduled jobs")
        for name in schedule.all_jobs(ctx.app):
            r = schedule.run(ctx.app, name)
            out(f"  {name:18s} {r['outcome']:8s} {r['result']}")
    finally:
        set_clock(None)
    return ok


seed003 = reported(3, _seed003)
