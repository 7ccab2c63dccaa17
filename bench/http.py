"""The HTTP front door beside a bare uvicorn endpoint, measured in the same run.

- submit: ``POST /messages`` (a token, the decision point, the publish into the hub's inbound exchange)
  by 8 concurrent clients for a few seconds, against a bare Starlette endpoint on uvicorn answering 202;
- query: the official ``wlzIndicatie`` GraphQL query at a light paced load (request to answer), p50/p99,
  beside the bare endpoint's latency at the same pace.

Each server runs in a process of its own; hub workers run beside them and drain what is submitted.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import broker, hubproc
from bench.scenarios import Bench, latency_fields, result, rounded

TITLE = "HTTP: POST /messages throughput and GraphQL query latency, beside bare uvicorn"
CLIENTS = 8
QUERY = '{ wlzIndicatie(where: {wlzindicatieID: {eq: "@"}}) { wlzindicatieID besluitnummer } }'


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def submit(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"messageId": request.headers.get("x-message-id", ""), "status": "accepted"},
                            status_code=202)

    async def graphql(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"data": {"wlzIndicatie": []}})

    return Starlette(routes=[Route("/messages", submit, methods=["POST"]),
                             Route("/graphql/{name}", graphql, methods=["POST"])])


def _serve(kind: str, settings: Any, ports: Any) -> None:
    import logging
    import signal

    from hub.http import server

    logging.basicConfig(level=logging.WARNING)
    if kind == "bare":
        app = bare_app()
    else:
        from hub.http.app import create_app

        app = create_app(settings)
    sock = server.bind("127.0.0.1", 0)
    ports.put(sock.getsockname()[1])

    srv = server.Server(server.config(app))
    signal.signal(signal.SIGTERM, lambda *_: setattr(srv, "should_exit", True))
    srv.run(sockets=[sock])


class Served:
    def __init__(self, kind: str, settings: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ports = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(kind, settings, self.ports), daemon=True, name=f"http-{kind}")

    def __enter__(self) -> str:
        self.proc.start()
        url = f"http://127.0.0.1:{self.ports.get(timeout=60)}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/healthz", timeout=1)
                return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.proc.name} server did not come up")

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        self.proc.join(10)


def submit_rate(url: str, headers: dict[str, str], body: bytes, seconds: float) -> tuple[float, int, int]:
    """(202s per second, 202s, other answers) with ``CLIENTS`` threads posting for ``seconds``."""
    counts = [0, 0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        ok = bad = 0
        with httpx.Client(timeout=10) as http:
            while time.perf_counter() < stop:
                r = http.post(url + "/messages", content=body, headers={**headers, "X-Message-Id": str(uuid.uuid4())})
                if r.status_code == 202:
                    ok += 1
                else:
                    bad += 1
        with lock:
            counts[0] += ok
            counts[1] += bad

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts[0] / (time.perf_counter() - began), counts[0], counts[1]


def paced_latency(url: str, headers: dict[str, str], body: bytes, rate: float, seconds: float) -> list[float]:
    """Milliseconds from request to answer, one request every 1/rate seconds."""
    out: list[float] = []
    with httpx.Client(timeout=10) as http:
        for _ in range(5):  # warm the connection and the server up
            http.post(url + "/graphql/indicatieregister", content=body, headers=headers)
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t0 = time.perf_counter()
            r = http.post(url + "/graphql/indicatieregister", content=body, headers=headers)
            out.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200 or b'"errors"' in r.content:
                raise RuntimeError(f"the query failed: {r.status_code} {r.text[:200]}")
    return out


def http(b: Bench) -> dict[str, Any]:
    from hub.flows.network import seed
    from hub.http import auth
    from hub.http.scopes import default_scopes
    from hub.http.tokens import DevKey

    s = b.settings("benchhttp", http_rate_per_minute=10_000_000)
    topo = hubproc.declare(s)
    key = DevKey.at(Path(s.home) / auth.DEV_KEY_FILE, create=True)

    def token(party: str) -> dict[str, str]:
        t = key.issue(party, default_scopes(b.parties.get(party)), issuer=s.http_issuer, audience=s.http_audience)
        return {"Authorization": f"Bearer {t}"}

    echo = orjson.dumps({"to": "zonnehof", "n": 1})
    submit_headers = {"Content-Type": "application/json", "X-Message-Kind": "echo", "X-Routing-Key": "bench"}
    query = orjson.dumps({"query": QUERY.replace("@", seed.IDS["indicatie"])})
    seconds = max(b.mode.latency_seconds, 2.0)
    out: dict[str, Any] = {}
    with hubproc.HubWorkers(s, 1) as hub:
        broker.publish_many(b.vh.party_url("ciz", b.parties), f"{s.prefix}.in",
                            lambda n: broker.Message(orjson.dumps(seed.melding("WlzIndicatie", seed.indicatie())),
                                                     "network.melden", "application/json"), 1,
                            user_id="ciz", routing_key=lambda n: "client-geelhoed")
        with Served("bare", s) as bare_url:
            bare_rate, _, _ = submit_rate(bare_url, submit_headers, echo, seconds)
            bare_lat = paced_latency(bare_url, {"Content-Type": "application/json"}, query, b.mode.latency_rate / 3,
                                     seconds)
        with Served("hub", s) as hub_url:
            deadline = time.monotonic() + 30  # the indicatie is in the register once the first query finds it
            while time.monotonic() < deadline:
                r = httpx.post(hub_url + "/graphql/indicatieregister", content=query,
                               headers={**token("zk-utrecht"), "Content-Type": "application/json"})
                if r.status_code == 200 and r.json().get("data", {}).get("wlzIndicatie"):
                    break
                time.sleep(0.2)
            inbox = broker.DepthWatcher(b.vh.url, [topo.inbox("zonnehof")])
            before = inbox.total()
            hub_rate, accepted, refused = submit_rate(hub_url, {**submit_headers, **token("ciz")}, echo, seconds)
            # a 202 is a promise: every accepted submit (an echo to zonnehof) must reach the inbox, and
            # the queries then run at light load, not beside the workers' drain of a backlog
            t0 = time.perf_counter()
            drained, _ = inbox.wait_total(before + accepted, 120)
            out["drain_s"] = rounded(time.perf_counter() - t0, 2)
            inbox.close()
            if not drained:
                raise RuntimeError(f"the workers did not deliver the {accepted} accepted submits")
            lat = paced_latency(hub_url, {**token("zk-utrecht"), "Content-Type": "application/json"}, query,
                                b.mode.latency_rate / 3, seconds)
        out["peak_rss_mb"] = hub.peak_rss_mb()
    out.update(latency_fields(lat))
    out["bare_p50_ms"] = rounded(broker.percentile(bare_lat, 50), 2)
    out["bare_p99_ms"] = rounded(broker.percentile(bare_lat, 99), 2)
    out["msgs_per_s"] = rounded(hub_rate)
    out["bare_submit_per_s"] = rounded(bare_rate)
    out["submit_ratio_vs_bare"] = rounded(hub_rate / bare_rate, 3) if bare_rate else None
    out["submitted"], out["refused"] = accepted, refused
    out["latency_load_msgs_per_s"] = b.mode.latency_rate / 3
    return result("http", TITLE, **out,
                  note=f"{CLIENTS} clients for {seconds:.0f}s each (msgs_per_s: hub 202s per second); query "
                       f"p50/p99 of wlzIndicatie by id at {b.mode.latency_rate / 3:.0f} queries/s once the "
                       "workers delivered every submit (drain_s), bare_* the bare endpoint at the same pace")
