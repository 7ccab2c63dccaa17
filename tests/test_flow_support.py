"""Shared by the seed 001-004 tests, and the tests of the parts the flows share that need no broker.

The flow suites take the ``hub`` fixture (``tests/conftest.py``): a ``hub.testing.TestHub`` on memory://
and on RabbitMQ, where each party (``hub["ggz-dijk"]``) is a bare pika connection logged in as that
party. Each suite ends with ``hub.testing.flow_suite``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.app import HubApp
from hub.flows import support as common
from hub.settings import Settings
from hub.testing import TestHub


def set_today(text: str) -> None:
    moment = common.parse_iso(text + ("" if "T" in text else "T12:00:00") + "Z")
    common.set_clock(lambda: moment)


def rules(receipts: list[dict[str, Any]]) -> list[str]:
    return [r["rule"] for r in receipts]


# ----- tests of the shared parts that need no broker ------------------------------------------------
def test_file_adapter_publishes_settled_files_once(settings: Settings, tmp_path: Path) -> None:
    from hub.flows.nza.demo import ohw_zip
    from hub.ops.files import FileDropAdapter

    ctx = TestHub(settings, out=lambda _: None)
    try:
        drop = tmp_path / "drop"
        drop.mkdir()
        (drop / "ohw.zip").write_bytes(ohw_zip("06220011", "2026-03", 10))
        (drop / "half.zip.part").write_bytes(b"...")
        (drop / "notes.txt").write_text("ignored")
        adapter = FileDropAdapter(drop, ctx.client("ggz-dijk"), {".zip": "nza.ohw"}, settle_seconds=0)
        sent = adapter.scan_once()
        assert [name for name, _ in sent] == ["ohw.zip"]
        assert adapter.scan_once() == []
        assert (drop / "sent" / "ohw.zip").exists() and (drop / "half.zip.part").exists()
        set_today("2026-03-10")
        ctx.pump(1)
        (receipt,) = ctx.inbox("ggz-dijk")
        assert orjson.loads(receipt.body)["status"] == "accepted"
        (delivered,) = ctx.inbox("nza")
        assert delivered.headers["x-filename"] == "ohw.zip" and delivered.headers["x-sender"] == "ggz-dijk"
    finally:
        common.set_clock(None)
        ctx.close()


def test_jobs_record_their_runs(settings: Settings, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.main import main
    from hub.cli.status import ExitStatus

    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["jobs", "run", "--all", "--today", "2026-03-20"]) == ExitStatus.CONFIG  # no hub made a store here yet
    assert "no hub store at" in capsys.readouterr().err
    HubApp.build(settings).close()  # the hub's first start makes it
    assert main(["jobs", "run", "--all", "--today", "2026-03-20"]) == 0
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    for name in ("stale-check", "delivery-calendar", "retention"):
        assert f"{name}" in out
    assert "never" not in out.split("delivery-calendar", 2)[-1].splitlines()[0]
    assert main(["audit", "verify"]) == 0


def test_an_unknown_job_is_refused(settings: Settings, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.main import main

    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    HubApp.build(settings).close()
    assert main(["jobs", "run", "stale-chek"]) == 1
    assert "unknown job 'stale-chek'" in capsys.readouterr().err


def test_every_shipped_flow_has_the_same_folder_shape() -> None:
    from hub.plugins.registry import load_flows, read_settings

    flows = {f.name: f for f in load_flows()}
    assert {"iwlz", "network", "nza", "zorgbeeld", "inkoop", "ketenzorg", "jobs"} <= set(flows)
    for name in ("iwlz", "network", "nza", "zorgbeeld", "inkoop", "ketenzorg", "jobs"):
        flow = flows[name]
        folder = Path(__file__).resolve().parent.parent / "hub" / "flows" / name
        assert (folder / "cli.py").is_file() and flow.cli == f"hub.flows.{name}.cli:cli"
        if flow.settings is not None:
            assert flow.settings_schema is not None and read_settings(flow)
        if name == "iwlz":  # its schemas are the official XSDs (schema_dir); it has no seed walk-through
            assert flow.kinds == (folder / "kinds.toml",) and flow.schema_dir is None and not flow.demos
        elif name != "jobs":
            assert flow.kinds == (folder / "kinds.toml",) and flow.schema_dir == folder / "schemas"
            assert flow.demos and (folder / "demo.py").is_file()


def test_a_broken_flow_entry_point_or_setting_is_a_config_error(tmp_path: Path) -> None:
    import importlib.metadata as md

    from hub.errors import ConfigError
    from hub.flows.base import Flow
    from hub.plugins.registry import GROUP, load_flows, read_settings

    with pytest.raises(ConfigError, match="'nope' .* failed to load"):
        load_flows([md.EntryPoint("nope", "hub.flows.nope:FLOW", GROUP)])
    with pytest.raises(ConfigError, match="not a Flow"):
        load_flows([md.EntryPoint("odd", "hub.flows.support:now", GROUP)])
    with pytest.raises(ConfigError, match="announced twice"):
        load_flows([md.EntryPoint("a", "hub.flows.nza:FLOW", GROUP),
                    md.EntryPoint("b", "tests.test_flow_support:OTHER_NZA", GROUP)])
    (tmp_path / "settings.toml").write_text("due_day = 40\nrhythm_months = 1\nfirst_period = '2026-01'\n"
                                            "providers = []\nrecipient = 'nza'\n")
    from hub.flows.nza import FLOW

    broken = Flow(name="nza", description="", settings=tmp_path / "settings.toml",
                  settings_schema=FLOW.settings_schema)
    with pytest.raises(ConfigError, match="invalid setting of flow 'nza': due_day"):
        read_settings(broken)


def _other_nza() -> Any:
    from hub.flows.base import Flow

    return Flow(name="nza", description="a second flow of the same name")


OTHER_NZA = _other_nza()
