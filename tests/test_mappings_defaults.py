"""A newly installed version that becomes the default for unpinned parties is announced at start-up, once."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from hub.catalogue.mappings import MappingRegistry, MappingSpec
from hub.catalogue.parties import Party
from hub.ops.runner import run_worker
from hub.settings import Settings
from hub.store.db import Database
from hub.store.mapping_defaults import MappingDefaults
from tests.mapping_helpers import REPO, install_package
from tests.party_helpers import AANBIEDER, party, with_registry


class Echo:
    def __init__(self, name: str, version: str, dst: str = "fhir-r4-json", deprecated: bool = False) -> None:
        self.spec = MappingSpec(name, version, "iwlz-2.2-xml:AW33", dst, deprecated=deprecated)

    def translate(self, payload: bytes) -> bytes:
        return payload


def _party(name: str, accepts: tuple[str, ...], pins: dict[str, str] | None = None) -> Party:
    return Party(name=name, id_type="AGB", id="01000000", roles=("zorgaanbieder",),
                 accepts=accepts, mappings=tuple(sorted((pins or {}).items())))


def test_new_defaults_names_the_unpinned_parties_that_take_the_target_format() -> None:
    reg = MappingRegistry()
    for v in ("1", "2", "3"):
        reg.register(Echo("a-to-fhir", v))
    reg.register(Echo("a-to-fhir", "4", deprecated=True))  # deprecated: never the default
    reg.register(Echo("b-to-xml", "1", dst="iwlz-2.2-xml:AW35"))
    parties = [
        _party("free", ("fhir-r4-json",)),
        _party("pinned", ("fhir-r4-json",), {"a-to-fhir": "2"}),
        _party("xml-only", ("iwlz-2.2-xml:AW33",)),
        _party("also-free", ("iwlz-2.2-xml:AW35", "fhir-r4-json")),
    ]
    assert reg.defaults() == {"a-to-fhir": "3", "b-to-xml": "1"}
    (moved,) = reg.new_defaults(parties, {"a-to-fhir": "2", "b-to-xml": "1"})
    assert (moved.name, moved.version, moved.previous, moved.parties) == ("a-to-fhir", "3", "2", ("also-free", "free"))
    assert "a-to-fhir v3 is new" in moved.message() and "(was v2): also-free, free" in moved.message()
    assert reg.new_defaults(parties, {"a-to-fhir": "3"}) == []  # nothing moved
    assert reg.new_defaults(parties, {}) == []  # first sight: nobody was on another version


def test_the_store_swaps_the_defaults_it_saw(store_url: str) -> None:
    db = Database(store_url)
    try:
        seen = MappingDefaults(db)
        assert seen.swap({"a": "1", "b": "1"}) == {}
        assert seen.swap({"a": "2"}) == {"a": "1", "b": "1"}
        assert MappingDefaults(db).load() == {"a": "2", "b": "1"}  # b stays: it may be installed again
    finally:
        db.close()


def _start_worker(settings: Settings) -> None:
    """Start one worker on the embedded broker and stop it as soon as it is ready to consume."""
    stop = threading.Event()
    run_worker(settings, stop=stop, setup=lambda app, worker: stop.set())


def test_worker_start_announces_an_installed_default_once(settings: Settings, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    settings = with_registry(settings, tmp_path, [
        AANBIEDER,
        party("zorg-fhir", "AGB", "02000000", "zorgaanbieder", accepts=("fhir-r4-json",)),
        party("zorg-pinned", "AGB", "03000000", "zorgaanbieder", accepts=("fhir-r4-json",),
              mappings={"iwlz-aw33-to-fhir": "2"}),
        party("zorg-xml", "AGB", "04000000", "zorgaanbieder", accepts=("iwlz-2.2-xml:AW33",)),
    ])
    caplog.set_level(logging.WARNING, logger="zorghub.mappings")
    _start_worker(settings)  # the hub as shipped: its defaults are recorded, nothing moved
    assert [r for r in caplog.records if r.name == "zorghub.mappings"] == []

    for folder in install_package(REPO / "tests" / "fixtures" / "integrator_mapping", tmp_path / "site"):
        monkeypatch.syspath_prepend(folder)
    try:
        _start_worker(settings)
        warnings = [r for r in caplog.records if r.name == "zorghub.mappings"]
        assert [r.levelno for r in warnings] == [logging.WARNING]
        assert warnings[0].getMessage() == (
            "mapping iwlz-aw33-to-fhir v3 is new and now serves every party that does not pin a version "
            "(was v2.1): zorg-fhir")
        caplog.clear()
        _start_worker(settings)  # announced once: the next start is quiet
        assert [r for r in caplog.records if r.name == "zorghub.mappings"] == []
    finally:
        for name in [m for m in sys.modules if m.startswith("zorghub_integrator_mapping")]:
            sys.modules.pop(name)
