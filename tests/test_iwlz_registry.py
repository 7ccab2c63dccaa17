"""The shipped party registry runs the iWlz flow, an undeliverable IO31 is answered, and pins are checked at start-up.

On memory and on RabbitMQ, with the registry the hub ships (the ``hub`` fixture): XML-only parties
beside the network-model ones; every golden heenbericht reaches its addressee untouched and is
answered ``0200``; an IO31 to a zorgkantoor that is not registered gets an IO32 and reaches no one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.app import HubApp
from hub.errors import ConfigError
from hub.formats.iwlz import Validator
from hub.settings import Settings
from hub.testing import TestHub
from tests.iwlz_samples import ADDRESSEE, RETOUR, SENDER, change, golden, placed_codes
from tests.party_helpers import AANBIEDER, with_registry, zorgkantoor


def test_the_shipped_registry_holds_xml_only_and_network_model_parties_side_by_side(hub: TestHub) -> None:
    accepts = {p.name: p.accepts for p in hub.app.parties}
    assert accepts["zk-groningen"] == ("iwlz-2.2-xml:IO31", "iwlz-2.2-xml:AW35", "iwlz-2.2-xml:AW39")
    assert accepts["de-linde"] == ("iwlz-2.2-xml:AW33",) and accepts["het-anker"] == ("iwlz-2.2-xml:AW33",)
    assert accepts["zk-utrecht"] == ("json",) and accepts["bos-en-duin"] == ("json",)  # the network model's


@pytest.mark.parametrize("msg", ["IO31", "AW33", "AW35", "AW39"])
def test_each_golden_heenbericht_reaches_its_xml_only_addressee(hub: TestHub, schema_dir: Path, msg: str) -> None:
    sender, addressee = hub[SENDER[msg]], hub[ADDRESSEE[msg]]
    message_id = sender.send(f"iwlz.{msg}", golden(msg), content_type="application/xml")
    (delivered,) = addressee.wait(1)
    assert delivered.body == golden(msg) and delivered.headers["x-origin-message-id"] == message_id
    assert delivered.properties["type"] == f"iwlz.{msg}"
    (retour,) = sender.wait(1)
    assert retour.kind == f"iwlz.{RETOUR[msg]}" and placed_codes(retour.body) == set()
    assert Validator(schema_dir).validate(RETOUR[msg], retour.body) == []
    assert hub.app.dead_letters.list() == []


def test_an_io31_to_an_unregistered_zorgkantoor_gets_an_io32_and_nothing_is_routed(hub: TestHub,
                                                                                    schema_dir: Path) -> None:
    io31 = change(golden("IO31"), (r"<Ontvanger>5501<", "<Ontvanger>5502<"))  # Leeuwarden: not registered
    assert hub.app.parties.by_identifier("COD001", "5502") is None
    assert Validator(schema_dir).validate("IO31", io31) == []
    ciz = hub["ciz"]
    message_id = ciz.send("iwlz.IO31", io31, content_type="application/xml")
    (retour,) = ciz.wait(1)
    assert retour.kind == "iwlz.IO32" and retour.properties["correlation_id"] == message_id
    assert Validator(schema_dir).validate("IO32", retour.body) == []
    assert placed_codes(retour.body) == {("0001", "/Bericht/Header")}
    hub.settle()
    assert hub["zk-groningen"].empty() and hub["zk-utrecht"].empty()
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule == "NO_ROUTE"
    actions = [r.action for r in hub.app.audit.for_message(message_id)]
    assert actions == ["received", "answered", "dead_lettered"]


def test_a_pin_to_a_mapping_version_that_is_not_installed_stops_the_hub(settings: Settings, tmp_path: Path) -> None:
    bad = with_registry(settings, tmp_path, [AANBIEDER, zorgkantoor("zk-fhir", "5502", "fhir-r4-json",
                                                                    mappings={"iwlz-aw35-to-fhir": "99"})])
    with pytest.raises(ConfigError, match="party 'zk-fhir' pins mapping 'iwlz-aw35-to-fhir' has no version '99'"):
        HubApp.build(bad)
    env = {**os.environ, "ZORGHUB_HOME": bad.home, "ZORGHUB_PARTIES_FILE": bad.parties_file}
    for command in (["serve"], ["worker"]):
        run = subprocess.run([sys.executable, "-m", "hub.cli", *command], env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode != 0, command
        (line,) = run.stderr.strip().splitlines()
        assert line.startswith("zorghub: ") and "zk-fhir" in line and "'99'" in line, line
