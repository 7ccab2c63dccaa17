"""Format negotiation: one inbound iWlz message reaches recipients in their own formats and versions,
including a mapping version shipped by a separate package through the entry-point group."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hub.catalogue.mappings import MappingRegistry
from hub.settings import Settings
from hub.testing import TestHub
from tests.party_helpers import AANBIEDER, with_registry, zorgkantoor

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "thirdparty_mapping"
GROUP = "zorghub.mappings"

PARTIES = [
    AANBIEDER,
    zorgkantoor("zk-xml", "5501", "iwlz-2.2-xml:AW35"),
    zorgkantoor("zk-fhir-v1", "5502", "fhir-r4-json", mappings={"iwlz-aw35-to-fhir": "1"}),
    zorgkantoor("zk-fhir-v2", "5503", "fhir-r4-json", mappings={"iwlz-aw35-to-fhir": "2"}),
]

KINDS = """
[kind."iwlz.AW35"]
description = "AW35 start of care, to every zorgkantoor (test routing)"
content_types = ["application/xml"]
xsd = "iwlz-2.2/xsd/AW35.xsd"
senders = ["zorgaanbieder"]
bsn = "//*[local-name()='Client']/*[local-name()='Bsn']"
route = [{by = "role", role = "zorgkantoor"}]
"""


@pytest.fixture
def thirdparty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MappingRegistry]:
    """Install the separate package's entry point the way pip would: a dist-info on sys.path."""
    eps = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    dist = tmp_path / "site" / "zorghub_extra_mapping-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zorghub-extra-mapping\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n" + "\n".join(f"{k} = {v}" for k, v in eps.items()))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(FIXTURE))
    yield MappingRegistry.from_entry_points()
    sys.modules.pop("zorghub_extra_mapping", None)


def test_three_recipients_two_formats_two_versions_audited(
    settings: Settings, schema_dir: Path, tmp_path: Path, thirdparty: MappingRegistry
) -> None:
    assert thirdparty.versions("iwlz-aw35-to-fhir") == ["1", "1.1", "2"]
    from hub.plugins.registry import load_flows

    settings = with_registry(settings, tmp_path, PARTIES, KINDS)
    # KINDS routes the AW35 to every zorgkantoor, in place of the iWlz flow's own kind of that name
    flows = tuple(f for f in load_flows() if f.name != "iwlz")
    ctx = TestHub(settings, out=lambda _: None, flows=flows)
    try:
        xml = (REPO / "mappings/iwlz_aw35/golden/v1/case1.in.xml").read_bytes()
        message_id = ctx.send("aanbieder", "iwlz.AW35", xml, content_type="application/xml", client_key="c1")
        (as_xml,) = ctx.inbox("zk-xml")
        (v1,) = ctx.inbox("zk-fhir-v1")
        (v2,) = ctx.inbox("zk-fhir-v2")
    finally:
        ctx.close()
    assert as_xml.body == xml and as_xml.properties["content_type"] == "application/xml"
    assert "x-mapping" not in as_xml.headers
    for msg, version in ((v1, "1"), (v2, "2")):
        assert msg.properties["content_type"] == "application/fhir+json"
        assert msg.headers["x-mapping"] == "iwlz-aw35-to-fhir" and msg.headers["x-mapping-version"] == version
        assert orjson.loads(msg.body)["resourceType"] == "Bundle"
    assert b"extra-mapping-v2" in v2.body and b"extra-mapping-v2" not in v1.body
    from hub.app import HubApp

    app = HubApp.build(settings, flows=flows)
    try:
        delivered = {r.recipient: (r.mapping, r.mapping_version)
                     for r in app.audit.for_message(message_id) if r.action == "delivered"}
    finally:
        app.close()
    assert delivered == {"zk-xml": ("", ""), "zk-fhir-v1": ("iwlz-aw35-to-fhir", "1"),
                         "zk-fhir-v2": ("iwlz-aw35-to-fhir", "2")}


def test_a_deprecated_version_warns_naming_its_recipient(caplog: pytest.LogCaptureFixture) -> None:
    from hub.catalogue.mappings import MappingSpec
    from hub.catalogue.parties import Party
    from hub.envelope import Delivery, Envelope
    from hub.pipeline.translate import Translator

    class Old:
        spec = MappingSpec("demo-map", "1", "json", "fhir-r4-json", deprecated=True)

        def translate(self, payload: bytes) -> bytes:
            return b'{"resourceType": "Basic"}'

    registry = MappingRegistry()
    registry.register(Old())
    party = Party("zk-old", "COD001", "5501", ("zorgkantoor",), accepts=("fhir-r4-json",),
                  mappings=(("demo-map", "1"),))
    env = Envelope(message_id="m1", sender="ciz", kind="echo", content_type="application/json", payload=b"{}")
    with caplog.at_level("WARNING", logger="zorghub.translator"):
        out = Translator(registry).translate(Delivery("zk-old", env), party)
    assert out.envelope.mapping_version == "1"
    assert "demo-map version 1 is deprecated and still serves recipient zk-old" in caplog.text
