"""The development token issuer: an RSA key in the hub's home, for the demo and the tests.

A deployment verifies tokens of its own authorisation server (``http_jwks``); this key stands in for
it, and its public half is the JWKS the hub uses when ``http_jwks`` is empty.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hub.store import private

KID = "zorghub-dev"


@dataclass(frozen=True)
class DevKey:
    path: Path
    key: rsa.RSAPrivateKey

    @classmethod
    def at(cls, path: Path, *, create: bool = False) -> DevKey:
        """The key at ``path``; made there (0600) when ``create`` and absent."""
        if not path.exists():
            if not create:
                from starlette.exceptions import HTTPException

                raise HTTPException(401, "no JWKS is configured (http_jwks) and no development key exists")
            private.make_private_dir(path.parent)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
            private.write_private_file(tmp, pem)
            try:
                os.link(tmp, path)  # two issuers at once end up with one key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
        return cls(path, loaded)

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def issue(self, party: str, scopes: Iterable[str], *, issuer: str, audience: str, ttl: int = 3600,
              patient: str | None = None, subject: str = "", now: float | None = None) -> str:
        """A client-credentials access token (RFC 9068 claims) for ``party``."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject or party, "client_id": party,
                                  "scope": " ".join(sorted(set(scopes))), "iat": issued, "exp": issued + ttl,
                                  "jti": str(uuid.uuid4())}
        if patient:
            claims["patient"] = patient
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"})
