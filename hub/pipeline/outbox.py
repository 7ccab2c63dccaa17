"""Every message the hub sends, built in one place with one message-id scheme.

Message ids of what the hub sends:

- ``d-<32 hex>``: a delivery of the message itself (routed, translated) to one recipient: the first
  32 hex digits of the SHA-256 over (sender, message id, recipient, route with mapping@version)
  joined by NUL (``delivery_id``). The same input always gives the same id, so a copy sent again
  after a crash is recognisable; the sender's own id stays visible in ``x-origin-message-id``;
- ``<origin>``: a retry and a dead-letter copy keep the sender's own ``message_id``;
- ``<origin>:receipt``: the JSON receipt (``zorghub.receipt``) to the sender;
- ``<origin>:answer``: the one answer to the sender in its own standard: an iWlz retourbericht,
  the ``antwoord`` to a network query;
- ``<origin>:notice:<recipient>:<n>``: the n-th further message (0, 1, ...) a flow's handler
  sends about ``<origin>``, to any party.

``<origin>`` is the message id of the inbound message the hub is answering. Messages a flow keeps
and may send again later (network notifications per subscription, terugmelding messages) carry an
id the flow derives and stores itself; the outbox takes it as given. Each message's exchange,
routing key, properties and headers are kept in its audit record's ``detail`` (``detail``), from
which a crashed batch's output is rebuilt byte for byte (``from_detail``).

Every message for a party's inbox also counts in a stream: ``x-zorghub-stream`` is
``<recipient>/<shard>`` (the inbound shard the worker consumed) and ``x-zorghub-seq`` numbers the
stream's messages 1, 2, 3 ... without gaps (``sequenced``), so a receiver sees a gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from hub.envelope import Delivery, Envelope
from hub.formats import bsn as bsnlib
from hub.pipeline.hooks import Answer
from hub.transports.base import Outgoing, RawMessage

if TYPE_CHECKING:
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology

RECEIPT_KIND = "zorghub.receipt"
RESEND_KIND = "zorghub.resend"
HUB_SENDER = "zorghub"
#: the stream a message counts in (``<recipient>/<shard>``), its number there, and a delivery's origin id
STREAM_HEADER = "x-zorghub-stream"
SEQ_HEADER = "x-zorghub-seq"
ORIGIN_HEADER = "x-origin-message-id"


def delivery_id(sender: str, origin: str, recipient: str, route: str) -> str:
    """The deterministic id of a delivery: ``d-`` and 32 hex of SHA-256 over the four, NUL-joined."""
    return "d-" + hashlib.sha256("\0".join((sender, origin, recipient, route)).encode()).hexdigest()[:32]


def route_of(env: Envelope) -> str:
    """The route part of a delivery's id: its kind and the mapping@version that made it ('' if none)."""
    mapping = f"{env.mapping}@{env.mapping_version}" if env.mapping else ""
    return f"{env.kind}|{mapping}"


def stream_of(recipient: str, shard: int) -> str:
    return f"{recipient}/{shard}"


def sequenced(o: Outgoing, stream: str, seq: int) -> Outgoing:
    """``o`` numbered in its stream (the two headers a receiver tracks)."""
    return Outgoing(o.exchange, o.routing_key, o.body, o.properties,
                    {**o.headers, STREAM_HEADER: stream, SEQ_HEADER: seq})


def message_id(origin: str, purpose: str, recipient: str | None = None, n: int | None = None) -> str:
    """The id of a message the hub makes about ``origin``: ``<origin>:<purpose>[:<recipient>[:<n>]]``."""
    parts = [origin, purpose]
    if recipient is not None:
        parts.append(recipient)
        if n is not None:
            parts.append(str(n))
    return ":".join(parts)


def delivery(d: Delivery, topology: Topology, parties: PartyRegistry, origin: str | None = None) -> Outgoing:
    """A routed (possibly translated) message to one recipient's inbox.

    A delivery of the inbound message ``origin`` (its message id) gets its deterministic id
    (``delivery_id``) and names ``origin`` in ``x-origin-message-id``; a message a flow keeps under an
    id of its own (a notification) keeps that id.
    """
    env = d.envelope
    headers: dict[str, Any] = {"x-sender": env.sender}
    message_id_ = env.message_id
    if origin is not None and origin == env.message_id:
        message_id_ = delivery_id(env.sender, origin, d.recipient, route_of(env))
        headers[ORIGIN_HEADER] = origin
    sender = parties.find(env.sender)
    if sender is not None and sender.id_type != "BSN":
        headers.update({"x-sender-id-type": sender.id_type, "x-sender-id": sender.id})
    if env.mapping:
        headers.update({"x-mapping": env.mapping, "x-mapping-version": env.mapping_version})
    for key, value in env.headers.items():
        if key.startswith("x-network-") or key == "traceparent":
            headers[key] = value
    return Outgoing(
        exchange=topology.outbound,
        routing_key=d.recipient,
        body=env.payload,
        properties={"message_id": message_id_, "correlation_id": env.correlation_id,
                    "type": env.kind, "content_type": env.content_type},
        headers=headers,
    )


