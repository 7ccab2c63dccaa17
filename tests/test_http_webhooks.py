"""Webhooks (rest-hook subscriptions), acceptance 4: an endpoint down for 30 s gets every event once it
is back and can recover them with $events; an endpoint that never answers the handshake stays requested,
then goes to error; a hub SIGKILLed between an event and its webhook call loses nothing. On RabbitMQ and
PostgreSQL, with the server on a loopback port (in a process of its own for the SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.flows.network import seed
from hub.http.webhooks.shapes import FILTER_EXT, TOPIC
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.testing import TestHub
from tests.fhir_helpers import bearer, token
from tests.hubproc import env_for
from tests.webhook_helpers import Endpoint, Silent, event_numbers, free_port, status_of

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

EVENT = "NIEUWE_INDICATIE_ZORGKANTOOR"


def subscription(endpoint: str) -> dict[str, Any]:
    return {"resourceType": "Subscription", "status": "requested", "reason": "indicaties for my region",
            "criteria": TOPIC, "_criteria": {"extension": [{"url": FILTER_EXT, "valueString": f"eventType={EVENT}"}]},
            "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"}}


def indicatie_id(n: int) -> str:
    return f"1a000000-0000-4000-8000-{900 + n:012d}"


def meld_indicatie(hub: TestHub, n: int) -> None:
    """CIZ registers an indicatie in Utrecht: zk-utrecht is notified (mandatory), so its webhook has an event."""
    data = seed.indicatie(record_id=indicatie_id(n), besluitnummer=202600500 + n, n=900 + n)
    hub.send("ciz", "network.melden", seed.melding("WlzIndicatie", data), client_key="client-geelhoed")


def until(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = fn()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


class Api:
    def __init__(self, url: str, tok: str) -> None:
        self.c = httpx.Client(base_url=url, headers=bearer(tok), timeout=30)

    def create(self, endpoint: str) -> dict[str, Any]:
        got = self.c.post("/fhir/Subscription", json=subscription(endpoint))
        assert got.status_code == 201, got.text
        return dict(got.json())

    def get(self, sid: str) -> dict[str, Any]:
        got = self.c.get(f"/fhir/Subscription/{sid}")
        assert got.status_code == 200, got.text
        return dict(got.json())

    def status(self, sid: str) -> dict[str, Any]:
        got = self.c.get(f"/fhir/Subscription/{sid}/$status")
        assert got.status_code == 200, got.text
        params = got.json()["entry"][0]["resource"]["parameter"]
        return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in params}

    def events(self, sid: str, since: int) -> dict[str, Any]:
        got = self.c.get(f"/fhir/Subscription/{sid}/$events", params={"eventsSinceNumber": since})
        assert got.status_code == 200, got.text
        return dict(got.json())


def _settings(amqp_settings: Settings, pg_url: str, retry_ms: tuple[int, ...], timeout_ms: int) -> Settings:
    return amqp_settings.replace(store_url=pg_url, webhook_retry_ms=retry_ms, webhook_timeout_ms=timeout_ms,
                                 shards=2)


def _actions(log: AuditLog, sid: str) -> list[tuple[str, str]]:
    return [(r.action, r.outcome) for r in log.records("record_id = ? AND action LIKE ?", (sid, "webhook.%"))]


@pytest.mark.slow
def test_endpoint_down_30s_gets_every_event_once_back(amqp_settings: Settings, pg_url: str) -> None:
    from tests.http_live import live_hub

    # about a minute of retries in all: enough to outlast 30 s of silence, short enough for a test
    settings = _settings(amqp_settings, pg_url, (500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000), 2000)
    endpoint = Endpoint().up()
    with live_hub(settings) as live:
        api = Api(live.url, live.token("zk-utrecht"))
        sid = api.create(endpoint.url)["id"]
        until(lambda: api.get(sid)["status"] == "active", 15, "the handshake makes it active")
        handshake = status_of(endpoint.bundles[0])
        assert handshake["type"] == "handshake" and handshake["subscription"]["reference"] == f"Subscription/{sid}"

        endpoint.down()
        went_down = time.monotonic()
        for n in range(1, 6):
            meld_indicatie(live.hub, n)
        st = api.status(sid)
        assert st["events-since-subscription-start"] == "5" and st["status"] == "active"
        time.sleep(max(0.0, 30 - (time.monotonic() - went_down)))
        # while it was down, the hub kept trying (audited each time) and kept every event
        log = live.hub.app.audit
        assert ("webhook.retry", "failure") in _actions(log, sid)
        assert event_numbers(endpoint.bundles) == []
        endpoint.up()

        assert endpoint.wait(lambda b: set(event_numbers(b)) >= {1, 2, 3, 4, 5}, 45), event_numbers(endpoint.bundles)
        numbers = event_numbers(endpoint.bundles)
        assert sorted(set(numbers)) == [1, 2, 3, 4, 5] and numbers == sorted(numbers)
        foci = [status_of(b)["events"][0]["focus"]["reference"] for b in endpoint.bundles[1:]]
        assert foci == [f"CoverageEligibilityResponse/{indicatie_id(n)}" for n in range(1, 6)]
        assert api.get(sid)["status"] == "active"
        # what a subscriber that missed them would fetch: the same events, by number
        missed = status_of(api.events(sid, 3))
        assert missed["type"] == "query-event"
        assert [int(e["event-number"]) for e in missed["events"]] == [3, 4, 5]
        assert [e["focus"]["reference"] for e in missed["events"]] == foci[2:]
        assert _actions(log, sid).count(("webhook.delivered", "success")) == 5
    endpoint.down()


def test_handshake_never_answered_stays_requested_then_error(amqp_settings: Settings, pg_url: str) -> None:
    from tests.http_live import live_hub

    settings = _settings(amqp_settings, pg_url, (300, 300, 300), 500)
    silent = Silent()
    try:
        with live_hub(settings) as live:
            api = Api(live.url, live.token("zk-utrecht"))
            sid = api.create(silent.url)["id"]
            after_one = until(lambda: (s := api.get(sid)).get("error") and s, 10, "a first failed handshake")
            assert after_one["status"] == "requested" and "handshake: attempt 1 failed" in after_one["error"]
            gone = until(lambda: (s := api.get(sid))["status"] == "error" and s, 15, "error after the last retry")
            assert "handshake: no success after 4 attempts" in gone["error"]
            log = live.hub.app.audit
            assert _actions(log, sid) == [("webhook.subscribe", "success"), *[("webhook.retry", "failure")] * 3,
                                          ("webhook.error", "failure")]
            # an event after the error is still numbered and kept, for $events, and no call is made for it
            meld_indicatie(live.hub, 1)
            time.sleep(1.5)
            assert api.status(sid)["events-since-subscription-start"] == "1"
            assert len(_actions(log, sid)) == 5
            events = status_of(api.events(sid, 1))["events"]
            assert [e["focus"]["reference"] for e in events] == [f"CoverageEligibilityResponse/{indicatie_id(1)}"]
            # another party cannot see it
            other = httpx.get(f"{live.url}/fhir/Subscription/{sid}", headers=bearer(live.token("zk-amsterdam")))
            assert other.status_code == 403
    finally:
        silent.close()


def _start_http(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = env_for(settings)
    env["ZORGHUB_WEBHOOK_RETRY_MS"] = ",".join(str(ms) for ms in settings.webhook_retry_ms)
    env["ZORGHUB_WEBHOOK_TIMEOUT_MS"] = str(settings.webhook_timeout_ms)
    log = open(os.path.join(settings.home, "http.log"), "ab")  # noqa: SIM115  (kept for the child)
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "http", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None  # died: stop waiting, the assertion below says so
    until(ready, 30, "the HTTP server answers")
    assert proc.poll() is None, Path(settings.home, "http.log").read_text()[-2000:]
    return proc


def test_sigkill_between_event_and_webhook_call_loses_nothing(amqp_settings: Settings, pg_url: str) -> None:
    # a call may take 10 s: long enough to kill the server in the middle of one (its lease is 15 s, which the
    # restarted server waits out before it takes over)
    settings = _settings(amqp_settings, pg_url, (500, 1000, 2000, 4000), 10000)
    endpoint = Endpoint().up()
    port = free_port()
    with TestHub(settings, out=lambda _: None) as hub:
        api = Api(f"http://127.0.0.1:{port}", token(settings, hub, "zk-utrecht"))
        proc = _start_http(settings, port)
        try:
            sid = api.create(endpoint.url)["id"]
            until(lambda: api.get(sid)["status"] == "active", 15, "the handshake makes it active")
            endpoint.hang = True  # the next call reaches the endpoint and gets no answer: the hub is mid-call
            meld_indicatie(hub, 1)
            assert endpoint.wait(lambda b: event_numbers(b) == [1], 15)
            for n in range(2, 5):
                meld_indicatie(hub, n)  # committed with their batches while the dispatcher waits on event 1
            assert api.status(sid)["events-since-subscription-start"] == "4"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert event_numbers(endpoint.bundles) == [1]  # nothing but the call in flight reached the endpoint
        endpoint.hang = False
        endpoint.released.set()
        proc = _start_http(settings, port)
        try:
            assert endpoint.wait(lambda b: set(event_numbers(b)) >= {1, 2, 3, 4}, 30), event_numbers(endpoint.bundles)
            numbers = event_numbers(endpoint.bundles)
            # event 1 twice (its answer was lost with the hub: at least once, same number), then 2..4: none lost
            assert numbers[:2] == [1, 1] and numbers[2:] == [2, 3, 4]
            assert api.get(sid)["status"] == "active"
        finally:
            proc.terminate()
            proc.wait(15)
    endpoint.down()
