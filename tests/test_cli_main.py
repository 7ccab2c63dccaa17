"""The ``zorghub`` entry: global options anywhere, --version, the exit-status table, passwords, flow groups."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.cli.main import hoist_global_options, main
from hub.cli.status import ExitStatus
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.store.db import Database

HUB = [sys.executable, "-m", "hub.cli"]


def test_global_options_move_to_the_front() -> None:
    assert hoist_global_options(["demo", "--broker", "amqp://h/", "-v", "--store=sqlite:///x", "--seed", "1"]) == \
        ["--broker", "amqp://h/", "-v", "--store=sqlite:///x", "demo", "--seed", "1"]
    assert hoist_global_options(["send", "--", "-v"]) == ["send", "--", "-v"]  # after --, an argument


def test_global_options_after_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    store = tmp_path / "elsewhere.sqlite3"
    settings = Settings.load(environ={"ZORGHUB_HOME": str(tmp_path / "home"), "ZORGHUB_STORE_URL": f"sqlite:///{store}"})
    AuditLog(Database(settings.effective_store_url), settings.key_bytes()).db.close()  # a store to look at
    assert main(["status", "-v", "--store", f"sqlite:///{store}"]) == ExitStatus.OK
    assert f"store      sqlite:///{store}" in capsys.readouterr().out


def test_version_and_the_exit_status_table(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == ExitStatus.OK
    assert capsys.readouterr().out.strip() == f"zorghub {version('zorghub')}"
    assert main(["--help"]) == ExitStatus.OK
    out = capsys.readouterr().out
    assert "Exit status:" in out
    for status in ExitStatus:
        assert f" {int(status):>3}  " in out


@pytest.mark.rabbitmq
def test_the_password_comes_from_stdin_or_the_environment(tmp_path: Path) -> None:
    """The refused login names the party whose password was used, and never the password."""
    message = tmp_path / "m.json"
    message.write_text("{}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")}
    argv = [*HUB, "send", str(message), "--as", "ciz", "--kind", "echo", "--broker", "amqp://guest:guest@127.0.0.1/"]
    for extra, stdin, more in (([], None, {"ZORGHUB_PASSWORD": "wrong-from-env"}),
                               (["--password-stdin"], "wrong-from-stdin\n", {})):
        proc = subprocess.run([*argv, *extra], input=stdin, capture_output=True, text=True, timeout=60,
                              env={**env, "ZORGHUB_HOME": str(tmp_path / "home"), **more})
        assert proc.returncode == ExitStatus.CONFIG
        assert proc.stderr.splitlines() == ["zorghub: the broker at 127.0.0.1:5672 refused the login of user 'ciz'"]


def _flow_package(root: Path, *, broken: bool = False) -> None:
    """A flow distribution outside the source tree: its FLOW and a click group, found by entry point."""
    (root / "exflow").mkdir(parents=True)
    (root / "exflow" / "__init__.py").write_text(textwrap.dedent('''
        from hub.flows.base import Flow

        FLOW = Flow(name="exflow", description="an example flow", cli="exflow.cli:cli")
    '''))
    (root / "exflow" / "cli.py").write_text(textwrap.dedent('''
        import click

        @click.group()
        def cli() -> None:
            """The example flow's commands."""

        @cli.command()
        def hello() -> None:
            """Say hello."""
            click.echo("hello from exflow")
    '''))
    info = root / "exflow-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exflow\nVersion: 0.1\n")
    points = "[zorghub.flows]\nexflow = exflow:FLOW\n"
    if broken:
        points += "gone = exflow_missing:FLOW\n"
    (info / "entry_points.txt").write_text(points)


def test_an_installed_flow_brings_its_command_group(tmp_path: Path) -> None:
    _flow_package(tmp_path / "site", broken=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")},
           "ZORGHUB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(tmp_path / "site")}
    helped = subprocess.run([*HUB, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == ExitStatus.OK
    flows = helped.stdout.split("Flows:", 1)[1]
    assert "exflow" in flows and "The example flow's commands." in flows
    assert "flow entry point 'gone'" in helped.stderr  # a broken flow is named, and the rest still works
    ran = subprocess.run([*HUB, "exflow", "hello"], capture_output=True, text=True, env=env, timeout=60)
    assert (ran.returncode, ran.stdout) == (ExitStatus.OK, "hello from exflow\n")
    wrong = subprocess.run([*HUB, "exflow", "helo"], capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode == ExitStatus.USAGE and "Did you mean 'hello'?" in wrong.stderr
