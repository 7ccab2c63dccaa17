"""The AsyncAPI 3.0 document of the vendor contract, generated from the kind catalogue and the contract.

Nothing in it is written by hand: channels come from the topology, one message per kind from
``kinds.toml`` (payload: the kind's JSON Schema, or its XML/file format), the replies and the
examples from the flows' ``contract.toml``. ``zorghub contract asyncapi`` prints it; a test checks it
against the AsyncAPI JSON Schema and sends every example through the hub.
"""

from __future__ import annotations

import base64
from importlib import metadata
from typing import Any

import orjson

from hub.catalogue.contract import Contract, Example, Reply
from hub.catalogue.kinds import Kind, KindCatalogue
from hub.catalogue.schemas import load_json_schema
from hub.catalogue.topology import Topology

ASYNCAPI_VERSION = "3.0.0"
#: the hub's JSON Schemas are draft 2020-12; AsyncAPI allows any schemaFormat string
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
#: on a message: per example name, who sends it and what comes back, as ``contract.toml`` says, and
#: ``encoding: base64`` for a payload that is not JSON or text (AsyncAPI examples take no extensions)
EXAMPLE_KEY = "x-zorghub-examples"

#: what every message the hub puts in an inbox carries (``README.md``, "Receiving")
INBOX_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "x-sender": {"type": "string", "description": "The sending party's name; `zorghub` for what the hub "
                                                       "itself sends. Never a BSN."},
        "x-sender-id-type": {"type": "string", "description": "The sender's identifier type (AGB, UZOVI, OIN, "
                                                               "COD001)"},
        "x-sender-id": {"type": "string", "description": "The sender's identifier"},
        "x-mapping": {"type": "string", "description": "The mapping that translated the payload for you"},
        "x-mapping-version": {"type": "string", "description": "That mapping's exact version"},
        "x-status": {"type": "string", "description": "On a receipt: its status"},
        "traceparent": {"type": "string", "description": "W3C trace context of the message this is about"},
    },
    "patternProperties": {"^x-network-": {"description": "Network-model details, such as "
                                                          "x-network-sequence, a notification's number "
                                                          "in its subscription"}},
}
SEND_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traceparent": {"type": "string", "description": "Optional W3C trace context, kept in the audit log"},
        "x-filename": {"type": "string", "description": "For a file (ZIP, CSV): its name"},
    },
    "description": "AMQP properties, not headers: `message_id` (required, unique among yours), `type` "
                   "(the kind), `user_id` (required: your broker user), `content_type`, optional "
                   "`correlation_id` and `reply_to`. Any `x-` header the hub sets itself is dropped.",
}


