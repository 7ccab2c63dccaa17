"""``zorghub serve`` with ``--http-port``: the workers and the HTTP front door in one supervised service."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.flows.network import seed
from hub.http import auth
from hub.http.client import HttpParty
from hub.http.scopes import default_scopes
from hub.http.tokens import DevKey
from hub.settings import Settings
from tests.hubproc import env_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_http_server_beside_its_workers(amqp_settings: Settings, pg_url: str,
                                                        schema_dir: object) -> None:
    settings = amqp_settings.replace(store_url=pg_url)
    settings.ensure_home()
    key = DevKey.at(Path(settings.home) / auth.DEV_KEY_FILE, create=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--workers", "1", "--http-port", str(port)],
                            env=env_for(settings), stderr=open(Path(settings.home) / "serve.log", "wb"))  # noqa: SIM115
    try:
        registry = settings.parties_path
        from hub.catalogue.parties import PartyRegistry

        ciz = PartyRegistry.load(registry).get("ciz")
        token = key.issue("ciz", default_scopes(ciz), issuer=settings.http_issuer, audience=settings.http_audience)
        client = HttpParty(f"http://127.0.0.1:{port}", "ciz", token)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.http.get(f"{client.base}/readyz").status_code == 200:
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline, "the HTTP server of serve did not come up"
            time.sleep(0.2)
        done = client.send("network.melden", seed.melding("WlzIndicatie", seed.indicatie()), key="g")
        assert done["status"] == "processed" and "zk-utrecht" in done["delivered"]
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
