"""Two netwerkpunten: hub A sends its notifications to hub B's zendNotificatie; B delivers them once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from hub.flows.network import seed
from hub.http import auth
from hub.http.tokens import DevKey
from hub.settings import Settings
from tests.conftest import PG_URL, temporary_vhost
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

ZEND = """mutation($n: NotificatieInput!) { zendNotificatie(notificatieInput: $n) {
  notificatieID eventType ontvangerID subjectList { subject recordID } } }"""


def notificatie(**changes: object) -> dict[str, object]:
    return {"timestamp": "2026-11-01T10:00:00+01:00", "afzenderIDType": "OIN", "afzenderID": "00000001003214345000",
            "ontvangerIDType": "UZOVI", "ontvangerID": "5509", "eventType": "NIEUWE_INDICATIE_ZORGKANTOOR",
            "subjectList": [{"subject": "WlzIndicatie", "recordID": seed.IDS["indicatie"]}], **changes}


@pytest.fixture
def second_vhost(rabbitmq_vhost: str) -> Iterator[str]:
    with temporary_vhost() as vhost:
        yield vhost


@pytest.fixture
def hub_b(amqp_settings: Settings, second_vhost: str, tmp_path: Path, pg_url: str,
          schema_dir: object) -> Iterator[Live]:
    """Hub B, its own vhost, PostgreSQL schema and home; it trusts hub A's token key (its JWKS file)."""
    key_a = DevKey.at(tmp_path / "home" / auth.DEV_KEY_FILE, create=True)
    jwks = tmp_path / "hub-a.jwks.json"
    jwks.write_bytes(orjson.dumps(key_a.jwks()))
    schema = f"zh_b_{uuid.uuid4().hex[:10]}"
    settings = amqp_settings.replace(home=str(tmp_path / "home-b"), store_url=f"{PG_URL}?schema={schema}",
                                     broker_url=amqp_settings.broker_url.rsplit("/", 1)[0] + "/" + second_vhost,
                                     http_jwks=str(jwks))
    try:
        with live_hub(settings) as running:
            running.key = key_a  # B's callers hold tokens of A's key
            yield running
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_zend_notificatie_delivers_once_with_the_same_id(hub_b: Live) -> None:
    ciz = hub_b.party("ciz")
    first = ciz.graphql("netwerkpunt", ZEND, {"n": notificatie()})
    assert first.status_code == 200, first.text
    got = first.json()["data"]["zendNotificatie"]
    assert uuid.UUID(got["notificatieID"]).version == 5
    assert got["eventType"] == "NIEUWE_INDICATIE_ZORGKANTOOR" and got["ontvangerID"] == "5509"
    again = ciz.graphql("netwerkpunt", ZEND, {"n": notificatie()}).json()["data"]["zendNotificatie"]
    assert again["notificatieID"] == got["notificatieID"]
    delivered = hub_b.hub["zk-utrecht"].wait(1)
    assert delivered[0].kind == "netwerkpunt.notificatie"
    assert delivered[0].json()["notificatieID"] == got["notificatieID"]
    assert hub_b.hub["zk-utrecht"].wait(0, timeout=1.5) == []  # the repeat was not delivered again
    received = [r for r in hub_b.hub.app.audit.for_message(got["notificatieID"]) if r.action == "received"]
    assert len(received) == 1


def test_the_graphql_validator_checks_notificatie_input(hub_b: Live) -> None:
    ciz = hub_b.party("ciz")
    bad = ciz.graphql("netwerkpunt", ZEND, {"n": notificatie(afzenderIDType="COD001")})
    assert bad.status_code == 400
    assert "Value 'COD001' does not exist in 'IDTypeEnum' enum" in bad.json()["errors"][0]["message"]
    missing = {k: v for k, v in notificatie().items() if k != "eventType"}
    bad = ciz.graphql("netwerkpunt", ZEND, {"n": missing})
    assert bad.status_code == 400
    assert "to include required field 'eventType'" in bad.json()["errors"][0]["message"]
    # a valid input naming another afzender than the token's party is refused
    forged = ciz.graphql("netwerkpunt", ZEND, {"n": notificatie(afzenderID="00000001822477348000")}).json()
    assert forged["errors"][0]["message"] == "the afzender is not the token's party"
    assert hub_b.hub["zk-utrecht"].wait(0, timeout=1.0) == []


def test_hub_a_relays_its_notifications_to_hub_b(amqp_settings: Settings, hub_b: Live) -> None:
    settings_a = amqp_settings.replace(netwerkpunten=(f"zk-utrecht={hub_b.url}/graphql/netwerkpunt",))
    with live_hub(settings_a) as hub_a:
        hub_a.hub["ciz"].send("network.melden", seed.melding("WlzIndicatie", seed.indicatie()))
        got = hub_b.hub["zk-utrecht"].wait(1, timeout=30)
        body = got[0].json()
        assert got[0].kind == "netwerkpunt.notificatie"
        assert (body["eventType"], body["afzenderID"], body["subjectList"]) == (
            "NIEUWE_INDICATIE_ZORGKANTOOR", "00000001003214345000",
            [{"subject": "WlzIndicatie", "recordID": seed.IDS["indicatie"]}])
        deadline = time.monotonic() + 10
        relayed: list[object] = []
        while not relayed and time.monotonic() < deadline:
            relayed = hub_a.hub.app.audit.records("action = ?", ("relayed",))
            time.sleep(0.1)
        assert relayed and body["notificatieID"] in relayed[0].reason  # type: ignore[attr-defined]


def test_zend_melding_gets_a_melding_id(hub_b: Live) -> None:
    zend = """mutation($m: MeldingInput!) { zendMelding(meldingInput: $m) { meldingID eventType } }"""
    ciz = hub_b.party("ciz")
    melding = notificatie(eventType="CORRECTIE_VERZOEK")
    first = ciz.graphql("netwerkpunt", zend, {"m": melding}).json()["data"]["zendMelding"]
    assert first["eventType"] == "CORRECTIE_VERZOEK"
    assert ciz.graphql("netwerkpunt", zend, {"m": melding}).json()["data"]["zendMelding"] == first
    got = hub_b.hub["zk-utrecht"].wait(1)
    assert (got[0].kind, got[0].json()["meldingID"]) == ("netwerkpunt.melding", first["meldingID"])
    # a token without the melding scope may not send one
    narrow = hub_b.party("ciz", scopes=["organisaties/indicatieorgaan/notificaties/notificatie:create"])
    refused = narrow.graphql("netwerkpunt", zend, {"m": melding}).json()
    assert refused["errors"][0]["message"] == \
        "the token lacks the scope organisaties/indicatieorgaan/meldingen/melding:create"
