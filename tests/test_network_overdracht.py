"""An Overdracht moves a client's responsibility from zorgkantoor A to zorgkantoor B, from its overdrachtDatum on.

Seed 000's Mr Geelhoed: zk-utrecht (A, 5509) starts his bemiddeling, then
registers an Overdracht to zk-amsterdam (B, 5515). zk-rotterdam (C, 5521) is
a third zorgkantoor that has nothing to do with him. On the embedded
transport and on RabbitMQ, on SQLite and PostgreSQL; each test ends with ``flow_suite``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.flows.network import FLOW, seed
from hub.flows.network.responsibility import today
from hub.settings import Settings
from hub.testing import TestHub, flow_suite
from tests.party_helpers import with_registry, zorgkantoor
from tests.test_network_services import Net

IDS = seed.IDS
A, B, C = "zk-utrecht", "zk-amsterdam", "zk-rotterdam"
OVERDRACHT_ID = "7f000000-0000-4000-8000-000000000011"
NEW_SPEC_ID = "3c000000-0000-4000-8000-000000000011"


def overdracht(on: date, to: str = "5515", record_id: str = OVERDRACHT_ID) -> dict[str, Any]:
    """An Overdracht of Mr Geelhoed's bemiddeling: exactly the contract's fields (plus its bemiddeling)."""
    return {"overdrachtID": record_id, "bemiddelingID": IDS["bemiddeling"], "verantwoordelijkZorgkantoor": to,
            "overdrachtDatum": on.isoformat(), "verhuisDatum": (on - timedelta(days=14)).isoformat(),
            "vaststellingMoment": f"{(on - timedelta(days=20)).isoformat()}T09:00:00+01:00"}


def new_specificatie() -> dict[str, Any]:
    """A follow-up toewijzing the new zorgkantoor writes under the transferred bemiddeling."""
    return dict(seed.specificatie(), bemiddelingspecificatieID=NEW_SPEC_ID, uitvoerendZorgkantoor="5515",
                toewijzingIngangsdatum="2027-01-01", vaststellingMoment="2026-12-01T10:00:00+01:00")


def events(told: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {party: [n["eventType"] for n in notes] for party, notes in told.items()}


def audited(hub: Net, actor: str, action: str, subject: str, outcome: str) -> list[str]:
    """The deciding rules of the audited authorisation decisions that match."""
    found = hub.app.audit.records("actor = ? AND action = ? AND record_type = ? AND outcome = ?",
                                  (actor, action, subject, outcome))
    return [r.reason.split(":")[0] for r in found]


def three_zorgkantoren(settings: Settings, tmp_path: Path) -> Settings:
    """The demo's parties plus a third zorgkantoor, C."""
    demo_parties = settings.parties_path.read_text(encoding="utf-8")
    return with_registry(settings, tmp_path, [demo_parties, zorgkantoor(C, "5521")])


@pytest.fixture
def hub(hub_settings: Settings, store_url: str, tmp_path: Path) -> Iterator[Net]:
    with TestHub(three_zorgkantoren(hub_settings.replace(store_url=store_url), tmp_path), out=lambda _: None) as ctx:
        yield Net(ctx)
        flow_suite(FLOW, ctx)


