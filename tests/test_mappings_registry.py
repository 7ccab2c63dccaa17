"""The mapping registry: entry points, versions, negotiation, and a mapping from another package."""

from __future__ import annotations

import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest

from hub.catalogue.mappings import GROUP, Mapping, MappingRegistry, MappingSpec
from hub.errors import ConfigError, UnknownMapping
from tests.mapping_helpers import REPO

FIXTURE = REPO / "tests" / "fixtures" / "thirdparty_mapping"


class Echo:
    def __init__(self, name: str, version: str, deprecated: bool = False, src: str = "a", dst: str = "b") -> None:
        self.spec = MappingSpec(name, version, src, dst, deprecated=deprecated)

    def translate(self, payload: bytes) -> bytes:
        return payload


def test_repo_mappings_load_from_entry_points() -> None:
    reg = MappingRegistry.from_entry_points()
    assert reg.versions("iwlz-aw33-to-fhir") == ["1", "2", "2.1"]
    for msg in ("io31", "aw33", "aw35", "aw39"):
        assert reg.get(f"iwlz-{msg}-to-fhir").spec.target_format == "fhir-r4-json"
        assert reg.get(f"fhir-to-iwlz-{msg}").spec.target_format == f"iwlz-2.2-xml:{msg.upper()}"
    assert all(isinstance(m, Mapping) for m in reg.all())


def test_get_latest_live_version_and_did_you_mean() -> None:
    reg = MappingRegistry()
    for v, dep in (("1", False), ("2", False), ("10", False), ("11", True)):
        reg.register(Echo("x-to-y", v, dep))
    assert reg.get("x-to-y").spec.version == "10"  # numeric order; 11 is deprecated
    assert reg.get("x-to-y", "11").spec.deprecated
    with pytest.raises(UnknownMapping, match="did you mean .x-to-y."):
        reg.get("x-to-z")
    with pytest.raises(UnknownMapping, match="no version '3'"):
        reg.get("x-to-y", "3")


def test_duplicate_claim_is_a_config_error() -> None:
    reg = MappingRegistry()
    reg.register(Echo("dup", "1"))
    with pytest.raises(ConfigError, match="claimed twice"):
        reg.register(Echo("dup", "1"))
    eps = [md.EntryPoint("dup-v1", "mappings.iwlz_aw35.v1:TO_FHIR", GROUP)] * 2
    with pytest.raises(ConfigError, match="claimed twice"):
        MappingRegistry.from_entry_points(eps)


def test_broken_entry_point_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="failed to load"):
        MappingRegistry.from_entry_points([md.EntryPoint("bad", "mappings.nope:X", GROUP)])
    with pytest.raises(ConfigError, match="not a Mapping"):
        MappingRegistry.from_entry_points([md.EntryPoint("bad", "hub.catalogue.mappings:GROUP", GROUP)])


def test_find_negotiates_formats() -> None:
    reg = MappingRegistry.from_entry_points()
    assert reg.find("iwlz-2.2-xml:AW33", "fhir-r4-json").spec.version == "2.1"
    assert reg.find("iwlz-2.2-xml:AW33", "fhir-r4-json", "1").spec.version == "1"
    assert reg.find("fhir-r4-json", "iwlz-2.2-xml:AW35").spec.name == "fhir-to-iwlz-aw35"
    with pytest.raises(UnknownMapping):
        reg.find("csv:nothing", "fhir-r4-json")


def test_mapping_version_from_a_separate_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package outside the hub adds AW35 -> FHIR v2; the registry sees v1 (hub) and v2 (package)."""
    eps = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    entry = "\n".join(f"{k} = {v}" for k, v in eps.items())
    dist = tmp_path / "zorghub_extra_mapping-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zorghub-extra-mapping\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{entry}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(FIXTURE))
    reg = MappingRegistry.from_entry_points()
    assert reg.versions("iwlz-aw35-to-fhir") == ["1", "1.1", "2"]
    v2 = reg.get("iwlz-aw35-to-fhir")
    assert v2.spec.version == "2"
    xml = (REPO / "mappings/iwlz_aw35/golden/v1/case1.in.xml").read_bytes()
    assert b"extra-mapping-v2" in v2.translate(xml)
    assert b"extra-mapping-v2" not in reg.get("iwlz-aw35-to-fhir", "1").translate(xml)
    sys.modules.pop("zorghub_extra_mapping", None)
