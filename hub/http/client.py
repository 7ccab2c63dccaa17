"""A party's HTTP client of the hub: its token, message submit with the status wait, and GraphQL.

Used by ``zorghub demo --http``, the tests and the bench; each call can be shown as the ``curl`` line
that does the same (``HttpParty.curl``).
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

Printer = Callable[[str], None]


@dataclass
class HttpParty:
    base: str
    party: str
    token: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))
    #: prints each call as a curl line when set
    show: Printer | None = None
    #: where the curl lines' request bodies are written (``--data-binary @file``): no payload, no BSN, printed
    body_dir: Path | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def curl(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> str:
        """The same call as a shell line; the token stands as ``$TOKEN_<PARTY>``."""
        var = "TOKEN_" + self.party.upper().replace("-", "_")
        line = f'curl -sS -X {method} {shlex.quote(self.base + path)} -H "Authorization: Bearer ${var}"'
        for k, v in headers.items():
            line += " -H " + shlex.quote(f"{k}: {v}")
        if body is not None and self.body_dir is not None:
            self.body_dir.mkdir(parents=True, exist_ok=True)
            saved = self.body_dir / f"{len(list(self.body_dir.iterdir())) + 1:03d}-{self.party}.json"
            saved.write_bytes(body)
            line += " --data-binary " + shlex.quote(f"@{saved}")
        elif body is not None:
            line += " --data-binary " + shlex.quote(body.decode())
        return line

    def _show(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> None:
        if self.show is not None:
            self.show("  $ " + self.curl(method, path, headers, body))

    def submit(self, kind: str, payload: Any, *, message_id: str = "", content_type: str = "application/json",
               key: str = "") -> httpx.Response:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        headers = {"Content-Type": content_type, "X-Message-Kind": kind, "X-Message-Id": message_id or
                   str(uuid.uuid4())}
        if key:
            headers["X-Routing-Key"] = key
        self._show("POST", "/messages", headers, body)
        return self.http.post(f"{self.base}/messages", content=body, headers={**self.auth, **headers})

    def status(self, message_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/messages/{message_id}", headers=self.auth)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def wait(self, message_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The message's status once a worker took it (not pending, not retrying)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.status(message_id)
            if found["status"] not in ("pending", "retrying") or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def send(self, kind: str, payload: Any, **kw: Any) -> dict[str, Any]:
        """Submit and wait for the outcome."""
        response = self.submit(kind, payload, **kw)
        response.raise_for_status()
        return self.wait(response.json()["messageId"])

    def graphql(self, endpoint: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        body = orjson.dumps({"query": query, **({"variables": variables} if variables else {})})
        headers = {"Content-Type": "application/json"}
        self._show("POST", f"/graphql/{endpoint}", headers, body)
        return self.http.post(f"{self.base}/graphql/{endpoint}", content=body, headers={**self.auth, **headers})

    def close(self) -> None:
        self.http.close()
