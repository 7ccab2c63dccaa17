"""The contract as documents, fuzzed: schemathesis against /openapi.json and the GraphQL endpoints.

A bounded number of examples per operation; no answer is a 5xx, and every answer matches its schema.
Also here: the trace headers through AMQP into the audit log, readiness, metrics, limits, access log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hub.flows.network import seed
from hub.settings import Settings
from tests.conftest import PG_URL, SCHEMA_DIR, need, pg_available, temporary_vhost
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("ZORGHUB_FUZZ_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One hub for the module (the fuzzer runs many cases), seeded with Mr Geelhoed's indicatie."""
    need("PostgreSQL", pg_available(), f"cannot connect to {PG_URL}")
    need("the shared standards", SCHEMA_DIR.is_dir(), "they are not beside the project")
    home = tmp_path_factory.mktemp("fuzz")
    schema = f"zh_fuzz_{uuid.uuid4().hex[:10]}"
    with temporary_vhost() as vhost:
        base = Settings.load(environ={"ZORGHUB_HOME": str(home / "home"), "ZORGHUB_SCHEMA_DIR": str(SCHEMA_DIR)})
        s = base.replace(broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}", shards=2,
                         store_url=f"{PG_URL}?schema={schema}", http_rate_per_minute=100000)
        try:
            with live_hub(s) as running:
                assert running.party("ciz").send("network.melden", seed.melding("WlzIndicatie", seed.indicatie()),
                                                 key="g")["status"] == "processed"
                yield running
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def fuzz(schema: schemathesis.BaseSchema, run: Callable[[schemathesis.Case], None]) -> list[str]:
    """Run ``run`` on a bounded number of generated cases of every operation; the operations run."""
    done = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def each(case: schemathesis.Case) -> None:
            run(case)

        each()
        done.append(operation.label)
    return done


def test_rest_contract_no_5xx_and_every_answer_matches_its_schema(live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token('zk-utrecht')}"}
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    # the GraphQL grammar of a query is beyond JSON Schema: a schema-valid body may be no GraphQL (400,
    # as documented); the GraphQL endpoints are fuzzed from their SDLs below
    grammar = [positive_data_acceptance]

    def run(case: schemathesis.Case) -> None:
        excluded = grammar if case.operation.path == "/graphql/{name}" else []
        case.call_and_validate(base_url=live.url, headers=headers, excluded_checks=excluded)

    # every operation, each answer checked against the document (status, content type, body schema)
    # (schemathesis leaves out the operation that serves the document it was loaded from)
    assert fuzz(schema, run) == ["POST /messages", "GET /messages/{message_id}", "POST /graphql/{name}",
                                 "GET /graphql/{name}/schema.graphql", "GET /healthz", "GET /readyz", "GET /metrics",
                                 "GET /fhir/metadata", "GET /fhir/{type}", "GET /fhir/{type}/{id}",
                                 "POST /fhir/Subscription", "PUT /fhir/Subscription/{id}",
                                 "DELETE /fhir/Subscription/{id}", "GET /fhir/Subscription/{id}/$status",
                                 "GET /fhir/Subscription/{id}/$events"]


def test_graphql_contract_no_5xx(live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token('zk-utrecht')}"}
    sdl = SCHEMA_DIR / "iwlz-netwerkmodel"

    def check(endpoint: str) -> Callable[[schemathesis.Case], None]:
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=f"{live.url}/graphql/{endpoint}", headers=headers)
            assert response.status_code < 500, response.text
            body = response.json()
            assert set(body) <= {"data", "errors"} and ("data" in body or body.get("errors")), body
        return run

    assert fuzz(schemathesis.graphql.from_path(str(sdl / "Indicatieregister.graphql")),
                check("indicatieregister")) == ["Query.wlzIndicatie"]
    assert fuzz(schemathesis.graphql.from_path(str(sdl / "Bemiddelingregister.graphql")),
                check("bemiddelingsregister")) == [f"Query.{f}" for f in (
        "client", "bemiddeling", "bemiddelingspecificatie", "overdracht", "regiehouder")]
