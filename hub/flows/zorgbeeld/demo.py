"""Seed 002 on the hub: hospitals report capacity to Zorgbeeld; readers see their part of the picture.

Runs on the embedded default (memory://) and on RabbitMQ alike, through ``hub.testing.TestHub``.
"""

from __future__ import annotations

import orjson

from hub.flows.support import at, reported, rules_of, set_clock, show
from hub.testing import TestHub


def _seed002(ctx: TestHub) -> bool:
    out = ctx.out
    out("Seed 002: hospitals report capacity to Zorgbeeld; readers see their part of the picture.")
    set_clock(at("2026-03-02T08:00:00"))
    try:
        out("Step 1. Antonius (ROAZ Midden-Nederland) reports cataract surgery at its Nieuwegein location:")
        report = {"locatie": "NWG", "behandeling": "staar", "beschikbaar": "ja", "wachttijdWeken": 4,
                  "status": "normaal"}
        ctx.send("zh-antonius", "zorgbeeld.rapport", report)
        got = show(ctx, ["lcps", "zv-noord", "zv-zuid", "zh-amstel"])
        ok = {k for k, v in got.items() if v} == {"lcps", "zv-noord", "zv-zuid"}
        out("Step 2. Amstel (Noord-Holland/Flevoland) reports hip surgery; a week on it changes its status.")
        hip = {"locatie": "AMS", "behandeling": "heup", "beschikbaar": "beperkt", "wachttijdWeken": 9,
               "status": "verhoogd"}
        ctx.send("zh-amstel", "zorgbeeld.rapport", hip)
        set_clock(at("2026-03-09T08:00:00"))
        ctx.send("zh-amstel", "zorgbeeld.rapport", dict(hip, wachttijdWeken=12, status="hoog"))
        show(ctx, ["lcps", "zv-noord", "zv-zuid"])
        out("Step 3. On 12 March Antonius has not confirmed for ten days (rhythm: weekly). The LCPS asks:")
        set_clock(at("2026-03-12T08:00:00"))
        ctx.send("lcps", "zorgbeeld.vraag", {})
        beeld = orjson.loads(ctx.inbox("lcps")[0].body)
        for r in beeld["reports"]:
            out(f"  {r['aanbieder']:12s} {r['regio']:24s} {r['behandeling']:6s} {r['status']:9s} "
                f"wait {r['wachttijdWeken']:2d} wk  {'STALE' if r['stale'] else 'current'}")
        stale = {r["aanbieder"]: r["stale"] for r in beeld["reports"]}
        ok = ok and stale == {"zh-antonius": True, "zh-amstel": False}
        out("Step 4. Antonius confirms; Amstel asks for Midden-Nederland and is refused:")
        ctx.send("zh-antonius", "zorgbeeld.bevestiging", {"alle": True})
        ctx.send("zh-amstel", "zorgbeeld.vraag", {"regio": "midden-nederland"})
        got = show(ctx, ["zh-amstel"])
        ok = ok and rules_of(got["zh-amstel"]) == ["OTHER_REGION"]
        out("Step 5. The NZa sees everything, with history:")
        ctx.send("nza", "zorgbeeld.vraag", {"historie": True})
        beeld = orjson.loads(ctx.inbox("nza")[0].body)
        out(f"  {len(beeld['reports'])} current report(s), {len(beeld['history'])} in the history, "
            f"{sum(r['stale'] for r in beeld['reports'])} stale")
        ok = ok and len(beeld["history"]) == 3 and not any(r["stale"] for r in beeld["reports"])
    finally:
        set_clock(None)
    return ok


seed002 = reported(2, _seed002)
