"""The envelope: the one immutable value every pipeline stage passes on.

Stages never mutate an envelope; they derive a new one with ``evolve`` so that
what was received, what was routed and what was delivered can all be audited
side by side.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message with everything the hub knows about it.

    ``sender`` is the party id taken from the broker-validated AMQP user_id,
    never from the payload. ``client_key`` is a keyed pseudonym of the client,
    filled in by the checker; the BSN itself never leaves the payload.
    """

    message_id: str
    sender: str
    kind: str
    content_type: str
    payload: bytes
    correlation_id: str | None = None
    reply_to: str | None = None
    mapping: str | None = None
    mapping_version: str | None = None
    client_key: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    redelivered: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.headers, MappingProxyType):
            object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def evolve(self, **changes: Any) -> Envelope:
        """A copy with some fields changed: the stage's output."""
        return dataclasses.replace(self, **changes)

    def with_headers(self, **extra: Any) -> Envelope:
        merged = dict(self.headers)
        merged.update(extra)
        return self.evolve(headers=merged)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One envelope bound for one recipient's inbox."""

    recipient: str
    envelope: Envelope
    reason: str = ""