def receipt(topology: Topology, env: Envelope, status: str, rule: str, reason: str, **extra: Any) -> Outgoing:
    """The JSON receipt to the sender: accepted, unchanged or rejected, with the rule and a BSN-free reason."""
    body = orjson.dumps({"messageId": env.message_id, "status": status, "kind": env.kind, "rule": rule,
                         "reason": bsnlib.redact(reason), **extra})
    return Outgoing(
        exchange=topology.outbound, routing_key=env.sender, body=body,
        properties={"message_id": message_id(env.message_id, "receipt"), "correlation_id": env.message_id,
                    "type": RECEIPT_KIND, "content_type": "application/json"},
        headers={"x-sender": HUB_SENDER, "x-status": status},
    )


def answer(topology: Topology, env: Envelope, ans: Answer) -> Outgoing:
    """An answer in the sender's own standard (an iWlz retourbericht), correlated to the heenbericht."""
    return Outgoing(
        exchange=topology.outbound, routing_key=env.sender, body=ans.body,
        properties={"message_id": message_id(env.message_id, "answer"), "correlation_id": env.message_id,
                    "type": ans.kind, "content_type": ans.content_type},
        headers={"x-sender": HUB_SENDER},
    )


def reply(topology: Topology, env: Envelope, kind: str, body: Any) -> Outgoing:
    """The answer to a request (a network query): correlated to the requester's ``correlation_id``."""
    return Outgoing(
        exchange=topology.outbound, routing_key=env.sender, body=_bytes(body),
        properties={"message_id": message_id(env.message_id, "answer"),
                    "correlation_id": env.correlation_id or env.message_id,
                    "type": kind, "content_type": "application/json"},
        headers={"x-sender": HUB_SENDER, "x-reply-to": env.reply_to or ""},
    )


def notice(topology: Topology, env: Envelope, to: str, kind: str, body: Any, *, n: int,
           content_type: str = "application/json", correlation_id: str | None = None,
           headers: Mapping[str, Any] | None = None, message_id_: str | None = None) -> Outgoing:
    """A further message a flow's handler sends about ``env`` (a reply, a notice), to party ``to``.

    ``message_id_`` is for a flow that keeps its own stable id for the message (see the module text).
    """
    return Outgoing(
        exchange=topology.outbound, routing_key=to, body=_bytes(body),
        properties={"message_id": message_id_ or message_id(env.message_id, "notice", to, n),
                    "correlation_id": correlation_id or env.message_id, "type": kind,
                    "content_type": content_type},
        headers={"x-sender": HUB_SENDER, **(headers or {})},
    )


def retry(topology: Topology, raw: RawMessage, env: Envelope, hub_user: str, attempt: int, delay_ms: int,
          reason: str) -> Outgoing:
    """The message itself again, through the delay queue; published as the hub, naming its sender.

    The headers are the envelope's: a sender's own copies of hub headers were dropped at receive time.
    """
    sender = env.sender
    headers = {**dict(env.headers), "x-retries": attempt, "x-delay-ms": delay_ms,
               "x-original-sender": sender, "x-retry-reason": bsnlib.redact(reason)}
    props = {**dict(raw.properties), "user_id": hub_user}
    return Outgoing(topology.retry, raw.routing_key, raw.body, props, headers)


def dead_letter(topology: Topology, raw: RawMessage, env: Envelope, error_class: str, rule: str,
                reason: str) -> Outgoing:
    """The message itself to the dead letter channel, with why and where from."""
    return Outgoing(
        exchange=topology.dlx, routing_key=raw.routing_key, body=raw.body,
        properties={k: raw.properties.get(k) for k in ("message_id", "correlation_id", "type", "content_type")},
        headers={"x-reason": reason, "x-error-class": error_class, "x-rule": rule,
                 "x-original-exchange": topology.inbound,
                 "x-original-routing-key": raw.routing_key, "x-original-queue": raw.queue,
                 "x-original-sender": env.sender, "x-original-kind": env.kind},
    )


def detail(o: Outgoing) -> str:
    """Where a message went and how, kept in its audit record so that it can be sent again as it was."""
    return orjson.dumps({"x": o.exchange, "rk": o.routing_key, "p": dict(o.properties),
                         "h": dict(o.headers)}).decode()


def from_detail(d: Mapping[str, Any], body: bytes) -> Outgoing:
    """A message rebuilt from its audit record's ``detail`` and its stored payload."""
    return Outgoing(str(d["x"]), str(d["rk"]), body, d.get("p", {}), d.get("h", {}))


def _bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)