def document(kinds: KindCatalogue, contract: Contract, topology: Topology) -> dict[str, Any]:
    """The whole document, as plain JSON data."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    step = {id(e): n for n, e in enumerate(contract.examples)}
    for kind in sorted(kinds, key=lambda k: k.name):
        messages[kind.name] = _kind_message(kind, [(step[id(e)], e) for e in contract.examples_of(kind.name)],
                                            schemas)
    for reply in sorted(contract.replies, key=lambda r: r.name):
        messages[reply.name] = _reply_message(reply, schemas)
    ref = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    kind_names = sorted(k.name for k in kinds)
    operations: dict[str, Any] = {}
    for name in kind_names:
        replies = sorted({e.reply for e in contract.examples_of(name) if e.reply})
        op: dict[str, Any] = {
            "action": "receive",  # the hub receives what a party sends
            "title": f"Send {name}",
            "summary": kinds.get(name).description,
            "channel": {"$ref": "#/channels/inbound"},
            "messages": [{"$ref": f"#/channels/inbound/messages/{name}"}],
        }
        if replies:
            op["reply"] = {"channel": {"$ref": "#/channels/inbox"},
                           "messages": [{"$ref": f"#/channels/inbox/messages/{r}"} for r in replies]}
        operations[_op_id(name)] = op
    operations["deliverToInbox"] = {
        "action": "send",  # the hub sends into each party's inbox
        "title": "Deliveries, receipts, answers and notifications",
        "channel": {"$ref": "#/channels/inbox"},
        "messages": [{"$ref": f"#/channels/inbox/messages/{n}"} for n in sorted(messages)],
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "zorghub",
            "version": _version(),
            "description": "The vendor contract of a zorghub message hub over AMQP 0-9-1. Generated from "
                           "the kind catalogue and the flows' contract files; docs/contract.md explains it.",
            "license": {"name": "EUPL-1.2"},
        },
        "defaultContentType": "application/json",
        "servers": {"hub": {"host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                            "description": "The hub's RabbitMQ; each party logs in with its own user"}},
        "channels": {
            "inbound": {
                "address": topology.inbound,
                "title": "What parties send",
                "description": "A consistent-hash exchange over the routing key: an opaque, stable key per "
                               "client (never a BSN). Messages with equal keys are processed in order.",
                "messages": {n: ref[n] for n in kind_names},
                "bindings": {"amqp": {"is": "routingKey", "exchange": {"name": topology.inbound, "durable": True},
                                      "bindingVersion": "0.3.0"}},
            },
            "inbox": {
                "address": topology.inbox("{party}"),
                "title": "Each party's own inbox",
                "description": "A quorum queue per party; a party reads only its own.",
                "parameters": {"party": {"description": "The party's name in the party registry"}},
                "messages": dict(ref),
                "bindings": {"amqp": {"is": "queue", "queue": {"name": topology.inbox("{party}"), "durable": True,
                                                               "exclusive": False, "autoDelete": False},
                                      "bindingVersion": "0.3.0"}},
            },
        },
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _kind_message(kind: Kind, examples: list[tuple[int, Example]], schemas: dict[str, Any]) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "name": kind.name,
        "title": kind.name,
        "summary": kind.description,
        "contentType": kind.content_types[0],
        "headers": SEND_HEADERS,
        "payload": _payload(kind.name, kind.schema, kind.content_types[0], schemas, xsd=kind.xsd or kind.iwlz),
        "bindings": {"amqp": {"messageType": kind.name, "bindingVersion": "0.3.0"}},
        "x-zorghub-senders": list(kind.senders),
        "x-zorghub-content-types": list(kind.content_types),
    }
    if examples:
        pairs = [_example(n, e) for n, e in examples]
        msg["examples"] = [example for example, _ in pairs]
        msg[EXAMPLE_KEY] = {example["name"]: expect for example, expect in pairs}
    return msg


def _reply_message(reply: Reply, schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": reply.name,
        "title": reply.name,
        "summary": reply.description,
        "contentType": reply.content_type,
        "headers": INBOX_HEADERS,
        "payload": _payload(reply.name, reply.schema, reply.content_type, schemas),
        "bindings": {"amqp": {"messageType": reply.name, "bindingVersion": "0.3.0"}},
        "correlationId": {"location": "$message.header#/correlation_id",
                          "description": "The AMQP correlation_id: the message id of what this answers"},
    }


def _payload(name: str, schema: str, content_type: str, schemas: dict[str, Any], *, xsd: str = "") -> Any:
    if schema:
        body = dict(load_json_schema(schema))
        body.setdefault("$id", f"urn:zorghub:schema:{name}")
        body.pop("$schema", None)
        schemas[name] = {"schemaFormat": SCHEMA_FORMAT, "schema": body}
        return {"$ref": f"#/components/schemas/{name}"}
    if content_type in ("application/xml", "text/xml"):
        what = f" of message {xsd}" if xsd else ""
        return {"type": "string", "contentMediaType": content_type,
                "description": f"iWlz 2.2 XML{what}, checked against the official XSD and XSLT rules"}
    if content_type == "application/zip":
        return {"type": "string", "contentEncoding": "base64", "contentMediaType": content_type,
                "description": "A ZIP file; its rows are checked by the kind's handler"}
    if content_type == "text/csv":
        return {"type": "string", "contentMediaType": content_type,
                "description": "A CSV file; its rows are checked by the kind's handler (docs/csv-formats.md)"}
    return {"type": "object"}


def _example(step: int, e: Example) -> tuple[dict[str, Any], dict[str, Any]]:
    """The AsyncAPI example, and what the contract says of it."""
    out: dict[str, Any] = {"name": f"{e.flow}/{e.name}", "summary": f"{e.sender} sends {e.kind}"}
    # step: examples of one flow run in this order on a fresh hub (one may rely on an earlier one)
    expect: dict[str, Any] = {"step": step, "sender": e.sender, "contentType": e.content_type, "reply": e.reply}
    if e.headers:
        out["headers"] = dict(e.headers)
    if e.content_type.endswith("json"):
        out["payload"] = orjson.loads(e.body)
    else:
        try:
            out["payload"] = e.body.decode("utf-8")
        except UnicodeDecodeError:
            out["payload"] = base64.b64encode(e.body).decode("ascii")
            expect["encoding"] = "base64"
    if e.status:
        expect["status"] = e.status
    if e.deliver:
        expect["deliver"] = list(e.deliver)
    if e.client_key:
        expect["clientKey"] = e.client_key
    return out, expect


def example_body(example: dict[str, Any], expect: dict[str, Any]) -> bytes:
    """An example's payload as the bytes a party sends (the inverse of ``_example``)."""
    payload, content_type = example["payload"], expect["contentType"]
    if expect.get("encoding") == "base64":
        return base64.b64decode(payload)
    if content_type.endswith("json"):
        return orjson.dumps(payload)
    return str(payload).encode("utf-8")


def _op_id(kind: str) -> str:
    return "send_" + kind.replace(".", "_")


def _version() -> str:
    try:
        return metadata.version("zorghub")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without an install
        return "0"
