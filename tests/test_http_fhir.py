"""FHIR REST for PGO apps (seed 000 over HTTP, the PGO part): Inge's PGO reads her father's indicatie and
care records through /fhir/, sees nothing of another client, and the AuditEvent search lists who read his
data. Against RabbitMQ and PostgreSQL, with the server on a loopback port; every resource is checked
against the R4 models of fhir.resources (R4B)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from hub.flows.network import seed
from hub.flows.network.demo import seed000
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.testing import TestHub
from tests.fhir_helpers import bearer, client, http_server, token

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

IDS = seed.IDS


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as the R4 model reads it back: a resource that is not valid FHIR fails here."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert model.model_dump(mode="json", exclude_none=True, by_alias=True)["resourceType"] == resource["resourceType"]
    return resource


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Seed 000 walked over RabbitMQ into a PostgreSQL store, and the HTTP server on that store."""
    import uuid

    import psycopg

    from tests import conftest

    conftest.need("PostgreSQL", conftest.pg_available(), f"cannot connect to {conftest.PG_URL}")
    schema = f"zh_{uuid.uuid4().hex[:12]}"
    home = tmp_path_factory.mktemp("fhir") / "home"
    settings = Settings.load(environ={"ZORGHUB_HOME": str(home), "ZORGHUB_SCHEMA_DIR": str(conftest.SCHEMA_DIR)})
    try:
        with conftest.temporary_vhost() as vhost:
            settings = settings.replace(broker_url=f"amqp://guest:guest@{conftest.AMQP_HOST}:5672/{vhost}",
                                        store_url=f"{conftest.PG_URL}?schema={schema}", shards=2)
            with TestHub(settings, out=lambda _: None) as hub:
                assert seed000(hub), "seed 000 itself must pass before its FHIR views are tried"
                with http_server(settings) as running:
                    yield {"settings": settings, "hub": hub, "url": running.url}
    finally:
        with psycopg.connect(conftest.PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _tok(world: dict[str, Any], party: str, patient: str | None = None, **kw: Any) -> dict[str, str]:
    return bearer(token(world["settings"], world["hub"], party, patient, **kw))


def inge(world: dict[str, Any]) -> dict[str, str]:
    return _tok(world, "pgo-geelhoed", seed.GEELHOED_BSN)


def test_inge_reads_the_indicatie_and_care_records(world: dict[str, Any]) -> None:
    with client(world["url"]) as c:
        got = c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie']}", headers=inge(world))
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/fhir+json")
        ind = valid(got.json())
        assert ind["id"] == IDS["indicatie"] and ind["patient"]["identifier"]["value"] == seed.GEELHOED_BSN
        found = {}
        for rtype, rid in (("EpisodeOfCare", "bemiddeling"), ("ServiceRequest", "specificatie"),
                           ("Encounter", "zorglevering"), ("Patient", "clientgegevens")):
            bundle = c.get(f"/fhir/{rtype}", headers=inge(world)).json()
            valid(bundle)
            assert bundle["type"] == "searchset"
            found[rtype] = [e["resource"]["id"] for e in bundle["entry"]]
            assert found[rtype] == [IDS[rid]], rtype
            for e in bundle["entry"]:
                valid(e["resource"])
        by_bsn = c.get("/fhir/Encounter", params={"patient": f"http://fhir.nl/fhir/NamingSystem/bsn|"
                                                             f"{seed.GEELHOED_BSN}"}, headers=inge(world)).json()
        assert [e["resource"]["id"] for e in by_bsn["entry"]] == found["Encounter"]
        by_id = c.get("/fhir/CoverageEligibilityResponse", params={"_id": IDS["indicatie"]}, headers=inge(world))
        assert by_id.json()["total"] == 1


def test_another_client_is_forbidden_or_empty(world: dict[str, Any]) -> None:
    with client(world["url"]) as c:
        other = c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie_jansen']}", headers=inge(world))
        assert other.status_code == 403
        assert valid(other.json())["resourceType"] == "OperationOutcome"
        search = c.get("/fhir/CoverageEligibilityResponse", params={"patient": seed.JANSEN_BSN}, headers=inge(world))
        assert search.status_code == 200 and valid(search.json())["total"] == 0
        # a token scoped to Mr Geelhoed but held by Mrs Jansen's PGO: the policy still decides per record
        mixed = _tok(world, "pgo-jansen", seed.GEELHOED_BSN)
        assert c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie']}", headers=mixed).status_code == 403
        assert c.get("/fhir/CoverageEligibilityResponse", headers=mixed).json()["total"] == 0
        # Mrs Jansen's own PGO sees her indicatie, and not his
        jansen = _tok(world, "pgo-jansen", seed.JANSEN_BSN)
        assert [e["resource"]["id"] for e in c.get("/fhir/CoverageEligibilityResponse", headers=jansen)
                .json()["entry"]] == [IDS["indicatie_jansen"]]
        # no token, a token without the FHIR scope, an unknown type, an unknown parameter
        assert c.get("/fhir/Encounter").status_code == 401
        assert c.get("/fhir/Encounter", headers=_tok(world, "zk-utrecht")).status_code == 403
        assert c.get("/fhir/Observation", headers=inge(world)).status_code == 404
        bad = c.get("/fhir/Encounter", params={"code": "x"}, headers=inge(world))
        assert bad.status_code == 400 and "code" in bad.json()["issue"][0]["diagnostics"]


def test_every_read_is_audited_like_a_network_query(world: dict[str, Any]) -> None:
    hub: TestHub = world["hub"]
    log: AuditLog = hub.app.audit
    before = log.head()[0]
    with client(world["url"]) as c:
        assert c.get(f"/fhir/Encounter/{IDS['zorglevering']}", headers=inge(world)).status_code == 200
        assert c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie_jansen']}",
                     headers=inge(world)).status_code == 403
    new = log.records("seq > ?", (before,))
    reads = [r for r in new if r.action == "authz.read"]
    allowed = [r for r in reads if r.outcome == "allow"]
    denied = [r for r in reads if r.outcome == "deny"]
    assert [(r.actor, r.record_id) for r in allowed] == [("pgo-geelhoed", IDS["zorglevering"])]
    assert [(r.actor, r.record_id) for r in denied] == [("pgo-geelhoed", IDS["indicatie_jansen"])]
    assert all(r.source.endswith("/http") for r in reads)
    assert any(r.action == "network.query" and "fhir.read" in r.reason for r in new)
    assert all(seed.GEELHOED_BSN not in r.reason and seed.JANSEN_BSN not in r.reason for r in new)


