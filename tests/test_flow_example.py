"""A flow from another distribution (``tests/fixtures/example_flow``), installed with no edit under ``hub/``.

The fixture installs the package the way pip would for the entry points: its directory on ``sys.path``
and a ``.dist-info`` with its ``entry_points.txt`` in a temporary directory, both undone afterwards.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.plugins.registry import GROUP, load_flows
from hub.settings import Settings
from hub.testing import TestHub, flow_suite

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "example_flow"
BSN = "999990019"


@pytest.fixture
def example_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example distribution installed for this test: its flow, as the entry point announces it."""
    project = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]
    eps = project["entry-points"][GROUP]
    dist = tmp_path / "site" / "zorghub_example_flow-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n" + "\n".join(f"{k} = {v}" for k, v in eps.items()))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(FIXTURE))
    try:
        yield next(f for f in load_flows() if f.name == "example")
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "zorghub_example_flow"]:
            sys.modules.pop(name)


def test_the_example_flow_is_found_but_only_while_installed(example_flow: Any) -> None:
    names = [f.name for f in load_flows()]
    assert "example" in names and {"network", "nza", "jobs"} <= set(names)
    assert example_flow.schema_dir == FIXTURE / "zorghub_example_flow" / "schemas"
    assert not str(example_flow.schema_dir).startswith(str(Path(__file__).resolve().parent.parent / "hub"))


def test_a_message_of_its_kind_passes_the_pipeline(example_flow: Any, hub_settings: Settings) -> None:
    with TestHub(hub_settings, out=lambda _: None) as hub:
        ggz, nza = hub["ggz-dijk"], hub["nza"]
        ggz.send("example.groet", {"bsn": BSN, "tekst": "goedemorgen"}, key="c1")
        (forwarded,) = nza.wait(1)
        assert forwarded.kind == "example.groet" and forwarded.json()["tekst"] == "goedemorgen"
        (receipt,) = ggz.wait(1)
        assert receipt.kind == "example.ontvangen" and receipt.json()["groeten"] == 1
        assert BSN.encode() not in receipt.body
        ggz.send("example.groet", {"bsn": "123456789", "tekst": "x"}, key="c2")  # fails the elfproef
        refused = ggz.receipt()
        assert refused["status"] == "rejected" and "123456789" not in orjson.dumps(refused).decode()
        assert nza.empty()
        suite = flow_suite(example_flow, hub)
        assert suite.messages == 2 and suite.receipts == 2 and BSN in suite.bsns


def test_the_flow_suite_catches_a_leak(example_flow: Any, settings: Settings) -> None:
    """flow_suite is not a formality: a log line with a client's BSN fails it."""
    import logging

    with TestHub(settings, out=lambda _: None) as hub:
        hub["ggz-dijk"].send("example.groet", {"bsn": BSN, "tekst": "hallo"})
        hub["nza"].wait(1)
        logging.getLogger("zorghub.example").warning("greeting about %s", BSN)
        with pytest.raises(AssertionError, match="a BSN shows in a log line"):
            flow_suite(example_flow, hub)


def test_the_flow_suite_catches_a_leak_written_in_groups(example_flow: Any, settings: Settings) -> None:
    """A BSN sent bare and logged as 999.990.019 is the same BSN."""
    import logging

    grouped = f"{BSN[:3]}.{BSN[3:6]}.{BSN[6:]}"
    with TestHub(settings, out=lambda _: None) as hub:
        hub["ggz-dijk"].send("example.groet", {"bsn": BSN, "tekst": "hallo"})
        hub["nza"].wait(1)
        logging.getLogger("zorghub.example").warning("greeting about %s", grouped)
        with pytest.raises(AssertionError, match="a BSN shows in a log line"):
            flow_suite(example_flow, hub)


def test_its_command_group_job_and_demo(example_flow: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli.main import main
    from hub.demo import run_demo

    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["--help"]) == 0  # the error boundary returns the status; it never exits the process
    assert "the example flow: greetings from providers" in capsys.readouterr().out
    lines: list[str] = []
    assert run_demo(settings, [90], out=lines.append) == 0
    assert "Seed 090 passed every check." in lines and any("(intact)" in line for line in lines)
    assert main(["example", "groeten"]) == 0
    assert capsys.readouterr().out.strip() == "1 greeting(s)"
    assert main(["jobs", "run", "example-count"]) == 0
    assert "example-count      success  1 greeting(s)" in capsys.readouterr().out


def test_without_the_package_there_is_no_example_flow() -> None:
    assert "example" not in [f.name for f in load_flows()]
    assert "zorghub_example_flow" not in sys.modules
