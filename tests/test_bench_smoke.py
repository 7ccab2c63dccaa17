"""The benchmark harness in its tiny mode on the real RabbitMQ: every scenario and field, not the speeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import TARGETS
from bench.run import ORDER
from bench.scenarios import FIELDS
from tests.conftest import ROOT, _port_open, need

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def test_smoke_run_writes_every_scenario_and_field(tmp_path: Path) -> None:
    need("RabbitMQ", _port_open(5672), "nothing listens on 127.0.0.1:5672")
    need("RabbitMQ management", _port_open(15672), "the management plugin is not enabled (port 15672)")
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    for key in ("machine", "rabbitmq_version", "git_commit", "mode", "started_at", "scenarios", "targets"):
        assert key in doc, key
    assert doc["mode"] == "smoke"
    assert doc["machine"]["cores"] >= 1 and "cpu_model" in doc["machine"]
    assert doc["rabbitmq_version"]
    assert set(doc["scenarios"]) == set(ORDER)
    for name, scenario in doc["scenarios"].items():
        for field in FIELDS:
            assert field in scenario, f"{name} lacks {field}"
        failed = str(scenario.get("note") or "").startswith("failed")
        assert not failed, f"{name}: {scenario['note']}"
        if not scenario["available"]:
            assert scenario["note"].startswith("not available"), name
    # what must have been measured whatever is installed
    for name in ("ceiling", "passthrough", "fanout", "backlog", "scaling"):
        assert doc["scenarios"][name]["msgs_per_s"] is not None, name
    # the workers' writes over the drain window are read with their CPU over it (a window of a few hundred
    # messages may hold no commit of its own: the batches it drains can have committed before it opened)
    for name in ("passthrough", "fanout"):
        scenario = doc["scenarios"][name]
        if scenario["drain_cpu_us_per_msg"] is not None:
            assert scenario["drain_written_kb_per_msg"] >= 0, name
    assert doc["scenarios"]["backlog"]["lost"] == 0
    assert doc["scenarios"]["audit"]["verify_ok"] is True
    assert len(doc["targets"]) == len(TARGETS)
    assert all(t["status"] in ("pass", "miss", "not measured") for t in doc["targets"])
    report = (tmp_path / "latest.md").read_text()
    assert report.startswith("# zorghub benchmark") and "| worker writes KB/msg |" in report
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
