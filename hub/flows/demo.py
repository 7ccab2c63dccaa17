"""Walk-throughs of seeds 001-004, registered in ``hub.demo.DEMOS`` on import.

They run on the embedded default (memory://) and on RabbitMQ alike, through ``DemoContext``.
The helpers that build realistic deliveries (OHW ZIPs, valid BSNs) serve the tests too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.demo import DEMOS, DemoContext, describe
from hub.flows import inkoop, jobs, ketenzorg, nza, zorgbeeld
from hub.flows import support as common
from hub.formats import csvbatch

OHW_HEADER = "zorgaanbieder_agb;traject_id;client_bsn;zorgvraagtypering;traject_startdatum;activiteit_code;" \
             "activiteit_datum;minuten"


def bsns(start: int = 10000000) -> Iterator[str]:
    """Valid (elfproef) test BSNs."""
    n = start
    while True:
        digits = f"{n:08d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        n += 1
        if check < 10 and digits != "00000000":
            yield digits + str(check)


def ohw_csv(agb: str, rows: int, bad_lines: Iterable[int] = (), bad_bsn_lines: Iterable[int] = ()) -> bytes:
    """An OHW CSV with ``rows`` data rows; the given physical lines (2 = first data row) are broken."""
    bad, bad_bsn = set(bad_lines), set(bad_bsn_lines)
    gen = bsns()
    lines = [OHW_HEADER]
    for i in range(rows):
        line = i + 2
        minutes = "abc" if line in bad else str(15 + i % 60)
        bsn = "123456789" if line in bad_bsn else next(gen)
        lines.append(f"{agb};T{i:06d};{bsn};{i % 22:02d};2026-01-05;AC{i % 50:03d};2026-02-03;{minutes}")
    return ("\n".join(lines) + "\n").encode()


def ohw_zip(agb: str, period: str, rows: int = 20, bad_lines: Iterable[int] = (),
            bad_bsn_lines: Iterable[int] = ()) -> bytes:
    return csvbatch.make_pakbon(agb, period, {"ohw.csv": ohw_csv(agb, rows, bad_lines, bad_bsn_lines)})


def _at(text: str) -> Callable[[], datetime]:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return lambda: moment


def _show(ctx: DemoContext, parties: Iterable[str]) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = {}
    for name in parties:
        msgs = ctx.inbox(name)
        got[name] = msgs
        for m in msgs:
            ctx.out(f"  -> {name:12s} {_describe(m)}")
    return got


def _describe(m: Any) -> str:
    kind = m.properties.get("type")
    if kind == nza.RECEIPT:
        body = orjson.loads(m.body)
        text = f"receipt {body['status']} for period {body['period']}: {body['okRows']} ok, {body['badRows']} bad"
        return text + "".join(f"\n{'':18s}line {e['line']} {e['column']}: {e['reason']}" for e in body["errors"])
    return describe(m)


def _kinds(msgs: list[Any]) -> list[str]:
    return [str(m.properties.get("type")) for m in msgs]


def _rules(msgs: list[Any]) -> list[str]:
    return [orjson.loads(m.body)["rule"] for m in msgs if m.properties.get("type") == "zorghub.receipt"]


def seed001(ctx: DemoContext) -> bool:
    out = ctx.out
    out("Seed 001: GGZ providers score care clusters and deliver their onderhanden werk to the NZa.")
    common.set_clock(_at("2026-03-10T09:00:00"))
    try:
        out("Step 1. GGZ De Dijk scores a client's care cluster at the start of treatment:")
        start = {"trajectId": "T-2026-0042", "bsn": "999990019", "moment": "start", "zorgcluster": 7,
                 "datum": "2026-02-01", "evaluatieDatum": "2026-08-01"}
        ctx.send("ggz-dijk", "nza.zorgcluster", start, client_key="t-0042")
        ok = _kinds(_show(ctx, ["nza"])["nza"]) == ["nza.zorgcluster"]
        out("Step 2. The client leaves care early: the NZa is told and the evaluation becomes due:")
        ctx.send("ggz-dijk", "nza.uitzorg", {"trajectId": "T-2026-0042", "bsn": "999990019", "datum": "2026-03-09"},
                 client_key="t-0042")
        got = _show(ctx, ["nza", "ggz-dijk"])
        ok = ok and _kinds(got["ggz-dijk"]) == ["nza.evaluatie.gevraagd"] and _kinds(got["nza"]) == ["nza.uitzorg"]
        out("Step 3. On 10 March both deliver the OHW for period 2026-03 (due by the 15th) as a ZIP with a pakbon.")
        out("        De Dijk's is clean; Het Veld's has two bad rows among 200:")
        ctx.send("ggz-dijk", "nza.ohw", ohw_zip("06220011", "2026-03", 200), content_type="application/zip",
                 headers={"x-filename": "ohw-2026-03.zip"})
        ctx.send("ggz-veld", "nza.ohw", ohw_zip("06220022", "2026-03", 200, bad_lines=[17, 150]),
                 content_type="application/zip", headers={"x-filename": "ohw-2026-03.zip"})
        got = _show(ctx, ["nza", "ggz-dijk", "ggz-veld"])
        veld = [orjson.loads(m.body) for m in got["ggz-veld"]]
        ok = ok and _kinds(got["nza"]) == ["nza.ohw"] and len(veld) == 1 and veld[0]["status"] == "rejected" \
            and [e["line"] for e in veld[0]["errors"]] == [17, 150]
        out("Step 4. Het Veld corrects the file on the 20th: accepted, but late.")
        common.set_clock(_at("2026-03-20T09:00:00"))
        ctx.send("ggz-veld", "nza.ohw", ohw_zip("06220022", "2026-03", 200), content_type="application/zip")
        got = _show(ctx, ["nza", "ggz-veld"])
        ok = ok and orjson.loads(got["ggz-veld"][0].body).get("onTime") is False
        out("Step 5. The delivery calendar (zorghub deliveries) on 20 March:")
        for c in nza.calendar(ctx.app, ctx.app.db):
            out(f"  {c['provider']:10s} {c['period']}  due {c['due']}  {c['status']:9s} {c['received_at']}")
        cal = {(c["provider"], c["period"]): c["status"] for c in nza.calendar(ctx.app, ctx.app.db)}
        ok = ok and cal[("ggz-dijk", "2026-03")] == "received" and cal[("ggz-veld", "2026-03")] == "late"
    finally:
        common.set_clock(None)
    return ok


def seed002(ctx: DemoContext) -> bool:
    out = ctx.out
    out("Seed 002: hospitals report capacity to Zorgbeeld; readers see their part of the picture.")
    common.set_clock(_at("2026-03-02T08:00:00"))
    try:
        out("Step 1. Antonius (ROAZ Midden-Nederland) reports cataract surgery at its Nieuwegein location:")
        report = {"locatie": "NWG", "behandeling": "staar", "beschikbaar": "ja", "wachttijdWeken": 4,
                  "status": "normaal"}
        ctx.send("zh-antonius", "zorgbeeld.rapport", report)
        got = _show(ctx, ["lcps", "zv-noord", "zv-zuid", "zh-amstel"])
        ok = {k for k, v in got.items() if v} == {"lcps", "zv-noord", "zv-zuid"}
        out("Step 2. Amstel (Noord-Holland/Flevoland) reports hip surgery; a week on it changes its status.")
        hip = {"locatie": "AMS", "behandeling": "heup", "beschikbaar": "beperkt", "wachttijdWeken": 9,
               "status": "verhoogd"}
        ctx.send("zh-amstel", "zorgbeeld.rapport", hip)
        common.set_clock(_at("2026-03-09T08:00:00"))
        ctx.send("zh-amstel", "zorgbeeld.rapport", dict(hip, wachttijdWeken=12, status="hoog"))
        _show(ctx, ["lcps", "zv-noord", "zv-zuid"])
        out("Step 3. On 12 March Antonius has not confirmed for ten days (rhythm: weekly). The LCPS asks:")
        common.set_clock(_at("2026-03-12T08:00:00"))
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
        got = _show(ctx, ["zh-amstel"])
        ok = ok and _rules(got["zh-amstel"]) == ["OTHER_REGION"]
        out("Step 5. The NZa sees everything, with history:")
        ctx.send("nza", "zorgbeeld.vraag", {"historie": True})
        beeld = orjson.loads(ctx.inbox("nza")[0].body)
        out(f"  {len(beeld['reports'])} current report(s), {len(beeld['history'])} in the history, "
            f"{sum(r['stale'] for r in beeld['reports'])} stale")
        ok = ok and len(beeld["history"]) == 3 and not any(r["stale"] for r in beeld["reports"])
    finally:
        common.set_clock(None)
    return ok


def seed003(ctx: DemoContext) -> bool:
    out = ctx.out
    out("Seed 003: Zorginkoopportaal between Zorgverzekeraar Noord and the hospitals.")
    common.set_clock(_at("2026-03-02T08:00:00"))
    try:
        out("Step 1. uitvraag: Noord asks Antonius and Amstel to apply for a 2027 contract:")
        ctx.send("zv-noord", "inkoop.uitvraag", {
            "uitvraagId": "UV-2027-01", "titel": "Contractaanvraag MSZ 2027", "aan": ["zh-antonius", "zh-amstel"],
            "vragen": [{"id": "q1", "tekst": "Aantal heupoperaties 2025?"}],
            "voorstelBijAanvraag": {"jaar": 2027, "producten": [{"code": "DBC-HEUP", "prijsCent": 950000,
                                                                  "volume": 300}]}})
        _show(ctx, ["zh-antonius", "zh-amstel"])
        out("Step 2. Antonius answers and applies: the answer goes to Noord, a proposal to Antonius:")
        ctx.send("zh-antonius", "inkoop.antwoord", {"uitvraagId": "UV-2027-01", "antwoorden": {"q1": 280},
                                                    "contractAanvraag": True})
        got = _show(ctx, ["zv-noord", "zh-antonius"])
        ok = _kinds(got["zh-antonius"]) == ["inkoop.voorstel"]
        pid = orjson.loads(got["zh-antonius"][0].body)["voorstelId"]
        out("Step 3. contracteer: Amstel tries to accept Antonius's proposal; Antonius accepts; then again:")
        ctx.send("zh-amstel", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        ctx.send("zh-antonius", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        ctx.send("zh-antonius", "inkoop.besluit", {"voorstelId": pid, "besluit": "akkoord"})
        got = _show(ctx, ["zh-amstel", "zh-antonius", "zv-noord"])
        ok = ok and _rules(got["zh-amstel"]) == ["NOT_YOUR_PROPOSAL"] \
            and _rules(got["zh-antonius"]) == ["ALREADY_DECIDED"] and _kinds(got["zv-noord"]) == ["inkoop.besluit"]
        out("Step 4. onderhandel: offer, counter-offer, agreement on cataract surgery:")
        ctx.send("zv-noord", "inkoop.bod", {"onderhandelingId": "OH-1", "aan": "zh-antonius", "product": "DBC-STAAR",
                                            "prijsCent": 120000, "volume": 800})
        ctx.send("zh-antonius", "inkoop.bod", {"onderhandelingId": "OH-1", "product": "DBC-STAAR",
                                               "prijsCent": 135000, "volume": 750})
        ctx.send("zv-noord", "inkoop.bod", {"onderhandelingId": "OH-1", "akkoord": True})
        _show(ctx, ["zh-antonius", "zv-noord"])
        out("Step 5. naleving: two delivery requests; one is delivered, the other is missing on 1 May:")
        for vid, due in (("NV-Q1", "2026-04-15"), ("NV-PROFIEL", "2026-04-30")):
            ctx.send("zv-noord", "inkoop.aanleververzoek", {"verzoekId": vid, "voorstelId": pid,
                                                            "onderwerp": "productiecijfers", "uiterlijk": due})
        ctx.send("zh-antonius", "inkoop.levering", {"verzoekId": "NV-Q1", "cijfers": [{"DBC-HEUP": 71}]})
        _show(ctx, ["zh-antonius", "zv-noord"])
        common.set_clock(_at("2026-05-01T08:00:00"))
        ctx.send("zh-antonius", "inkoop.dashboard", {})
        dash = orjson.loads(ctx.inbox("zh-antonius")[0].body)
        for v in dash["verzoeken"]:
            out(f"  {v['verzoekId']:11s} due {v['uiterlijk']}  {v['status']}")
        ok = ok and dash["ontbrekend"] == ["NV-PROFIEL"]
        out("Step 6. beheer: the scheduled jobs")
        for name in jobs.JOBS:
            r = jobs.run(ctx.app, name)
            out(f"  {name:18s} {r['outcome']:8s} {r['result']}")
    finally:
        common.set_clock(None)
    _ = inkoop
    return ok


def seed004(ctx: DemoContext) -> bool:
    out = ctx.out
    out("Seed 004: GPs claim chain care through care group ZIO; valid claims go to the client's insurer.")
    gen = bsns(20000000)
    claim = {"declaratieId": "D-1", "programma": "dm2", "bsn": next(gen), "uzovi": "3311", "periode": "2026-03",
             "prestatiecode": "KZ-DM2", "bedragCent": 7450}
    out("Step 1. Maas claims diabetes care for a Noord client: forwarded in Noord's format (Vektis-style CSV).")
    ctx.send("ha-maas", "ketenzorg.declaratie", claim)
    got = _show(ctx, ["zv-noord", "zv-zuid", "zio"])
    ok = len(got["zv-noord"]) == 1 and not got["zv-zuid"] and got["zv-noord"][0].properties["content_type"] \
        == "text/csv"
    out("Step 2. A Zuid client: forwarded to Zuid as JSON.")
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-2", bsn=next(gen), uzovi="7095"))
    got = _show(ctx, ["zv-noord", "zv-zuid"])
    ok = ok and len(got["zv-zuid"]) == 1 and not got["zv-noord"]
    out("Step 3. Four claims break the rules:")
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-3", periode="2025-12"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-4", programma="astma"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-5", programma="copd", uzovi="7095"))
    ctx.send("ha-maas", "ketenzorg.declaratie", dict(claim, declaratieId="D-6"))
    got = _show(ctx, ["ha-maas", "zv-noord", "zv-zuid"])
    ok = ok and _rules(got["ha-maas"]) == ["NO_CONTRACT", "PROGRAMME_NOT_CONTRACTED", "INSURER_NOT_CONTRACTED",
                                           "DUPLICATE_CLAIM"] and not got["zv-noord"] and not got["zv-zuid"]
    out("Step 4. ZIO asks for its monthly totals per insurer:")
    ctx.send("zio", "ketenzorg.totalen", {"jaar": 2026})
    totals = orjson.loads(ctx.inbox("zio")[0].body)["totalen"]
    for t in totals:
        out(f"  {t['maand']}  {t['verzekeraar']:9s} {t['aantal']} claim(s)  EUR {t['bedragCent'] / 100:.2f}")
    ok = ok and [(t["verzekeraar"], t["aantal"]) for t in totals] == [("zv-noord", 1), ("zv-zuid", 1)]
    _ = (ketenzorg, zorgbeeld)
    return ok


def _reported(n: int, fn: Callable[[DemoContext], bool]) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        ok = fn(ctx)
        ctx.out(f"Seed {n:03d} {'passed every check' if ok else 'FAILED a check'}.")
        return ok

    return run


DEMOS.update({n: _reported(n, fn) for n, fn in ((1, seed001), (2, seed002), (3, seed003), (4, seed004))})
