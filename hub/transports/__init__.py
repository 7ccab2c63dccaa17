"""The transport registry: a broker URL's scheme names a transport class, as in kombu.

``TRANSPORTS`` maps a scheme to ``"module:Class"``: the shipped ones, and every entry point of the
``zorghub.transports`` group (name = scheme), so a third party's package adds a transport with no
edit here. The class is imported only when a URL of its scheme is opened, so the base never names a
concrete transport. This is the one place that reads
a broker URL's scheme: everything that differs between transports (in-process or not, shard
choice, credentials, management statistics) is asked of the transport class or instance
(see ``hub.transports.base.Transport``). A test holds the rest of the source tree to that.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
from functools import cache
from typing import Any, cast

from hub.errors import ConfigError
from hub.transports.base import Transport

#: URL scheme -> "module:Class"; a third party adds its own before opening a URL of that scheme
TRANSPORTS: dict[str, str] = {
    "memory": "hub.transports.memory:MemoryTransport",
    "amqp": "hub.transports.amqp:AmqpTransport",
    "amqps": "hub.transports.amqp:AmqpTransport",
}


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


GROUP = "zorghub.transports"


@cache
def _installed() -> dict[str, str]:
    """The ``zorghub.transports`` entry points: scheme -> "module:Class"."""
    return {ep.name.lower(): ep.value for ep in md.entry_points(group=GROUP)}


def transport_class(url: str) -> type[Transport]:
    """The class that serves ``url``, imported on first use."""
    target = TRANSPORTS.get(scheme(url)) or _installed().get(scheme(url))
    if target is None:
        known = " or ".join(f"{s}://" for s in sorted({*TRANSPORTS, *_installed()}))
        raise ConfigError(f"unsupported broker URL scheme in {scheme(url) or url!r}: use {known}")
    module, _, name = target.partition(":")
    return cast(type[Transport], getattr(importlib.import_module(module), name))


def open_transport(url: str, **options: Any) -> Transport:
    """Connect to the broker at ``url`` with the transport its scheme names."""
    return transport_class(url)(url, **options)


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` for connecting as ``user``; unchanged for a transport without users (the embedded one)."""
    return transport_class(url).with_credentials(url, user, password)


def is_embedded(url: str) -> bool:
    """Whether the broker at ``url`` lives inside this process only (so another process cannot reach it)."""
    return transport_class(url).embedded


def has_management(url: str) -> bool:
    """Whether the broker at ``url`` has a management API with queue statistics."""
    return transport_class(url).has_management
