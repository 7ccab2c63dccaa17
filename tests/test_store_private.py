"""Acceptance 7: the home is 0700 and the store, WAL and key files 0600 after the demo and after serve,
whatever the umask; a wider mode is reported at start-up."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.store.db import Database
from tests.conftest import SCHEMA_DIR

ZORGHUB = Path(sys.executable).with_name("zorghub")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")}
    env["ZORGHUB_HOME"] = str(home)
    if SCHEMA_DIR.is_dir():
        env["ZORGHUB_SCHEMA_DIR"] = str(SCHEMA_DIR)
    return env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(home: Path, *, wal: bool) -> None:
    assert _mode(home) == 0o700
    names = {"hub.key", "hub.sqlite3"} | ({"hub.sqlite3-wal", "hub.sqlite3-shm"} if wal else set())
    assert names <= {p.name for p in home.iterdir()}
    for f in home.iterdir():  # everything the hub made in its home
        assert _mode(f) == 0o600, f"{f.name} is {_mode(f):o}"


def test_private_after_the_demo(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run([str(ZORGHUB), "demo", "--seed", "0"], env=_env(home), cwd=tmp_path, umask=0,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    _assert_private(home, wal=False)


def test_private_while_and_after_serve(tmp_path: Path) -> None:
    import threading

    home = tmp_path / "home"
    proc = subprocess.Popen([str(ZORGHUB), "serve", "--workers", "1"], env=_env(home), cwd=tmp_path, umask=0,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        # the worker holds the store open in WAL mode once it consumes
        while not (any("consuming" in line for line in lines) and (home / "hub.sqlite3-shm").exists()):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start: " + "".join(lines)
            time.sleep(0.1)
        _assert_private(home, wal=True)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # serve and its worker, which share its session
        proc.wait(timeout=60)
        reader.join(timeout=10)
    _assert_private(home, wal=False)
    assert not any("wider than" in line for line in lines)


def test_wider_modes_are_reported_at_start_up(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from hub.app import HubApp
    from hub.store import private

    with HubApp.build(settings):
        pass
    home = Path(settings.home)
    store = home / "hub.sqlite3"
    home.chmod(0o755)
    (home / "hub.key").chmod(0o644)
    if store.exists():
        store.chmod(0o644)
    private._warned.clear()
    with caplog.at_level(logging.WARNING, logger="zorghub"):
        HubApp.build(settings).close()
    warned = [r.getMessage() for r in caplog.records if r.name == "zorghub" and "wider than" in r.getMessage()]
    assert any(f"{home} is mode 0755, wider than 0700" in m for m in warned), warned
    assert any(f"{home / 'hub.key'} is mode 0644, wider than 0600" in m for m in warned), warned
    if store.exists():
        assert any(f"{store} is mode 0644, wider than 0600" in m for m in warned), warned


def test_a_new_sqlite_store_elsewhere_is_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Database(f"sqlite:///{tmp_path / 'deep' / 'store.sqlite3'}").close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "deep") == 0o700 and _mode(tmp_path / "deep" / "store.sqlite3") == 0o600
