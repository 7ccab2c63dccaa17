"""The layer rules hold, and they would catch a core module that imports a flow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def run_lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_tree(dest: Path) -> Path:
    for name in ("hub", "mappings"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "golden"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_contracts_hold() -> None:
    result = run_lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout.split("Contracts:")[-1]
    for contract in ("The core imports no flow", "Core layers", "No import cycle"):
        assert any(line.startswith(contract) and "KEPT" in line for line in result.stdout.splitlines()), contract


def test_a_core_module_that_imports_a_flow_is_reported(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / "hub" / "pipeline" / "sneaky.py").write_text(
        '"""A deliberate breach."""\n\nimport hub.flows.network  # noqa: F401\n')
    result = run_lint(tree)
    assert result.returncode != 0
    assert "hub.pipeline.sneaky -> hub.flows.network" in result.stdout
    assert "The core imports no flow" in result.stdout
