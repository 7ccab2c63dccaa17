"""Seed 004 on the hub: GPs claim chain care through care group ZIO; valid claims go to the client's insurer.

Runs on the embedded default (memory://) and on RabbitMQ alike, through ``hub.testing.TestHub``.
"""

from __future__ import annotations

import orjson

from hub.flows.support import bsns, reported, rules_of, show
from hub.testing import TestHub


def _seed004(ctx: TestHub) -> bool:
    out = ctx.out
    out("Seed 004: GPs claim chain care through care group ZIO; valid claims go to the client's insurer.")
    gen = bsns(20000000)
    claim = {"declaratieId": "D-1", "programma": "dm2", "bsn": next(gen), "uzovi": "3311", "periode": "2026-03",
             "prestatiecode": "KZ-DM2", "bedragCent": 7450}
    out("Step 1. Maas claims diabetes care for a Noord client: forwarded in Noord's format (Vektis-style CSV).")
    ctx.send("ha-maas", "ketenzorg.declaratie", claim)
    got = show(ctx, ["zv-noord", "zv-zuid", "zio"])
    ok = len(got["zv-noord"]) == 1 and not got["zv-zuid"] and got["zv-noord"][0].properties["content_type"] \
        == "text/csv"
    out("Step 2. A Zuid client: forwarded to Zuid as JSON.")
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-2", bsn=next(gen), uzovi="7095"))
    got = show(ctx, ["zv-noord", "zv-zuid"])
    ok = ok and len(got["zv-zuid"]) == 1 and not got["zv-noord"]
    out("Step 3. Four claims break the rules:")
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-3", periode="2025-12"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-4", programma="astma"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-5", programma="copd", uzovi="7095"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-6"))
    got = show(ctx, ["ha-maas", "zv-noord", "zv-zuid"])
    ok = ok and rules_of(got["ha-maas"]) == ["NO_CONTRACT", "PROGRAMME_NOT_CONTRACTED", "INSURER_NOT_CONTRACTED",
                                           "DUPLICATE_CLAIM"] and not got["zv-noord"] and not got["zv-zuid"]
    out("Step 4. ZIO asks for its monthly totals per insurer:")
    ctx.send("zio", "ketenzorg.totalen", {"jaar": 2026})
    totals = orjson.loads(ctx.inbox("zio")[0].body)["totalen"]
    for t in totals:
        out(f"  {t['maand']}  {t['verzekeraar']:9s} {t['aantal']} claim(s)  EUR {t['bedragCent'] / 100:.2f}")
    ok = ok and [(t["verzekeraar"], t["aantal"]) for t in totals] == [("zv-noord", 1), ("zv-zuid", 1)]
    return ok


seed004 = reported(4, _seed004)