def test_the_clients_audit_event_search_lists_who_read_his_data(world: dict[str, Any]) -> None:
    with client(world["url"]) as c:
        c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie']}", headers=inge(world))
        c.get(f"/fhir/CoverageEligibilityResponse/{IDS['indicatie']}", headers=_tok(world, "pgo-jansen",
                                                                                     seed.GEELHOED_BSN))
        bundle = c.get("/fhir/AuditEvent", headers=inge(world)).json()
        valid(bundle)
        events = [valid(e["resource"]) for e in bundle["entry"]]
        assert bundle["total"] == len(events) > 0

        def who(ev: dict[str, Any]) -> set[str]:
            return {a["who"]["identifier"]["value"] for a in ev["agent"]}

        readers = {(next(iter(who(ev) - {"zorghub"}), "zorghub"), ev["outcome"]) for ev in events}
        # seed 000: his zorgkantoor, the provider and the CAK read his records; another region's zorgkantoor,
        # an unrelated provider and Mrs Jansen's PGO were refused; his PGO read them itself
        for party in ("zk-utrecht", "bos-en-duin", "cak", "pgo-geelhoed"):
            assert (party, "0") in readers, party
        for party in ("zk-amsterdam", "zonnehof", "pgo-jansen"):
            assert (party, "4") in readers, party
        # every record is about him: none of Mrs Jansen's
        own = {ent["what"]["identifier"]["value"] for ev in events for ent in ev.get("entity", [])
               if ent["what"]["identifier"]["system"] == "urn:zorghub:client-pseudonym"}
        assert len(own) == 1
        jansen = c.get("/fhir/AuditEvent", headers=_tok(world, "pgo-jansen", seed.JANSEN_BSN)).json()
        theirs = {ent["what"]["identifier"]["value"] for e in jansen["entry"] for ent in e["resource"].get("entity", [])
                  if ent["what"]["identifier"]["system"] == "urn:zorghub:client-pseudonym"}
        assert theirs and not theirs & own
        # his audit trail is not hers to search
        assert c.get("/fhir/AuditEvent", params={"patient": seed.GEELHOED_BSN},
                     headers=_tok(world, "pgo-jansen", seed.JANSEN_BSN)).json()["total"] == 0


def test_capability_statement(world: dict[str, Any]) -> None:
    with client(world["url"]) as c:
        got = c.get("/fhir/metadata")
        assert got.status_code == 200
        cap = valid(got.json())
        offered = {r["type"] for r in cap["rest"][0]["resource"]}
        assert {"CoverageEligibilityResponse", "EpisodeOfCare", "ServiceRequest", "Encounter", "Patient",
                "AuditEvent", "Subscription"} <= offered
        assert cap["fhirVersion"] == "4.0.1"
