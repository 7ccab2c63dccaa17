"""Tokens at the front door: each refusal a 401 or 403 with a one-line reason, audited where it is a decision."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from urllib.parse import quote

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hub.flows.network import seed
from hub.http.client import HttpParty
from hub.settings import Settings
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

QUERY = '{ wlzIndicatie(where: {wlzindicatieID: {eq: "@"}}) { wlzindicatieID } }'.replace("@", seed.IDS["indicatie"])


def certificate(common_name: str) -> str:
    """A client certificate for ``common_name``, URL-encoded PEM as a TLS proxy passes it on."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    return quote(cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.fixture
def live(amqp_settings: Settings, pg_url: str, schema_dir: object) -> Iterator[Live]:
    with live_hub(amqp_settings.replace(store_url=pg_url, http_mtls="header")) as running:
        yield running


def ask(live: Live, token: str, cert: str | None) -> tuple[int, str]:
    client = HttpParty(live.url, "zk-utrecht", token)
    live.clients.append(client)
    headers = {**client.auth, **({"X-Client-Cert": cert} if cert else {})}
    response = client.http.post(f"{live.url}/graphql/indicatieregister", json={"query": QUERY}, headers=headers)
    return response.status_code, response.json().get("reason", "") or str(response.json().get("errors", ""))


def test_each_bad_token_is_refused_with_its_reason(live: Live) -> None:
    mine = certificate("zk-utrecht")
    assert ask(live, live.token("zk-utrecht"), mine)[0] == 200
    expired = live.token("zk-utrecht", now=time.time() - 7200, ttl=60)
    assert ask(live, expired, mine) == (401, "the access token has expired")
    assert ask(live, live.token("zk-utrecht", audience="another-hub"), mine) == \
        (401, "the access token is not for audience 'zorghub'")
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(live.token("zk-utrecht"), options={"verify_signature": False})
    forged = jwt.encode(claims, forged_key, algorithm="RS256", headers={"kid": "zorghub-dev"})
    assert ask(live, forged, mine) == (401, "the access token's signature does not verify")
    assert ask(live, live.token("zk-utrecht"), None) == (401, "no client certificate (mutual TLS is required)")
    assert ask(live, live.token("zk-utrecht"), certificate("zk-amsterdam")) == \
        (403, "the client certificate is of party 'zk-amsterdam', the token of 'zk-utrecht'")
    narrow = live.token("zk-utrecht", scopes=["organisaties/zorgkantoor/bevragen/bemiddeling:read"])
    status, reason = ask(live, narrow, mine)
    assert status == 200 and "the token lacks the scope organisaties/zorgkantoor/bevragen/wlzIndicatie:read" in reason
    no_header = HttpParty(live.url, "x", "").http.post(f"{live.url}/messages")
    assert (no_header.status_code, no_header.json()["reason"]) == \
        (401, "no bearer access token (Authorization: Bearer <token>)")

    decisions = [(r.actor, r.outcome, r.reason) for r in live.hub.app.audit.records("action = ?", ("authz.http",))]
    assert ("(unknown)", "deny", "POST /graphql/indicatieregister: the client certificate is of party "
            "'zk-amsterdam', the token of 'zk-utrecht'") in decisions
    assert ("zk-utrecht", "deny", "rule SCOPE: read bevragen/wlzIndicatie: the token lacks the scope "
            "organisaties/zorgkantoor/bevragen/wlzIndicatie:read") in decisions
    assert ("zk-utrecht", "allow", "rule SCOPE:organisaties/zorgkantoor/bevragen/wlzIndicatie:read: read "
            "bevragen/wlzIndicatie") in decisions
    # an invalid token is no decision: nothing about it is audited beyond the three above
    assert len(decisions) == 3
