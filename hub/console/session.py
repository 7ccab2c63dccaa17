"""Console sessions: a login answered with an access token from the front door's token machinery.

The token is the development issuer's (``hub.http.tokens.DevKey``), with audience ``zorghub-console``,
the account as subject and its role as scope ``console:<role>``, kept in an HttpOnly, SameSite=Strict
cookie. Every refusal of a page is itself an audit record (``console.denied``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jwt
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from hub.console.accounts import Account
from hub.http import auth
from hub.http.tokens import DevKey

COOKIE = "zorghub_console"
AUDIENCE = "zorghub-console"
TTL = 8 * 3600


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: an account, its role and, for a party account, the party it acts as."""

    name: str
    role: str
    party: str = ""


@functools.lru_cache(maxsize=8)
def _key(home: str) -> DevKey:
    """The issuer's key, read once per home (a page load must not parse a PEM file)."""
    return DevKey.at(Path(home) / auth.DEV_KEY_FILE, create=True)


def issue(home: str, issuer: str, account: Account) -> str:
    scopes = [f"console:{account.role}"] + ([f"console:party:{account.party}"] if account.party else [])
    return _key(home).issue(account.name, scopes, issuer=issuer, audience=AUDIENCE, ttl=TTL, subject=account.name)


def viewer(conn: HTTPConnection, home: str, issuer: str) -> Viewer | None:
    """The logged-in account of this request, or ``None`` (no cookie, or one that does not verify)."""
    token = conn.cookies.get(COOKIE)
    if not token:
        return None
    key = _key(home).key.public_key()
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer,
                            options={"require": ["exp", "sub", "scope"]})
    except jwt.InvalidTokenError:
        return None
    scopes = str(claims.get("scope", "")).split()
    roles = [s.split(":", 1)[1] for s in scopes if s.startswith("console:") and s.count(":") == 1]
    party = next((s.split(":", 2)[2] for s in scopes if s.startswith("console:party:")), "")
    if not roles:
        return None
    return Viewer(str(claims["sub"]), roles[0], party)


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(303, "log in first", headers={"Location": "/console/login"})
