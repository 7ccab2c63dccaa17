"""Seed 000 over HTTP: submit through POST /messages, the official GraphQL queries, and their audit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hub.flows.network import seed
from hub.settings import Settings
from hub.store import auditqueries
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

QUERY = """query($id: UUID) { wlzIndicatie(where: {wlzindicatieID: {eq: $id}}) {
  wlzindicatieID besluitnummer initieelVerantwoordelijkZorgkantoor client { geslachtsnaam } } }"""


@pytest.fixture
def live(amqp_settings: Settings, pg_url: str, schema_dir: object) -> Iterator[Live]:
    with live_hub(amqp_settings.replace(store_url=pg_url)) as running:
        yield running


def melden(live: Live, party: str, subject: str, data: dict[str, object], key: str) -> dict[str, object]:
    return live.party(party).send("network.melden", seed.melding(subject, data), key=key)


def test_indicatie_submitted_over_http_is_queried_with_the_official_graphql(live: Live) -> None:
    done = melden(live, "ciz", "WlzIndicatie", seed.indicatie(), "client-geelhoed")
    assert done["status"] == "processed", done
    assert "zk-utrecht" in done["delivered"]  # NIEUWE_INDICATIE_ZORGKANTOOR, as over AMQP
    notified = live.hub["zk-utrecht"].wait(1)
    assert notified[0].kind == "network.notificatie"

    zk = live.party("zk-utrecht")
    answer = zk.graphql("indicatieregister", QUERY, {"id": seed.IDS["indicatie"]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"wlzIndicatie": [{
        "wlzindicatieID": seed.IDS["indicatie"], "besluitnummer": 202600123,
        "initieelVerantwoordelijkZorgkantoor": "5509", "client": {"geslachtsnaam": "Geelhoed"}}]}}

    # the list without an id is the zorgkantoor's own clients, and `where` filters it further
    mine = zk.graphql("indicatieregister", '{ wlzIndicatie(where: {initieelVerantwoordelijkZorgkantoor: '
                                           '{eq: "5509"}}) { wlzindicatieID } }').json()
    assert mine == {"data": {"wlzIndicatie": [{"wlzindicatieID": seed.IDS["indicatie"]}]}}
    other = zk.graphql("indicatieregister", '{ wlzIndicatie(where: {initieelVerantwoordelijkZorgkantoor: '
                                            '{eq: "5515"}}) { wlzindicatieID } }').json()
    assert other == {"data": {"wlzIndicatie": []}}


def test_other_region_is_denied_and_audited_and_withheld_fields_are_not_shown(live: Live) -> None:
    assert melden(live, "ciz", "WlzIndicatie", seed.indicatie(), "g")["status"] == "processed"
    denied = live.party("zk-amsterdam").graphql("indicatieregister", QUERY, {"id": seed.IDS["indicatie"]}).json()
    assert denied["data"] is None
    assert denied["errors"][0]["message"] == "denied by rule DEFAULT-DENY"
    assert denied["errors"][0]["extensions"] == {"code": "FORBIDDEN", "rule": "DEFAULT-DENY"}
    refusals = auditqueries.refusals(live.hub.app.audit.db, "authz.")
    assert [(r.actor, r.record_id) for r in refusals if r.action == "authz.read"] == \
        [("zk-amsterdam", seed.IDS["indicatie"])]

    # the preferred provider sees the decision, not the diagnosis: `stoornis` is null, `bsn` (non-null)
    # an error
    provider = live.party("bos-en-duin")
    q = ("query($id: UUID) { wlzIndicatie(where: {wlzindicatieID: {eq: $id}}) "
         "{ wlzindicatieID stoornis { grondslag } } }")
    seen = provider.graphql("indicatieregister", q, {"id": seed.IDS["indicatie"]}).json()
    assert seen == {"data": {"wlzIndicatie": [{"wlzindicatieID": seed.IDS["indicatie"], "stoornis": None}]}}
    q = "query($id: UUID) { wlzIndicatie(where: {wlzindicatieID: {eq: $id}}) { bsn } }"
    hidden = provider.graphql("indicatieregister", q, {"id": seed.IDS["indicatie"]}).json()
    assert hidden["data"] is None
    assert hidden["errors"][0]["message"] == "WlzIndicatie.bsn is withheld by the policy or not held"
    allows = [r for r in live.hub.app.audit.records("action = ?", ("authz.read",)) if r.outcome == "allow"]
    assert {r.actor for r in allows} == {"bos-en-duin"} and len(allows) == 2


def test_a_query_text_is_checked_once_and_answered_for_each_caller(live: Live) -> None:
    """A query text's parse and validation are kept; its answer and its decision are each caller's own."""
    assert melden(live, "ciz", "WlzIndicatie", seed.indicatie(), "g")["status"] == "processed"
    checked = live.running.server.config.app.state.ctx.extensions["graphql"]["indicatieregister"].checked
    before = checked.cache_info().hits
    ids = {"id": seed.IDS["indicatie"]}
    seen = live.party("zk-utrecht").graphql("indicatieregister", QUERY, ids).json()
    assert seen["data"]["wlzIndicatie"][0]["besluitnummer"] == 202600123
    denied = live.party("zk-amsterdam").graphql("indicatieregister", QUERY, ids).json()
    assert (denied["data"], denied["errors"][0]["message"]) == (None, "denied by rule DEFAULT-DENY")
    bad = "{ wlzIndicatie { nietBestaand } }"
    refusals = [live.party("zk-utrecht").graphql("indicatieregister", bad) for _ in range(2)]
    assert [r.status_code for r in refusals] == [400, 400]
    assert refusals[0].json() == refusals[1].json()
    assert "nietBestaand" in refusals[0].json()["errors"][0]["message"]
    assert checked.cache_info().hits - before == 2
    decisions = [(r.actor, r.outcome) for r in live.hub.app.audit.records("action = ?", ("authz.read",))]
    assert decisions == [("zk-utrecht", "allow"), ("zk-amsterdam", "deny")]


def test_bemiddelingsregister_and_a_missing_scope(live: Live) -> None:
    melden(live, "ciz", "WlzIndicatie", seed.indicatie(), "g")
    assert melden(live, "zk-utrecht", "Bemiddeling", seed.bemiddeling(), "g")["status"] == "processed"
    zk = live.party("zk-utrecht")
    q = '{ bemiddeling(where: {bemiddelingID: {eq: "%s"}}) { bemiddelingID verantwoordelijkZorgkantoor } }'
    got = zk.graphql("bemiddelingsregister", q % seed.IDS["bemiddeling"]).json()
    assert got == {"data": {"bemiddeling": [{"bemiddelingID": seed.IDS["bemiddeling"],
                                             "verantwoordelijkZorgkantoor": "5509"}]}}
    narrow = live.party("zk-utrecht", scopes=["organisaties/zorgkantoor/bevragen/wlzIndicatie:read"])
    refused = narrow.graphql("bemiddelingsregister", q % seed.IDS["bemiddeling"]).json()
    assert refused["errors"][0]["message"] == \
        "the token lacks the scope organisaties/zorgkantoor/bevragen/bemiddeling:read"
    decisions = live.hub.app.audit.records("action = ?", ("authz.http",))
    assert any(r.outcome == "deny" and "bevragen/bemiddeling" in r.reason for r in decisions)


def test_post_messages_is_the_amqp_path_idempotent_with_receipts(live: Live) -> None:
    ciz = live.party("ciz")
    message_id = str(uuid.uuid4())
    first = ciz.submit("network.melden", seed.melding("WlzIndicatie", seed.indicatie()), message_id=message_id)
    assert first.status_code == 202
    assert first.json() == {"messageId": message_id, "status": "accepted",
                            "statusUrl": f"{live.url}/messages/{message_id}"}
    assert ciz.wait(message_id)["status"] == "processed"
    again = ciz.submit("network.melden", seed.melding("WlzIndicatie", seed.indicatie()), message_id=message_id)
    assert (again.status_code, again.json()) == (202, first.json())
    live.hub["zk-utrecht"].wait(1)
    assert live.hub["zk-utrecht"].wait(0, timeout=1.0) == []  # one delivery, not two
    received = [r for r in live.hub.app.audit.for_message(message_id) if r.action == "received"]
    assert len(received) == 1

    # a refused message answers its sender as on AMQP: a receipt in its inbox, and the status says why
    bad = ciz.submit("network.melden", {"subject": "WlzIndicatie"}, message_id="bad-1")
    assert bad.status_code == 202
    status = ciz.wait("bad-1")
    assert status["status"] == "rejected" and status["rule"] == "SCHEMA:required", status
    receipts = {m.json()["messageId"]: m.json()["status"] for m in live.hub["ciz"].wait(2)
                if m.kind == "zorghub.receipt"}
    assert receipts == {message_id: "accepted", "bad-1": "rejected"}

    missing = ciz.http.post(f"{live.url}/messages", content=b"{}", headers={**ciz.auth,
                                                                           "Content-Type": "application/json"})
    assert (missing.status_code, missing.json()["reason"]) == (400, "the header x-message-kind is required")
