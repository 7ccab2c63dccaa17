"""Operations at the front door: trace ids into the audit log, readiness, metrics, limits, access log."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from hub.flows.network import seed
from hub.settings import Settings
from hub.transports.management import vhost_of
from tests.http_live import Live, live_hub
from tests.hubproc import close_amqp_connections

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

TRACE = "463ac35c9f6413ad48485a3953bb6124"


@pytest.fixture
def live(amqp_settings: Settings, pg_url: str, schema_dir: object) -> Iterator[Live]:
    with live_hub(amqp_settings.replace(store_url=pg_url, http_rate_per_minute=20,
                                        max_payload_bytes=4096)) as running:
        yield running


def test_b3_and_traceparent_reach_the_audit_log(live: Live) -> None:
    ciz = live.party("ciz")
    body = orjson.dumps(seed.melding("WlzIndicatie", seed.indicatie()))
    message_id = str(uuid.uuid4())
    response = ciz.http.post(f"{live.url}/messages", content=body, headers={
        **ciz.auth, "Content-Type": "application/json", "X-Message-Kind": "network.melden",
        "X-Message-Id": message_id, "X-B3-TraceId": TRACE, "X-B3-SpanId": "a2fb4a1d1a96d312", "X-B3-Sampled": "1"})
    assert response.status_code == 202
    assert response.headers["x-b3-traceid"] == TRACE
    span = response.headers["x-b3-spanid"]
    assert response.headers["traceparent"] == f"00-{TRACE}-{span}-01"
    assert ciz.wait(message_id)["status"] == "processed"
    traces = {r.action: r.trace_id for r in live.hub.app.audit.for_message(message_id)}
    assert traces["received"] == traces["delivered"] == f"00-{TRACE}-{span}-01"
    # W3C in, the same trace carried on
    w3c = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    answer = ciz.http.get(f"{live.url}/healthz", headers={"traceparent": w3c})
    assert answer.headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert answer.headers["x-b3-traceid"] == "0af7651916cd43dd8448eb211c80319c"


def test_ready_metrics_limits_and_a_log_without_bsn(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    pgo = live.party("pgo-geelhoed")
    ready = pgo.http.get(f"{live.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "checks": {
        "broker": "ok", "store": "ok", "registers": "ok"}})
    masked = "/messages/*********"

    def status_lines() -> list[dict[str, object]]:  # the status request's line, not the /readyz one before it
        lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "zorghub.http.access"]
        return [line for line in lines if line["path"] == masked]

    with caplog.at_level(logging.INFO, logger="zorghub.http.access"):
        assert pgo.status(seed.GEELHOED_BSN)["status"] == "pending"
        deadline = time.monotonic() + 5  # the line is written once the answer went out: wait for it
        while not status_lines() and time.monotonic() < deadline:
            time.sleep(0.02)
    (line,) = status_lines()  # its path masked: the BSN in it is not written
    assert line["party"] == "pgo-geelhoed" and line["status"] == 200
    assert seed.GEELHOED_BSN not in caplog.text

    too_big = pgo.http.post(f"{live.url}/messages", content=b"x" * 80_000, headers=pgo.auth)
    assert (too_big.status_code, too_big.json()["reason"]) == (413, "the request body exceeds 69632 bytes")

    metrics = pgo.http.get(f"{live.url}/metrics").text
    assert 'zorghub_http_requests_total{route="/messages/{message_id}",status="200"}' in metrics
    assert "zorghub_audit_records_total" in metrics

    statuses = [pgo.http.get(f"{live.url}/messages/x", headers=pgo.auth).status_code for _ in range(25)]
    assert statuses.count(429) >= 1 and statuses[0] == 200
    limited = pgo.http.get(f"{live.url}/messages/x", headers=pgo.auth)
    assert limited.json()["reason"] == "party pgo-geelhoed is over 20 requests a minute"
    other = live.party("ciz").http.get(f"{live.url}/messages/x", headers=live.party("ciz").auth)
    assert other.status_code == 200  # the rate is per party


def test_ready_names_a_broker_connection_that_went_away(live: Live) -> None:
    """The broker check is a round trip: a connection the broker closed is "not ready", then replaced."""
    assert live.party("pgo-geelhoed").http.get(f"{live.url}/readyz").status_code == 200
    closed = close_amqp_connections(live.settings.management_url, vhost_of(live.settings.broker_url),
                                    at_least=1, named="zorghub http")
    assert closed >= 1
    gone = httpx.get(f"{live.url}/readyz")
    assert gone.status_code == 503
    assert gone.json()["status"] == "not ready"
    assert gone.json()["checks"]["broker"].startswith("unreachable: ")
    assert gone.json()["checks"]["store"] == "ok"
    deadline = time.monotonic() + 10  # the failed check reconnected: the next one finds the broker again
    while (back := httpx.get(f"{live.url}/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert back.json() == {"status": "ready", "checks": {"broker": "ok", "store": "ok", "registers": "ok"}}
