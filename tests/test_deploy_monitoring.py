"""The operators' own tools in deploy/: Prometheus alert rules (checked and unit-tested by promtool) and a
Grafana dashboard, both naming only metrics the hub exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson
import yaml

from hub.ops.metrics import registry_for
from hub.settings import Settings
from tests.conftest import need

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
METRIC = re.compile(r"\bzorghub_[a-z_]+\b")


def _promtool() -> str:
    path = shutil.which("promtool") or ""
    need("promtool", bool(path), "Debian's prometheus package is not installed (.ci/run installs it)")
    return path


def test_the_alert_rules_pass_promtool_check() -> None:
    done = subprocess.run([_promtool(), "check", "rules", str(DEPLOY / "alerts.rules.yml")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_each_alert_fires_on_its_condition() -> None:
    done = subprocess.run([_promtool(), "test", "rules", str(DEPLOY / "alerts.test.yml")], capture_output=True,
                          text=True, cwd=DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr


def _exported(settings: Settings) -> set[str]:
    from hub.app import HubApp

    app = HubApp.build(settings)  # the store's tables, as a running hub has them
    try:
        names = set()
        for family in registry_for(settings, app.db).collect():
            names.add(family.name + ("_total" if family.type == "counter" else ""))  # as exposed
            names.update(s.name for s in family.samples)
        return names
    finally:
        app.close()


def test_rules_and_dashboard_name_only_exported_metrics(amqp_settings: Settings) -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.rules.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = orjson.loads((DEPLOY / "grafana-dashboard.json").read_bytes())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert dashboard["uid"] == "zorghub" and len(dashboard["panels"]) >= 6
    named = {m for e in exprs for m in METRIC.findall(e)}
    exported = _exported(amqp_settings)
    assert named and named <= exported, sorted(named - exported)
