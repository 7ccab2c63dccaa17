"""Acceptance 8: `make demo` twice in a row exits 0 both times, then `zorghub demo --broker amqp://...` does.

Each run starts from a fresh state and says where it is; a home or store the user named is never
silently reused: a named home an earlier run filled gets a fresh home per run inside it, a named
store with data is refused; ``--reset`` empties either.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli.main import main
from tests.conftest import SCHEMA_DIR

ZORGHUB = Path(sys.executable).with_name("zorghub")
STATE = re.compile(r"^State of this run: (\S+) \(a home of its own\); `ZORGHUB_HOME=(\S+) zorghub audit verify` "
                   r"checks it\.$", re.M)


def _env() -> dict[str, str]:
    """As `make demo` runs it: no ZORGHUB_* setting at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")}
    if SCHEMA_DIR.is_dir():
        env["ZORGHUB_SCHEMA_DIR"] = str(SCHEMA_DIR)
    return env


def _demo(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ZORGHUB), "demo", *args], env=env or _env(), cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _ran_in(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for n in range(5):
        assert f"Seed {n:03d} passed every check." in result.stdout
    (found,) = STATE.findall(result.stdout)
    assert found[0] == found[1]
    assert result.stdout.startswith(f"State of this run: {found[0]} (a home of its own).")
    return found[0]


@pytest.mark.rabbitmq
def test_demo_runs_again_and_again_each_in_a_fresh_home(tmp_path: Path, amqp_settings_url: str) -> None:
    first = _ran_in(_demo(tmp_path))
    second = _ran_in(_demo(tmp_path))
    assert first != second and {Path(first).parent, Path(second).parent} == {Path(".zorghub")}
    for home in (first, second):  # each run's log verifies on its own, where the demo said it is
        verify = subprocess.run([str(ZORGHUB), "audit", "verify"], env={**_env(), "ZORGHUB_HOME": home},
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0 and verify.stdout.startswith("ok: "), verify.stdout + verify.stderr
        assert not verify.stdout.startswith("ok: 0 ")
    # then on RabbitMQ, twice on the same vhost: what the first run left on the broker is purged
    third = _ran_in(_demo(tmp_path, "--broker", amqp_settings_url))
    fourth = _ran_in(_demo(tmp_path, "--broker", amqp_settings_url))
    assert len({first, second, third, fourth}) == 4


@pytest.fixture
def amqp_settings_url(rabbitmq_vhost: str) -> str:
    return f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"


def _verified(capsys: pytest.CaptureFixture[str]) -> int:
    """``zorghub audit verify`` on the environment's store: how many records it verified (more than 0)."""
    assert main(["audit", "verify"]) == 0
    found = re.match(r"ok: (\d+) records verified", capsys.readouterr().out)
    assert found is not None and int(found[1]) > 0
    return int(found[1])


def test_a_named_home_with_a_store_gets_a_fresh_home_per_run_or_is_reset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "named"
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)
    monkeypatch.setenv("ZORGHUB_HOME", str(home))
    assert main(["demo", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert f"State of this run: the home {home}." in out
    one_run = _verified(capsys)
    before = (home / "hub.sqlite3").read_bytes()
    for _ in range(2):  # again and again on the same home: each run in a fresh home inside it
        assert main(["demo", "--seed", "0"]) == 0
        captured = capsys.readouterr()
        found = re.search(r"State of this run: (\S+) \(a home of its own inside " + re.escape(str(home)) + r"\)",
                          captured.out)
        assert found is not None and captured.err == "", captured.out[-500:] + captured.err
        inner = Path(found[1])
        assert inner.parent == home and (inner / "hub.sqlite3").is_file()
        assert (home / "hub.sqlite3").read_bytes() == before  # the earlier run's store is untouched
        monkeypatch.setenv("ZORGHUB_HOME", str(inner))
        assert _verified(capsys) == one_run  # one run's records each
        monkeypatch.setenv("ZORGHUB_HOME", str(home))
    assert main(["demo", "--seed", "0", "--reset"]) == 0
    assert "(emptied by --reset)" in capsys.readouterr().out
    assert _verified(capsys) == one_run  # one run's records, not two


def test_a_named_postgres_store_is_refused_or_reset(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZORGHUB_STORE_URL", pg_url)
    assert main(["demo", "--seed", "0"]) == 0
    capsys.readouterr()
    one_run = _verified(capsys)
    assert main(["demo", "--seed", "0"]) != 0
    assert "already holds a store" in capsys.readouterr().err
    assert main(["demo", "--seed", "0", "--reset"]) == 0
    assert "(emptied by --reset)" in capsys.readouterr().out
    assert _verified(capsys) == one_run
