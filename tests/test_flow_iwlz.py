"""The iWlz flow on memory and on RabbitMQ: heenberichten checked and answered, and the flow suite holds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from hub.flows.iwlz import FLOW
from hub.settings import Settings
from hub.testing import TestHub, flow_suite
from tests.party_helpers import AANBIEDER, with_registry, zorgkantoor

REPO = Path(__file__).resolve().parent.parent
PARTIES = [
    AANBIEDER,
    zorgkantoor("zk-groningen", "5501", "iwlz-2.2-xml:AW35", "iwlz-2.2-xml:AW39"),
    zorgkantoor("zk-zeeland", "5525"),
]


def golden(msg: str) -> bytes:
    return (REPO / f"mappings/iwlz_{msg.lower()}/golden/v1/case1.in.xml").read_bytes()


def retour_codes(xml: bytes) -> set[str]:
    return {el.text or "" for el in etree.fromstring(xml).iter("{*}RetourCode")}


@pytest.fixture
def iwlz_hub(hub_settings: Settings, schema_dir: Path, tmp_path: Path) -> Iterator[TestHub]:
    with TestHub(with_registry(hub_settings, tmp_path, PARTIES), out=lambda _: None) as running:
        yield running


def test_the_iwlz_flow_answers_every_heenbericht_and_passes_the_flow_suite(iwlz_hub: TestHub) -> None:
    hub = iwlz_hub
    sender, zk, other = hub["aanbieder"], hub["zk-groningen"], hub["zk-zeeland"]
    good = sender.send("iwlz.AW35", golden("AW35"), content_type="application/xml")
    (delivered,) = zk.wait(1)
    assert delivered.body == golden("AW35")
    (retour,) = sender.wait(1)
    assert retour.kind == "iwlz.AW36" and retour.properties["correlation_id"] == good
    assert retour_codes(retour.body) == {"0200"}

    bad = sender.send("iwlz.AW35", golden("AW35").replace(b"<BerichtCode>354<", b"<BerichtCode>355<"),
                      content_type="application/xml")
    (refusal,) = sender.wait(1)
    assert refusal.kind == "iwlz.AW36" and refusal.properties["correlation_id"] == bad
    assert "0001" in retour_codes(refusal.body)
    assert zk.empty() and other.empty()
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == bad]
    assert entry.rule == "XSD"
    report = flow_suite(FLOW, hub)
    assert report.messages >= 2 and report.audit_records > 0


def test_zorghub_iwlz_check_says_what_the_hub_will_say(settings: Settings, schema_dir: Path,
                                                        tmp_path: Path) -> None:
    env = {**os.environ, "ZORGHUB_HOME": settings.home, "ZORGHUB_SCHEMA_DIR": str(schema_dir)}

    def check(body: bytes) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "message.xml"
        path.write_bytes(body)
        return subprocess.run([sys.executable, "-m", "hub.cli", "iwlz", "check", str(path)], env=env,
                              capture_output=True, text=True, timeout=120)

    ok = check(golden("IO31"))
    assert ok.returncode == 0 and "IO31: accepted" in ok.stdout
    refused = check(golden("IO31").replace(b"<BerichtCode>388<", b"<BerichtCode>389<"))
    assert refused.returncode == 1 and "XSD: line 4" in refused.stdout
    assert refused.stderr.strip().splitlines() == ["zorghub: IO31 refused: 1 finding(s), retourcode(s) 0001"]
    other = check(b"<not-iwlz/>")
    assert other.returncode == 1 and "name it with --message" in other.stderr
    assert not (Path(settings.home) / "hub.sqlite3").exists()  # checking a file touches no store
