"""A mapping given the checker's parsed Bundle (``write``) gives what it gives for the payload (``translate``).

The worker hands the parse it checked to every recipient's translation, so ``write`` must also leave that
parse as it was: the next recipient, and the router before it, read the same object.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.catalogue.mappings import MappingRegistry, MappingSpec
from hub.catalogue.parties import Party
from hub.envelope import Delivery, Envelope
from hub.pipeline.translate import Translator

REPO = Path(__file__).resolve().parent.parent
REG = MappingRegistry.from_entry_points()
WRITERS = [m for m in REG.all() if callable(getattr(m, "write", None))]
BUNDLES = sorted(REPO.glob("mappings/iwlz_*/golden/*/*.in.json")) + [REPO / "bench" / "data" / "aw33-melding.fhir.json"]


def outcome(fn: Any, arg: Any) -> tuple[str, str]:
    try:
        return "ok", fn(arg).decode()
    except Exception as exc:
        return type(exc).__name__, str(exc)


def test_the_carrying_versions_take_a_parsed_bundle() -> None:
    names = {(m.spec.name, m.spec.version) for m in WRITERS}
    assert {("fhir-to-iwlz-aw33", "1"), ("fhir-to-iwlz-aw33", "2.1"), ("fhir-to-iwlz-io31", "1.1")} <= names


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_write_gives_translate_bytes_and_leaves_the_bundle_alone(path: Path) -> None:
    payload = path.read_bytes()
    bundle = orjson.loads(payload)
    before = copy.deepcopy(bundle)
    carried = b"iwlz-element" in payload
    ok = 0
    for mapping in WRITERS:
        got = outcome(mapping.write, bundle)
        assert got == outcome(mapping.translate, payload), (mapping.spec, path.name)
        assert bundle == before, f"{mapping.spec.name} {mapping.spec.version} changed the Bundle it was given"
        ok += got[0] == "ok"
    # each Bundle is one that some version writes, and a carried one still has its carried elements
    assert ok >= 1
    assert (b"iwlz-element" in orjson.dumps(bundle)) == carried


def _party(accepts: str) -> Party:
    return Party(name="bos-en-duin", id_type="AGB", id="01234567", roles=("zorgaanbieder",), accepts=(accepts,))


def test_translator_uses_the_parse_only_where_the_mapping_takes_one() -> None:
    payload = (REPO / "bench" / "data" / "aw33-melding.fhir.json").read_bytes()
    env = Envelope(message_id="m-1", sender="zk-utrecht", kind="bench.toewijzing-fhir",
                   content_type="application/fhir+json", payload=payload)
    translator = Translator(REG)
    party = _party("iwlz-2.2-xml:AW33")
    plain = translator.translate(Delivery("bos-en-duin", env, "test"), party)
    parsed = orjson.loads(payload)
    shared = translator.translate(Delivery("bos-en-duin", env, "test"), party, parsed)
    assert shared.envelope.payload == plain.envelope.payload
    assert plain.envelope.payload.startswith(b"<?xml")
    assert (shared.envelope.mapping, shared.envelope.mapping_version) == ("fhir-to-iwlz-aw33", "2.1")
    # a parse that is not a JSON object is not used: the payload is translated as it is
    wrong = translator.translate(Delivery("bos-en-duin", env, "test"), party, ["not", "a", "bundle"])
    assert wrong.envelope.payload == plain.envelope.payload


def test_a_mapping_without_write_gets_the_payload() -> None:
    seen: list[bytes] = []

    class Upper:
        spec = MappingSpec("upper", "1", "json", "xml")

        def translate(self, payload: bytes) -> bytes:
            seen.append(payload)
            return payload.upper()

    reg = MappingRegistry()
    reg.register(Upper())
    env = Envelope(message_id="m-2", sender="a", kind="k", content_type="application/json", payload=b"{}")
    out = Translator(reg).translate(Delivery("p", env, "test"), _party("xml"), {"x": 1})
    assert out.envelope.payload == b"{}" and seen == [b"{}"]
    assert out.envelope.mapping == "upper"


KINDS = """
[kind."test.toewijzing-fhir"]
description = "a toewijzing as a FHIR message Bundle, to every provider (test routing)"
content_types = ["application/fhir+json"]
senders = ["zorgkantoor"]
route = [{by = "role", role = "zorgaanbieder"}]
"""


def test_one_parse_serves_every_recipient_through_the_worker(settings: Any, tmp_path: Path) -> None:
    """Three providers of one Bundle that carries elements: two on the latest version, one pinned to 1."""
    from hub.testing import TestHub
    from tests.party_helpers import party, with_registry, zorgkantoor

    parties = [zorgkantoor("zk", "5501", "fhir-r4-json"),
               party("za-a", "AGB", "01000001", "zorgaanbieder", accepts=("iwlz-2.2-xml:AW33",)),
               party("za-b", "AGB", "01000002", "zorgaanbieder", accepts=("iwlz-2.2-xml:AW33",)),
               party("za-v1", "AGB", "01000003", "zorgaanbieder", accepts=("iwlz-2.2-xml:AW33",),
                     mappings={"fhir-to-iwlz-aw33": "1"})]
    golden = REPO / "mappings" / "iwlz_aw33" / "golden" / "v2.1"
    payload = (golden / "maximal-fhir.in.json").read_bytes()
    assert b"iwlz-element" in payload  # it carries elements that version 2.1 puts back
    hub = TestHub(with_registry(settings, tmp_path, parties, KINDS), out=lambda _: None)
    try:
        hub.send("zk", "test.toewijzing-fhir", payload, content_type="application/fhir+json")
        got = {name: hub.inbox(name) for name in ("za-a", "za-b", "za-v1")}
    finally:
        hub.close()
    want = (golden / "maximal-fhir.out.xml").read_bytes()
    v1 = REG.get("fhir-to-iwlz-aw33", "1")
    for name, msgs in got.items():
        assert len(msgs) == 1, name
    assert got["za-a"][0].body == want and got["za-b"][0].body == want
    assert got["za-a"][0].headers["x-mapping-version"] == "2.1"
    assert got["za-v1"][0].body == v1.translate(payload) != want
    assert got["za-v1"][0].headers["x-mapping-version"] == "1"
