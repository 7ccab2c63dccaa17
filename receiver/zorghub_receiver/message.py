"""One message from the inbox, as the vendor's callback sees it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pika

STREAM_HEADER = "x-zorghub-stream"
SEQ_HEADER = "x-zorghub-seq"


@dataclass(frozen=True)
class Message:
    """A delivery, a receipt, an answer or a notice from the hub.

    ``stream`` and ``seq`` are the contract's ``x-zorghub-stream`` / ``x-zorghub-seq``; both are
    None for a message that carries no sequence number (it is then deduplicated by id alone).
    """

    message_id: str
    kind: str
    body: bytes
    content_type: str | None = None
    correlation_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> str | None:
        value = self.headers.get(STREAM_HEADER)
        return _text(value) if value is not None else None

    @property
    def seq(self) -> int | None:
        value = self.headers.get(SEQ_HEADER)
        return int(value) if value is not None else None

    @property
    def sender(self) -> str | None:
        """The sending party's name (``x-sender``); None on the hub's own receipts."""
        value = self.headers.get("x-sender")
        return _text(value) if value is not None else None

    @classmethod
    def from_amqp(cls, props: pika.BasicProperties, body: bytes) -> Message:
        if not props.message_id:
            raise ValueError("a message without message_id: the hub always sets one")
        headers = {str(k): (_text(v) if isinstance(v, bytes) else v) for k, v in (props.headers or {}).items()}
        return cls(str(props.message_id), str(props.type or ""), bytes(body), props.content_type,
                   props.correlation_id, headers)

    def envelope(self) -> str:
        """Everything but the body, as JSON: how a parked message is kept in the database."""
        return json.dumps({"message_id": self.message_id, "kind": self.kind, "content_type": self.content_type,
                           "correlation_id": self.correlation_id, "headers": dict(self.headers)}, default=str)

    @classmethod
    def from_envelope(cls, envelope: str, body: bytes) -> Message:
        data = json.loads(envelope)
        return cls(data["message_id"], data["kind"], body, data["content_type"], data["correlation_id"],
                   data["headers"])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
