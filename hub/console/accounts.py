"""Console accounts: a name, a role and a scrypt hash of the password, in a private file in the home.

The roles are ``operator`` (queues, messages with pseudonyms, dead letters, mappings), ``auditor`` (the
audit log, who-has-seen, revealing a payload with a reason, exports, replay jobs), ``admin`` (accounts,
and what an operator sees) and ``party`` (a party's own portal pages, acting as that party). Passwords
never leave this module: a login is answered with a session token (``hub.console.session``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from hub.errors import ConfigError
from hub.store import private

ROLES = ("operator", "auditor", "admin", "party")
FILE = "console-accounts.json"
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    salt: str
    hash: str
    #: for ``party`` accounts: the party of the registry this account acts as
    party: str = ""

    def check(self, password: str) -> bool:
        return hmac.compare_digest(_hash(password, bytes.fromhex(self.salt)), self.hash)


def _hash(password: str, salt: bytes) -> str:
    return hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


class AccountBook:
    """The accounts of one hub home; written atomically, readable only by its owner."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._accounts: dict[str, Account] = {}
        if path.is_file():
            try:
                raw = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read console accounts {path}: {exc}") from exc
            self._accounts = {a["name"]: Account(**a) for a in raw.get("accounts", [])}

    @classmethod
    def of_home(cls, home: str | Path) -> AccountBook:
        return cls(Path(home) / FILE)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._accounts.values(), key=lambda a: a.name))

    def get(self, name: str) -> Account | None:
        return self._accounts.get(name)

    def login(self, name: str, password: str) -> Account | None:
        """The account when the password fits; ``None`` otherwise (an unknown name costs a hash too)."""
        account = self._accounts.get(name)
        if account is None:
            _hash(password, b"\0" * 16)
            return None
        return account if account.check(password) else None

    def put(self, name: str, role: str, password: str, *, party: str = "") -> Account:
        if role not in ROLES:
            raise ConfigError(f"unknown console role {role!r}; the roles are {', '.join(ROLES)}")
        if role == "party" and not party:
            raise ConfigError("a party account needs the party it acts as (--party)")
        if len(password) < 8:
            raise ConfigError("a console password needs at least 8 characters")
        salt = os.urandom(16)
        account = Account(name, role, salt.hex(), _hash(password, salt), party if role == "party" else "")
        self._accounts[name] = account
        self._save()
        return account

    def _save(self) -> None:
        private.make_private_dir(self.path.parent)
        data = orjson.dumps({"accounts": [asdict(a) for a in self]}, option=orjson.OPT_INDENT_2)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        private.write_private_file(tmp, data)
        os.replace(tmp, self.path)
