"""Broker URLs with several hosts: ``amqp://user:pass@h1:5672,h2:5672,h3:5672/vhost?heartbeat=30``.

A RabbitMQ cluster has no single address: a client that knows one node loses the hub when that
node goes. So ``broker_url`` may list every node, comma-separated, sharing one set of
credentials, one vhost and one query. The hub connects to the first host that answers, in the
order given, and after a lost connection tries them all again (pika takes a sequence of
connection parameters and walks it). Nothing else here: no DNS, no shuffling, so that which node
a worker tries first stays predictable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from hub.errors import ConfigError

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class Host:
    host: str
    port: int | None

    def netloc(self) -> str:
        """``host:port`` as written in a URL (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host + (f":{self.port}" if self.port is not None else "")


@dataclass(frozen=True)
class BrokerUrl:
    """One broker URL split into its parts; ``hosts`` holds at least one."""

    scheme: str
    userinfo: str  # as written (percent-encoded), "" when absent
    hosts: tuple[Host, ...]
    path: str
    query: str

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if not parts.scheme or "//" not in url:
            raise ConfigError("a broker URL looks like amqp://user:password@host:port/vhost")
        userinfo, at, hostlist = parts.netloc.rpartition("@")
        hosts = []
        if not hostlist:  # amqp:///vhost: the client library's default host
            return cls(parts.scheme, userinfo if at else "", (Host("", None),), parts.path, parts.query)
        for item in hostlist.split(","):
            match = _HOST.match(item.strip())
            if not match:
                raise ConfigError(f"broker URL host {item.strip()!r} is not host[:port]" if item.strip()
                                  else "broker URL has an empty host in its host list")
            port = int(match["port"]) if match["port"] else None
            if port is not None and not 0 < port < 65536:
                raise ConfigError(f"broker URL port {port} is out of range")
            hosts.append(Host(match["v6"] or match["name"], port))
        return cls(parts.scheme, userinfo if at else "", tuple(hosts), parts.path, parts.query)

    def single(self, host: Host) -> str:
        """The URL for one host, with the shared credentials, vhost and query."""
        netloc = (f"{self.userinfo}@" if self.userinfo else "") + host.netloc()
        return urlunsplit((self.scheme, netloc, self.path, self.query, ""))

    def urls(self) -> list[str]:
        return [self.single(h) for h in self.hosts]

    @property
    def user(self) -> str:
        return unquote(self.userinfo.partition(":")[0]) if self.userinfo else ""

    def with_credentials(self, user: str, password: str) -> BrokerUrl:
        return BrokerUrl(self.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}", self.hosts,
                         self.path, self.query)

    def __str__(self) -> str:
        netloc = (f"{self.userinfo}@" if self.userinfo else "") + ",".join(h.netloc() for h in self.hosts)
        return urlunsplit((self.scheme, netloc, self.path, self.query, ""))

    def where(self) -> str:
        """``host:port`` of every host, comma-separated: safe to print (no credentials)."""
        return ",".join(h.netloc() for h in self.hosts)


def split_hosts(url: str) -> list[str]:
    """One single-host URL per host of ``url``, in order."""
    return BrokerUrl.parse(url).urls()
