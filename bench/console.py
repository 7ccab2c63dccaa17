"""Console page loads over a store of ``verify_records`` audit records (1M by default).

The console is served by uvicorn on a loopback port, as ``zorghub http`` serves it, against the bench's
RabbitMQ vhost (so the dashboard asks the management API too). A logged-in operator loads the
dashboard and one message's page in turn; beside them, in the same run and on the same server, the
bare ``/healthz`` endpoint is the baseline. Target: page load p99 <= 300 ms for both pages.
"""

from __future__ import annotations

import time
from typing import Any

from bench.audit_verify import build
from bench.scenarios import Bench, latency_fields, result, rounded


def _timed(client: Any, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - began) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}")
    return out


def console(b: Bench) -> dict[str, Any]:
    import httpx

    from hub.console.accounts import AccountBook
    from hub.http import server
    from hub.store.audit import AuditLog
    from hub.store.db import Database

    n = b.mode.verify_records
    settings = b.settings("zhconsole")
    settings.ensure_home()
    db = Database(settings.effective_store_url)
    try:
        log = AuditLog(db, settings.key_bytes(create=True))
        began = time.perf_counter()
        build(log, n)
        b.log(f"console: {n:,} audit records in {time.perf_counter() - began:.0f}s")
    finally:
        db.close()
    AccountBook.of_home(settings.home).put("bench", "operator", "bench-password")
    running = server.start_for(settings, port=0)
    try:
        client = httpx.Client(base_url=running.url, timeout=30)
        client.post("/console/login", data={"name": "bench", "password": "bench-password"})
        message = f"/console/messages/m-{(n // 3) // 2:09d}"  # a message from the middle of the log
        rounds = 20 if b.mode.name == "smoke" else 100
        for path in ("/healthz", "/console", message):  # warm: templates, caches, the first management call
            _timed(client, path, 3)
        bare = _timed(client, "/healthz", rounds)
        dash = _timed(client, "/console", rounds)
        view = _timed(client, message, rounds)
        client.close()
    finally:
        running.stop()
    d, v, h = latency_fields(dash), latency_fields(view), latency_fields(bare)
    return result(
        "console", "Console: page loads over a store of audit records",
        records=n, dashboard_p50_ms=d["p50_ms"], dashboard_p99_ms=d["p99_ms"], message_p50_ms=v["p50_ms"],
        message_p99_ms=v["p99_ms"], bare_p50_ms=h["p50_ms"], bare_p99_ms=h["p99_ms"],
        p99_ms=rounded(max(d["p99_ms"] or 0, v["p99_ms"] or 0)),
        note=f"{rounds} loads of each page, one after another, by a logged-in operator; the baseline is the bare "
             "/healthz endpoint of the same server in the same run")
