"""RabbitMQ's management HTTP API: users, vhosts and permissions for parties.

``zorghub parties sync`` gives each party its own user, allowed to publish
only to the hub's inbound exchange and to read only its own inbox queue.
Uses the standard library only: three PUTs per party do not earn a dependency.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from hub.catalogue.parties import Party, PartyRegistry
from hub.catalogue.topology import Topology
from hub.errors import ConfigError, RetryLater


class Management:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/{path}", data=data, method=method)
        req.add_header("Authorization", self._auth)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "DELETE":
                return None
            raise ConfigError(f"management API {method} {path}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise RetryLater(f"management API at {self.url} unreachable: {exc.reason}") from None

    def overview(self) -> dict[str, Any]:
        return dict(self._call("GET", "overview"))

    def queues(self, vhost: str, prefix: str = "") -> list[dict[str, Any]]:
        """Depth, unacked and consumers of each queue (for ``zorghub status``)."""
        rows = self._call("GET", f"queues/{q(vhost)}?columns=name,messages,messages_ready,"
                                 "messages_unacknowledged,consumers,type")
        return [r for r in rows or [] if str(r.get("name", "")).startswith(prefix)]

    def queues_with_rates(self, vhost: str, prefix: str = "") -> list[dict[str, Any]]:
        """As ``queues``, with the publish and deliver rates (for the console's dashboard)."""
        rows = self._call("GET", f"queues/{q(vhost)}?columns=name,messages,messages_ready,messages_unacknowledged,"
                                 "consumers,type,message_stats.publish_details.rate,"
                                 "message_stats.deliver_get_details.rate")
        return [r for r in rows or [] if str(r.get("name", "")).startswith(prefix)]

    def put_vhost(self, vhost: str) -> None:
        self._call("PUT", f"vhosts/{q(vhost)}", {})

    def delete_vhost(self, vhost: str) -> None:
        self._call("DELETE", f"vhosts/{q(vhost)}")

    def put_user(self, name: str, password: str, tags: str = "") -> None:
        self._call("PUT", f"users/{q(name)}", {"password": password, "tags": tags})

    def delete_user(self, name: str) -> None:
        self._call("DELETE", f"users/{q(name)}")

    def put_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None:
        self._call("PUT", f"permissions/{q(vhost)}/{q(user)}",
                   {"configure": configure, "write": write, "read": read})

    def sync_parties(self, vhost: str, parties: PartyRegistry, topology: Topology,
                     hub_user: str | None = None) -> list[str]:
        """Create or update one user per party with least-privilege permissions."""
        done = []
        if hub_user:
            self.put_permissions(vhost, hub_user, ".*", ".*", ".*")
        for party in parties:
            self.put_user(party.name, party_password(party))
            inbox = topology.stream_inbox(party.name) if party.stream_inbox else topology.inbox(party.name)
            self.put_permissions(vhost, party.name, configure="^$",
                                 write=f"^{re.escape(topology.inbound)}$",
                                 read=f"^{re.escape(inbox)}$")
            done.append(party.name)
        return done


def party_password(party: Party) -> str:
    return party.password or f"{party.name}-secret"


def vhost_of(url: str) -> str:
    """The vhost an AMQP URL names (``/`` when it names none)."""
    path = urllib.parse.urlparse(url).path
    return urllib.parse.unquote(path[1:]) if path and path != "/" else "/"


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")
