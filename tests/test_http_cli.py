"""``zorghub tokens issue`` and ``zorghub http``: one-line errors, a second run on its own leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import orjson
import pytest

from hub.cli.main import main
from hub.settings import Settings


def test_tokens_issue_mints_a_verifiable_token_twice(settings: Settings, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    jwks_file = tmp_path / "jwks.json"
    assert main(["tokens", "issue", "zk-utrecht", "--jwks", str(jwks_file)]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["tokens", "issue", "zk-utrecht", "--scope", "organisaties/zorgkantoor/bevragen/wlzIndicatie:read",
                 "--ttl", "60"]) == 0
    second = capsys.readouterr().out.strip()
    key = jwt.PyJWKSet.from_dict(orjson.loads(jwks_file.read_bytes())).keys[0]
    claims = jwt.decode(first, key.key, algorithms=["RS256"], audience="zorghub", issuer="zorghub-dev")
    assert claims["client_id"] == "zk-utrecht"
    assert "organisaties/zorgkantoor/bevragen/wlzIndicatiesZorgkantoor:read" in claims["scope"].split()
    again = jwt.decode(second, key.key, algorithms=["RS256"], audience="zorghub")  # the same key, kept
    assert again["scope"] == "organisaties/zorgkantoor/bevragen/wlzIndicatie:read"
    assert again["exp"] - again["iat"] == 60
    pgo = main(["tokens", "issue", "pgo-geelhoed"])
    assert pgo == 0 and jwt.decode(capsys.readouterr().out.strip(), key.key, algorithms=["RS256"],
                                   audience="zorghub")["patient"] == "999990019"
    assert main(["tokens", "issue", "zk-utrech"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "zorghub: Invalid value for 'PARTY': no party 'zk-utrech'; did you mean 'zk-utrecht'? " \
                  "(see 'zorghub tokens issue --help')" and "\n" not in err


def test_zorghub_http_serves_and_stops_on_sigterm(settings: Settings, schema_dir: object) -> None:
    env = {**os.environ, "ZORGHUB_HOME": settings.home, "ZORGHUB_SCHEMA_DIR": str(schema_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "http", "--port", "0"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "http on" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        for _ in range(100):
            try:
                ready = httpx.get(f"{url}/readyz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready.json()["status"] == "ready"
        sdl = httpx.get(f"{url}/graphql/netwerkpunt/schema.graphql")
        assert sdl.text == (Path(str(schema_dir)) / "iwlz-netwerkmodel" / "generiek-netwerkpunt.graphql").read_text()
        assert httpx.get(f"{url}/openapi.json").json()["openapi"] == "3.1.0"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_zorghub_http_on_a_taken_port_is_one_line(settings: Settings) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {**os.environ, "ZORGHUB_HOME": settings.home}
        run = subprocess.run([sys.executable, "-m", "hub.cli", "http", "--port", str(port)], env=env,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == f"zorghub: cannot listen on 127.0.0.1:{port}: Address already in use"
