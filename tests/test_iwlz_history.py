"""Acceptance 5 of the iWlz retours: the history rules, on memory and on RabbitMQ.

For each rule the hub checks against its own message history or registry (docs/iwlz.md), a sample
that keeps it is delivered, and one that breaks it gets the retour with the rule's COD910 code at
its berichtklasse, is dead-lettered naming the rule, and reaches no one.
"""

from __future__ import annotations

from pathlib import Path

from hub.formats.iwlz import Validator
from hub.testing import TestHub
from tests.iwlz_samples import (
    RETOUR,
    aw35_on_the_golden_aw33,
    change,
    golden,
    identified,
    on_the_golden_aw33,
    placed_codes,
)

GZ = "/Bericht/Clienten/Client/GeleverdeZorgzwaartepakketten/GeleverdZorgzwaartepakket"
MZ = "/Bericht/Clienten/Client/MutatieZorgzwaartepakketten/MutatieZorgzwaartepakket"
HEADER = "/Bericht/Header"


def accepted(hub: TestHub, sender: str, addressee: str, msg: str, xml: bytes) -> None:
    """``sender``'s message reaches ``addressee`` as sent, and the sender's retour has no remark."""
    message_id = hub[sender].send(f"iwlz.{msg}", xml, content_type="application/xml")
    (delivered,) = hub[addressee].wait(1)
    assert delivered.body == xml and delivered.headers["x-origin-message-id"] == message_id
    (retour,) = hub[sender].wait(1)
    assert retour.kind == f"iwlz.{RETOUR[msg]}" and placed_codes(retour.body) == set(), placed_codes(retour.body)


def refused(hub: TestHub, schema_dir: Path, sender: str, addressee: str, msg: str, xml: bytes,
            codes: set[tuple[str, str]], rules: str) -> None:
    """``sender``'s message gets the retour with ``codes`` where they belong, and reaches no one."""
    message_id = hub[sender].send(f"iwlz.{msg}", xml, content_type="application/xml")
    (retour,) = hub[sender].wait(1)
    assert retour.kind == f"iwlz.{RETOUR[msg]}" and retour.properties["correlation_id"] == message_id
    assert Validator(schema_dir).validate(RETOUR[msg], retour.body) == []
    assert placed_codes(retour.body) == codes
    hub.settle()
    assert hub[addressee].empty()
    (entry,) = [e for e in hub.app.dead_letters.list() if e.message_id == message_id]
    assert entry.rule == rules
    actions = [r.action for r in hub.app.audit.for_message(message_id)]
    assert "routed" not in actions and "delivered" not in actions


def test_tr056_an_identificatie_is_unique_per_sender_and_message(hub: TestHub, schema_dir: Path) -> None:
    aw35 = golden("AW35")
    accepted(hub, "de-linde", "zk-groningen", "AW35", aw35)
    later = change(aw35, (r"<Begindatum>2020-12-23<", "<Begindatum>2020-12-24<"))  # another aanlevering
    accepted(hub, "de-linde", "zk-groningen", "AW35", identified(later, "2"))
    accepted(hub, "de-linde", "zk-groningen", "AW39", golden("AW39"))  # the same Identificatie in another message
    new_care = change(aw35, (r"<Begindatum>2020-12-23<", "<Begindatum>2020-12-25<"))  # its Identificatie: "0"
    refused(hub, schema_dir, "de-linde", "zk-groningen", "AW35", new_care, {("9056", HEADER)}, "TR056")


def test_tr019_care_starts_on_a_toewijzing_the_hub_holds(hub: TestHub, schema_dir: Path) -> None:
    # before any AW33 for this client the hub cannot know its toewijzingen: not checked (known-clients)
    accepted(hub, "het-anker", "zk-zeeland", "AW35", identified(aw35_on_the_golden_aw33(Begindatum="2023-02-02"), "A1"))
    accepted(hub, "zk-zeeland", "het-anker", "AW33", golden("AW33"))
    accepted(hub, "het-anker", "zk-zeeland", "AW35", identified(aw35_on_the_golden_aw33(), "A2"))
    wrong_start = aw35_on_the_golden_aw33(ToewijzingIngangsdatum="2023-01-30")
    refused(hub, schema_dir, "het-anker", "zk-zeeland", "AW35", identified(wrong_start, "A3"), {("9019", GZ)},
            "TR019")
    other_product = aw35_on_the_golden_aw33(ZzpCode="760")
    refused(hub, schema_dir, "het-anker", "zk-zeeland", "AW35", identified(other_product, "A4"), {("9019", GZ)},
            "TR019")
    accepted(hub, "het-anker", "zk-zeeland", "AW39", identified(on_the_golden_aw33("AW39"), "M1"))  # its end
    other_besluit = on_the_golden_aw33("AW39", Besluitnummer="362425003")
    refused(hub, schema_dir, "het-anker", "zk-zeeland", "AW39", identified(other_besluit, "M2"), {("9019", MZ)},
            "TR019")