@pytest.mark.parametrize("days_ago", [30, 0], ids=["past", "today"])
def test_an_effective_overdracht_moves_the_client_to_the_new_zorgkantoor(hub: Net, days_ago: int) -> None:
    hub.start()
    body = overdracht(today() - timedelta(days=days_ago))
    receipt, told = hub.melden(A, "Overdracht", body)
    # B, the zorgkantoor the Overdracht names, gets the mandatory notification; A wrote it and gets the receipt
    assert receipt["status"] == "accepted" and events(told) == {B: ["NIEUWE_OVERDRACHT_ZORGKANTOOR"]}
    assert told[B][0]["subjectList"] == [{"subject": "Overdracht", "recordID": OVERDRACHT_ID}]
    stored = hub.net.registers.current("Overdracht", OVERDRACHT_ID)
    assert stored is not None and stored.data == body and stored.owner == A  # the contract's fields, nothing added

    # B pulls the bemiddeling it now answers for: allowed, and audited with the deciding rule
    a = hub.query(B, "bemiddeling", bemiddelingID=IDS["bemiddeling"])
    assert a["status"] == "ok" and a["results"][0]["data"]["bemiddelingID"] == IDS["bemiddeling"]
    assert audited(hub, B, "authz.read", "Bemiddeling", "allow") == ["rule R-BEM-ZK-VERANTWOORDELIJK"]
    a = hub.query(B, "wlzIndicatiesZorgkantoor")  # Mrs Jansen was B's already; Mr Geelhoed is now too
    assert sorted(r["recordID"] for r in a["results"]) == [IDS["indicatie"], IDS["indicatie_jansen"]]
    # C is still denied, and audited
    a = hub.query(C, "bemiddeling", bemiddelingID=IDS["bemiddeling"])
    assert a["status"] == "denied" and a["rule"] == "DEFAULT-DENY"
    assert audited(hub, C, "authz.read", "Bemiddeling", "deny") == ["rule DEFAULT-DENY"]
    # A keeps reading what it wrote, but is no longer the client's zorgkantoor
    a = hub.query(A, "bemiddeling", bemiddelingID=IDS["bemiddeling"])
    assert a["status"] == "ok" and audited(hub, A, "authz.read", "Bemiddeling", "allow") == ["rule R-OWNER"]
    assert hub.query(A, "wlzIndicatie", wlzindicatieID=IDS["indicatie"])["status"] == "denied"
    assert hub.query(A, "wlzIndicatiesZorgkantoor")["results"] == []

    # later changes go to the responsible zorgkantoor: B, not A
    _, told = hub.melden("bos-en-duin", "Zorglevering", seed.zorglevering())
    assert events(told) == {B: ["NIEUWE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["NIEUWE_ZORGLEVERING_CAK"]}
    receipt, told = hub.melden(B, "Bemiddelingspecificatie", new_specificatie())
    assert receipt["status"] == "accepted" and events(told) == {
        "bos-en-duin": ["NIEUWE_BEMIDDELINGSPECIFICATIE_ZORGAANBIEDER"]}
    assert hub.net.registers.current("Bemiddelingspecificatie", NEW_SPEC_ID).owner == B  # type: ignore[union-attr]
    _, told = hub.melden("ciz", "WlzIndicatie", {"wlzindicatieID": IDS["indicatie"]}, "ingetrokken")
    assert events(told) == {B: ["VERVALLEN_INDICATIE_ZORGKANTOOR"]}
    assert not any(seed.GEELHOED_BSN in r.reason for r in hub.app.audit.records())


def test_an_overdracht_before_its_date_moves_nothing(hub: Net) -> None:
    hub.start()
    on = today() + timedelta(days=30)
    receipt, told = hub.melden(A, "Overdracht", overdracht(on))
    # B hears of the coming transfer now, and may pull that Overdracht, but nothing else moves
    assert receipt["status"] == "accepted" and events(told) == {B: ["NIEUWE_OVERDRACHT_ZORGKANTOOR"]}
    a = hub.query(B, "record", subject="Overdracht", recordID=OVERDRACHT_ID)
    assert a["status"] == "ok" and audited(hub, B, "authz.read", "Overdracht", "allow") == [
        "rule R-OVERDRACHT-ONTVANGER"]
    a = hub.query(B, "bemiddeling", bemiddelingID=IDS["bemiddeling"])
    assert a["status"] == "denied" and a["rule"] == "DEFAULT-DENY"
    assert hub.query(B, "wlzIndicatie", wlzindicatieID=IDS["indicatie"])["status"] == "denied"
    assert [r["recordID"] for r in hub.query(B, "wlzIndicatiesZorgkantoor")["results"]] == [
        IDS["indicatie_jansen"]]
    assert [r["recordID"] for r in hub.query(A, "wlzIndicatiesZorgkantoor")["results"]] == [IDS["indicatie"]]
    _, told = hub.melden("bos-en-duin", "Zorglevering", seed.zorglevering())
    assert events(told) == {A: ["NIEUWE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["NIEUWE_ZORGLEVERING_CAK"]}
    # A still keeps the bemiddeling: it writes, B may not
    receipt, _ = hub.melden(B, "Bemiddelingspecificatie", dict(seed.specificatie(), percentage=80), "gewijzigd")
    assert receipt["status"] == "rejected" and receipt["rule"] == "DEFAULT-DENY"
    receipt, _ = hub.melden(A, "Bemiddelingspecificatie", dict(seed.specificatie(), percentage=90), "gewijzigd")
    assert receipt["status"] == "accepted" and receipt["version"] == 2
    # and A may still change its planned transfer; B is told
    receipt, told = hub.melden(A, "Overdracht", dict(overdracht(on), verhuisDatum=on.isoformat()), "gewijzigd")
    assert receipt["status"] == "accepted" and events(told) == {B: ["GEWIJZIGDE_OVERDRACHT_ZORGKANTOOR"]}
    # on the overdrachtDatum itself it moves (the hub's clock, set to that day)
    hub.net.authz.responsibility.clock = lambda: on
    assert hub.query(B, "bemiddeling", bemiddelingID=IDS["bemiddeling"])["status"] == "ok"
    _, told = hub.melden("bos-en-duin", "Zorglevering", seed.zorglevering("2"), "gewijzigd")
    assert events(told) == {B: ["GEWIJZIGDE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["GEWIJZIGDE_ZORGLEVERING_CAK"]}


def test_the_new_zorgkantoor_keeps_the_bemiddeling_and_the_old_history_stays(hub: Net) -> None:
    hub.start()
    hub.melden(A, "Overdracht", overdracht(today() - timedelta(days=1)))
    # B keeps the toewijzing now: its change is a new version of its own, A's version stays A's
    ended = dict(seed.specificatie(), toewijzingEinddatum="2026-12-31")
    receipt, told = hub.melden(B, "Bemiddelingspecificatie", ended, "gewijzigd")
    assert receipt["status"] == "accepted" and receipt["version"] == 2
    assert events(told) == {"bos-en-duin": ["GEWIJZIGDE_BEMIDDELINGSPECIFICATIE_ZORGAANBIEDER"]}
    history = hub.net.registers.history("Bemiddelingspecificatie", IDS["specificatie"])
    assert [(r.version, r.owner, r.data) for r in history] == [(1, A, seed.specificatie()), (2, B, ended)]
    # A may no longer write a version over B's, nor over its own old records, nor undo the effective transfer
    for subject, data, actie in [("Bemiddelingspecificatie", dict(ended, toewijzingEinddatum=None), "gewijzigd"),
                                 ("Bemiddeling", dict(seed.bemiddeling(), verantwoordelijkheidEinddatum="2027-01-01"),
                                  "gewijzigd"),
                                 ("Overdracht", {"overdrachtID": OVERDRACHT_ID}, "ingetrokken")]:
        receipt, told = hub.melden(A, subject, data, actie)
        assert (receipt["status"], receipt["rule"], told) == ("rejected", "DEFAULT-DENY", {}), subject
        assert audited(hub, A, "authz.write", subject, "deny") == ["rule DEFAULT-DENY"]
    assert hub.net.registers.history("Bemiddelingspecificatie", IDS["specificatie"]) == history
    assert len(hub.net.registers.history("Bemiddeling", IDS["bemiddeling"])) == 1
    assert hub.net.registers.current("Overdracht", OVERDRACHT_ID).active  # type: ignore[union-attr]
    # C may not write either
    receipt, _ = hub.melden(C, "Bemiddelingspecificatie", dict(ended, percentage=50), "gewijzigd")
    assert receipt["status"] == "rejected"
    # A reads the version it wrote, not B's
    a = hub.query(A, "historie", recordID=IDS["specificatie"])
    assert [r["version"] for r in a["results"]] == [1] and [d["rule"] for d in a["denied"]] == ["DEFAULT-DENY"]
    assert [r["version"] for r in hub.query(B, "historie", recordID=IDS["specificatie"])["results"]] == [1, 2]


def test_a_terugmelding_after_the_overdracht_goes_to_the_new_zorgkantoor(hub: Net) -> None:
    hub.start()
    hub.melden(A, "Overdracht", overdracht(today()))
    got = hub.send("cak", "network.terugmelden", {"subject": "Bemiddelingspecificatie",
                                                  "recordID": IDS["specificatie"], "regelcode": "TR-ZZP"})
    assert set(got) == {"cak", B}  # A wrote the toewijzing, but B keeps it now
    tid = orjson.loads(got["cak"][0].body)["terugmeldingID"]
    got = hub.send(A, "network.terugmelding.besluit", {"terugmeldingID": tid, "besluit": "afgewezen", "reden": "x"})
    assert orjson.loads(got[A][0].body)["status"] == "denied"
    got = hub.send(B, "network.terugmelding.besluit", {
        "terugmeldingID": tid, "besluit": "geaccepteerd", "correctie": dict(seed.specificatie(), zzpCode="6VV")})
    assert orjson.loads(got["cak"][0].body)["correctieVersie"] == 2
    current = hub.net.registers.current("Bemiddelingspecificatie", IDS["specificatie"])
    assert current is not None and (current.owner, current.data["zzpCode"]) == (B, "6VV")


@pytest.mark.rabbitmq
def test_overdracht_on_rabbitmq(amqp_settings: Settings, tmp_path: Path) -> None:
    ctx = TestHub(three_zorgkantoren(amqp_settings, tmp_path), out=lambda _: None)
    try:
        hub = Net(ctx)
        hub.start()
        receipt, told = hub.melden(A, "Overdracht", overdracht(today() - timedelta(days=7)))
        assert receipt["status"] == "accepted" and events(told) == {B: ["NIEUWE_OVERDRACHT_ZORGKANTOOR"]}
        _, told = hub.melden("bos-en-duin", "Zorglevering", seed.zorglevering())
        assert events(told) == {B: ["NIEUWE_ZORGLEVERING_ZORGKANTOOR"], "cak": ["NIEUWE_ZORGLEVERING_CAK"]}
        assert hub.query(B, "bemiddeling", bemiddelingID=IDS["bemiddeling"])["status"] == "ok"
        assert hub.query(C, "bemiddeling", bemiddelingID=IDS["bemiddeling"])["status"] == "denied"
        assert audited(hub, B, "authz.read", "Bemiddeling", "allow") == ["rule R-BEM-ZK-VERANTWOORDELIJK"]
    finally:
        ctx.close()
