"""`zorghub demo` end to end: all seeds on the embedded default and on RabbitMQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.main import main
from hub.cli.status import ExitStatus
from hub.settings import Settings


def test_demo_all_seeds_embedded(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for n in range(5):
        assert f"Seed {n:03d} passed every check." in out
    assert "(intact)" in out
    assert "999990019" not in out  # Mr Geelhoed's BSN is never printed
    assert main(["audit", "verify"]) == 0  # the demo's log, checked afterwards


def test_demo_on_rabbitmq(amqp_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", amqp_settings.home)
    assert main(["demo", "--broker", amqp_settings.broker_url]) == 0
    out = capsys.readouterr().out
    for n in range(5):
        assert f"Seed {n:03d} passed every check." in out


def test_cli_errors_exit_nonzero_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path))
    assert main(["send", str(tmp_path / "missing.json"), "--as", "ciz", "--kind", "echo"]) == ExitStatus.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("zorghub: cannot read") and "\n" not in err
    monkeypatch.setenv("ZORGHUB_PREFETCH", "lots")
    assert main(["audit", "verify"]) == ExitStatus.CONFIG  # bad settings: the exit-status table's 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("zorghub: invalid setting prefetch") and "\n" not in err


def test_status_after_the_demo(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["demo", "--seed", "0"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "audit " in out and "records, head" in out
    assert "dead       1 open dead letter(s)" in out  # the walk-through's refused write


def test_status_on_rabbitmq_lists_queue_depths(amqp_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", amqp_settings.home)
    assert main(["--broker", amqp_settings.broker_url, "parties", "sync"]) == 0
    capsys.readouterr()
    assert main(["status", "--broker", amqp_settings.broker_url]) == 0
    out = capsys.readouterr().out
    assert "zorghub.inbox.ciz" in out and "zorghub.dlq" in out and "quorum" in out