def test_tr019_always_needs_a_toewijzing_when_so_set(hub: TestHub, schema_dir: Path) -> None:
    hub.app.flow_settings["iwlz"]["history_scope"] = "always"
    refused(hub, schema_dir, "het-anker", "zk-zeeland", "AW35", aw35_on_the_golden_aw33(), {("9019", GZ)}, "TR019")
    accepted(hub, "zk-zeeland", "het-anker", "AW33", golden("AW33"))
    accepted(hub, "het-anker", "zk-zeeland", "AW35", aw35_on_the_golden_aw33())


def _io31(ident: str, besluitnummer: str, day: str) -> bytes:
    """The golden IO31 as a besluit of ``day``, sent that day."""
    return change(identified(golden("IO31"), ident), (r"<Besluitnummer>1<", f"<Besluitnummer>{besluitnummer}<"),
                  (r"<Afgiftedatum>2021-01-01<", f"<Afgiftedatum>{day}<"),
                  (r"<iwlz:Dagtekening>2021-01-01<", f"<iwlz:Dagtekening>{day}<"))


def test_tr079_successive_besluiten_for_a_client_are_numbered_in_order(hub: TestHub, schema_dir: Path) -> None:
    accepted(hub, "ciz", "zk-groningen", "IO31", _io31("1", "5", "2021-01-01"))
    accepted(hub, "ciz", "zk-groningen", "IO31", _io31("2", "6", "2021-02-01"))
    refused(hub, schema_dir, "ciz", "zk-groningen", "IO31", _io31("3", "4", "2021-03-01"),
            {("9079", "/Bericht/Clienten/Client/Indicatie")}, "TR079")
    refused(hub, schema_dir, "ciz", "zk-groningen", "IO31", _io31("4", "7", "2021-01-15"),
            {("9079", "/Bericht/Clienten/Client/Indicatie")}, "TR079")


def test_tr064_the_agb_code_is_the_senders_own(hub: TestHub, schema_dir: Path) -> None:
    aw35 = golden("AW35")  # Afzender and Instelling 01000000: De Linde's AGB code
    refused(hub, schema_dir, "bos-en-duin", "zk-groningen", "AW35", aw35, {("9064", GZ)}, "TR064")
    accepted(hub, "de-linde", "zk-groningen", "AW35", aw35)


def _status(ident: str, status: str, begin: str = "2020-12-23") -> bytes:
    """The golden AW35 (De Linde) as aanlevering ``status`` of the care begun on ``begin``."""
    return change(identified(golden("AW35"), ident), (r"<StatusAanlevering>1<", f"<StatusAanlevering>{status}<"),
                  (r"<Begindatum>2020-12-23<", f"<Begindatum>{begin}<"))


def test_tr074_tr063_each_aanlevering_fits_the_earlier_ones(hub: TestHub, schema_dir: Path) -> None:
    def refuse(xml: bytes, rule: str, code: str) -> None:
        refused(hub, schema_dir, "de-linde", "zk-groningen", "AW35", xml, {(code, GZ)}, rule)

    # a removal before the hub saw any aanlevering of this client: out of its sight (known-clients)
    accepted(hub, "de-linde", "zk-groningen", "AW35", _status("0", "3", begin="2020-12-20"))
    accepted(hub, "de-linde", "zk-groningen", "AW35", _status("1", "1"))  # a first aanlevering
    refuse(_status("2", "1"), "TR074", "9074")  # a second first of the same care
    refuse(_status("3", "3", begin="2020-12-24"), "TR063", "9063")  # removing care never announced
    accepted(hub, "de-linde", "zk-groningen", "AW35", _status("4", "3"))  # removed
    refuse(_status("5", "3"), "TR063", "9063")  # and not removed twice
    accepted(hub, "de-linde", "zk-groningen", "AW35", _status("6", "1"))  # announced anew


def test_every_broken_history_rule_is_named(hub: TestHub, schema_dir: Path) -> None:
    accepted(hub, "zk-zeeland", "het-anker", "AW33", golden("AW33"))
    accepted(hub, "het-anker", "zk-zeeland", "AW35", identified(aw35_on_the_golden_aw33(), "B1"))
    again = identified(aw35_on_the_golden_aw33(ToewijzingIngangsdatum="2023-01-30"), "B1")
    refused(hub, schema_dir, "het-anker", "zk-zeeland", "AW35", again, {("9056", HEADER), ("9019", GZ)},
            "TR056,TR019")
