"""Who is calling: the OAuth2 access token (a JWT from the configured JWKS) and, optionally, the client
certificate, resolved to a ``Principal``.

Every refusal is an ``HTTPException`` with a one-line reason: 401 when the token is absent or not valid
(signature, issuer, audience, expiry), 403 when it is valid but does not fit (an unknown party, a
certificate of another party). The result is kept on the request, so each request verifies once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from hub.settings import Settings

#: the dev signing key's files in the hub's home (``zorghub tokens issue``)
DEV_KEY_FILE = "token-signing-key.pem"
DEV_KID = "zorghub-dev"
ALGORITHMS = ["RS256", "ES256", "PS256"]
CERT_HEADER = "x-client-cert"


@dataclass(frozen=True)
class Principal:
    """The caller: a party of the registry, the scopes its token grants, and, for a PGO, the client."""

    party: str
    scopes: frozenset[str]
    patient: str | None
    subject: str


class Unauthorized(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(401, reason, headers={"WWW-Authenticate": f'Bearer error="invalid_token", '
                                                                  f'error_description="{reason}"'})


class Forbidden(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(403, reason)


class TokenVerifier:
    """Verifies access tokens against one JWKS (a file, or a URL fetched and cached by PyJWT)."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.http_issuer
        self.audience = settings.http_audience
        source = settings.http_jwks
        self._client: jwt.PyJWKClient | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._verified: dict[str, dict[str, Any]] = {}
        self._source = source or str(Path(settings.home) / DEV_KEY_FILE)
        if source.startswith(("http://", "https://")):
            self._client = jwt.PyJWKClient(source, cache_keys=True, lifespan=300)
        elif source:
            self._keys = _load_jwks(json.loads(Path(source).read_text(encoding="utf-8")))

    def _key(self, token: str) -> Any:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise Unauthorized(f"no key for this token in the JWKS: {exc}") from None
        if not self._keys:  # the development key, made by `zorghub tokens issue`
            from hub.http import tokens

            self._keys = _load_jwks(tokens.DevKey.at(Path(self._source)).jwks())
        try:
            kid = jwt.get_unverified_header(token).get("kid") or ""
        except jwt.DecodeError:
            raise Unauthorized("the access token is not a JWT") from None
        key = self._keys.get(kid) or (next(iter(self._keys.values())) if len(self._keys) == 1 and not kid
                                      else None)
        if key is None:
            raise Unauthorized(f"the token's key id {kid!r} is not in the JWKS")
        return key.key

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; ``Unauthorized`` naming the first check that fails.

        A token verified before is taken from a small cache until it expires (a client sends the same
        token with every call until it fetches a new one).
        """
        cached = self._verified.get(token)
        if cached is not None and cached["exp"] > time.time():
            return cached
        claims = self._verify(token)
        if len(self._verified) >= 4096:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        key = self._key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]}, leeway=5)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"the access token is not for audience {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"the access token is not issued by {self.issuer!r}") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the access token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the access token lacks the claim {exc.claim!r}") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the access token is not valid: {exc}") from None
        return claims


def _load_jwks(data: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys = jwt.PyJWKSet.from_dict(data).keys
    return {str(k.key_id or ""): k for k in keys}


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    items = raw.split() if isinstance(raw, str) else [str(s) for s in raw or ()]
    return frozenset(items)


async def principal(request: HTTPConnection) -> Principal:
    """The request's caller, verified once per request; 401 or 403 with a one-line reason."""
    cached = request.scope.get("zorghub.principal")
    if isinstance(cached, Principal):
        return cached
    ctx = request.app.state.ctx  # the app's HttpContext (hub.http.context, which imports this module)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no bearer access token (Authorization: Bearer <token>)")
    claims = ctx.verifier.verify(token.strip())
    party_name = str(claims.get("client_id") or claims.get("azp") or claims["sub"])
    if party_name not in ctx.hub.parties:
        raise Forbidden(f"the token's party {party_name!r} is not a party of this hub")
    if ctx.settings.http_mtls == "header":
        cert_party = certificate_party(ctx, request.headers.get(CERT_HEADER, ""))
        if cert_party != party_name:
            raise Forbidden(f"the client certificate is of party {cert_party!r}, the token of {party_name!r}")
    patient = claims.get("patient")
    found = Principal(party=party_name, scopes=scopes_of(claims), patient=str(patient) if patient else None,
                      subject=str(claims["sub"]))
    request.scope["zorghub.principal"] = found
    return found


def certificate_party(ctx: Any, escaped_pem: str) -> str:
    """The party a client certificate identifies: its subject serialNumber (an OIN, AGB ...) or CN."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if not escaped_pem:
        raise Unauthorized("no client certificate (mutual TLS is required)")
    try:
        cert = x509.load_pem_x509_certificate(unquote(escaped_pem).encode())
    except ValueError:
        raise Unauthorized("the client certificate is not a PEM certificate") from None
    now = time.time()
    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        raise Unauthorized("the client certificate is not valid now")
    serials = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    for party in ctx.hub.parties:
        if party.id in serials or party.name in names:
            return str(party.name)
    raise Forbidden("the client certificate names no party of this hub")
