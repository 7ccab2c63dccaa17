"""Seed 001 on the hub: the NZa walk-through, and the builders of realistic OHW deliveries the tests use.

Runs on the embedded default (memory://) and on RabbitMQ alike, through ``hub.testing.TestHub``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from hub.flows.nza import handlers
from hub.flows.support import at, bsns, kinds_of, reported, set_clock, show
from hub.formats import csvbatch
from hub.testing import TestHub, describe

OHW_HEADER = "zorgaanbieder_agb;traject_id;client_bsn;zorgvraagtypering;traject_startdatum;activiteit_code;" \
             "activiteit_datum;minuten"


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


def _describe(m: Any) -> str:
    kind = m.properties.get("type")
    if kind == handlers.RECEIPT:
        body = orjson.loads(m.body)
        text = f"receipt {body['status']} for period {body['period']}: {body['okRows']} ok, {body['badRows']} bad"
        return text + "".join(f"\n{'':18s}line {e['line']} {e['column']}: {e['reason']}" for e in body["errors"])
    return describe(m)


def _seed001(ctx: TestHub) -> bool:
    out = ctx.out
    out("Seed 001: GGZ providers score care clusters and deliver their onderhanden werk to the NZa.")
    set_clock(at("2026-03-10T09:00:00"))
    try:
        out("Step 1. GGZ De Dijk scores a client's care cluster at the start of treatment:")
        start = {"trajectId": "T-2026-0042", "bsn": "999990019", "moment": "start", "zorgcluster": 7,
                 "datum": "2026-02-01", "evaluatieDatum": "2026-08-01"}
        ctx.send("ggz-dijk", "nza.zorgcluster", start, client_key="t-0042")
        ok = kinds_of(show(ctx, describe=_describe, parties=["nza"])["nza"]) == ["nza.zorgcluster"]
        out("Step 2. The client leaves care early: the NZa is told and the evaluation becomes due:")
        ctx.send("ggz-dijk", "nza.uitzorg", {"trajectId": "T-2026-0042", "bsn": "999990019", "datum": "2026-03-09"},
                 client_key="t-0042")
        got = show(ctx, describe=_describe, parties=["nza", "ggz-dijk"])
        ok = ok and kinds_of(got["ggz-dijk"]) == ["nza.evaluatie.gevraagd"] and kinds_of(got["nza"]) == ["nza.uitzorg"]
        out("Step 3. On 10 March both deliver the OHW for period 2026-03 (due by the 15th) as a ZIP with a pakbon.")
        out("        De Dijk's is clean; Het Veld's has two bad rows among 200:")
        ctx.send("ggz-dijk", "nza.ohw", ohw_zip("06220011", "2026-03", 200), content_type="application/zip",
                 headers={"x-filename": "ohw-2026-03.zip"})
        ctx.send("ggz-veld", "nza.ohw", ohw_zip("06220022", "2026-03", 200, bad_lines=[17, 150]),
                 content_type="application/zip", headers={"x-filename": "ohw-2026-03.zip"})
        got = show(ctx, describe=_describe, parties=["nza", "ggz-dijk", "ggz-veld"])
        veld = [orjson.loads(m.body) for m in got["ggz-veld"]]
        ok = ok and kinds_of(got["nza"]) == ["nza.ohw"] and len(veld) == 1 and veld[0]["status"] == "rejected" \
            and [e["line"] for e in veld[0]["errors"]] == [17, 150]
        out("Step 4. Het Veld corrects the file on the 20th: accepted, but late.")
        set_clock(at("2026-03-20T09:00:00"))
        ctx.send("ggz-veld", "nza.ohw", ohw_zip("06220022", "2026-03", 200), content_type="application/zip")
        got = show(ctx, describe=_describe, parties=["nza", "ggz-veld"])
        ok = ok and orjson.loads(got["ggz-veld"][0].body).get("onTime") is False
        out("Step 5. The delivery calendar (zorghub nza deliveries) on 20 March:")
        for c in handlers.calendar(ctx.app, ctx.app.db):
            out(f"  {c['provider']:10s} {c['period']}  due {c['due']}  {c['status']:9s} {c['received_at']}")
        cal = {(c["provider"], c["period"]): c["status"] for c in handlers.calendar(ctx.app, ctx.app.db)}
        ok = ok and cal[("ggz-dijk", "2026-03")] == "received" and cal[("ggz-veld", "2026-03")] == "late"
    finally:
        set_clock(None)
    return ok


seed001 = reported(1, _seed001)
