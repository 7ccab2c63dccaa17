"""Settings: one typed object, validated at start-up; the hub key is created once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.settings import Settings


def test_environment_overrides_file_and_is_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text('prefetch = 100\nbroker_url = "amqp://guest:guest@127.0.0.1:5672/"\n')
    s = Settings.load(environ={"ZORGHUB_CONFIG": str(cfg), "ZORGHUB_PREFETCH": "300", "ZORGHUB_HOME": "x"})
    assert (s.prefetch, s.broker_url, s.home) == (300, "amqp://guest:guest@127.0.0.1:5672/", "x")
    with pytest.raises(ConfigError, match="invalid setting broker_url"):
        Settings.load(environ={"ZORGHUB_BROKER_URL": "kafka://nope"})
    cfg.write_text("prefech = 100\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(environ={"ZORGHUB_CONFIG": str(cfg)})


def _key(home: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(Settings.load(environ={"ZORGHUB_HOME": home}).key_bytes())


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_key, args=(str(tmp_path / "home"), queue)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=30) for _ in procs}
    for p in procs:
        p.join()
    assert len(keys) == 1
    assert sorted(x.name for x in (tmp_path / "home").iterdir()) == ["hub.key"]
