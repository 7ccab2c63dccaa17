"""``zorghub demo --http`` on RabbitMQ and PostgreSQL: seed 000 with every party over HTTP."""

from __future__ import annotations

import pytest

from hub.cli.main import main
from hub.settings import Settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def test_demo_over_http_passes_and_prints_curl_lines(amqp_settings: Settings, pg_url: str, schema_dir: object,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", amqp_settings.home)
    monkeypatch.setenv("ZORGHUB_SCHEMA_DIR", amqp_settings.schema_dir)
    args = ["demo", "--http", "--broker", amqp_settings.broker_url, "--store", pg_url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Seed 000 over HTTP passed every check." in out
    assert "Audit chain:" in out and "(intact)" in out
    curls = [line for line in out.splitlines() if line.strip().startswith("$ curl")]
    assert len(curls) == 14  # one per step: 8 submits and 6 queries
    assert any("/graphql/indicatieregister" in c and "$TOKEN_ZK_UTRECHT" in c for c in curls)
    assert any("X-Message-Kind: network.melden" in c and "$TOKEN_CIZ" in c for c in curls)
    assert "999990019" not in out  # the payloads are in files the curl lines name, not on the screen
    # a second run starts from its own fresh state and passes again
    assert main(args + ["--reset"]) == 0
    assert "Seed 000 over HTTP passed every check." in capsys.readouterr().out
