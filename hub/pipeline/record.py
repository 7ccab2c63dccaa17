"""Every audit record the pipeline writes, built in one place, its ``source`` set one way.

A record's ``source`` names the node and the transport that processed the message
(``<node>/<transport>``, see ``source``). Builders leave it empty; the worker stamps every record
of a batch (its own and those its handlers made) in one step before the commit (``stamp``).
Records written outside a worker (jobs, the auditor's CLI) set their own, and the audit log fills
in the node when nothing is set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from hub.envelope import Envelope
from hub.formats import bsn as bsnlib
from hub.store.audit import AuditRecord

HUB_ACTOR = "zorghub"


def source(node: str, transport: str) -> str:
    """The ``source`` of the records a worker writes: ``<node>/<transport>``."""
    return f"{node}/{transport}"


def stamp(records: Iterable[AuditRecord], where: str) -> list[AuditRecord]:
    """The records with ``source`` set to ``where`` where no one set it.

    Set in place, before the records are appended: they were made for this batch and nothing else
    holds them yet, and ``dataclasses.replace`` per record was a tenth of a message's cost.
    """
    out = list(records)
    for r in out:
        if not r.source:
            object.__setattr__(r, "source", where)
    return out


def new(env: Envelope | object | None, *, action: str, actor: str, **fields: Any) -> AuditRecord:
    """A record about ``env`` (kind, ids, trace context from it) unless ``fields`` say otherwise.

    ``env`` is an ``Envelope``, or anything with some of its fields for a decision taken outside
    the pipeline (a query from the CLI), or ``None``.
    """
    headers = getattr(env, "headers", None) or {}
    base: dict[str, Any] = {"kind": getattr(env, "kind", "") or "", "message_id": getattr(env, "message_id", "") or "",
                            "correlation_id": getattr(env, "correlation_id", "") or "",
                            "trace_id": str(headers.get("traceparent", ""))}
    base.update(fields)
    return AuditRecord(action=action, actor=actor, **base)


def about(env: Envelope, role: str, action: str, **fields: Any) -> AuditRecord:
    """A record of what happened to ``env``, with its sender as the actor (received, delivered, answered...).

    Built straight from the envelope: two of these a message are on the hot path.
    """
    base: dict[str, Any] = {"action": action, "actor": env.sender or "(unknown)", "actor_role": role,
                            "kind": env.kind, "message_id": env.message_id,
                            "correlation_id": env.correlation_id or "", "client": env.client_key or "",
                            "trace_id": str(env.headers.get("traceparent", ""))}
    base.update(fields)
    return AuditRecord.of(base)


def by_hub(env: Envelope, action: str, recipient: str, reason: str, **fields: Any) -> AuditRecord:
    """A record of a message the hub itself sends about ``env`` (a receipt, an answer), to ``recipient``."""
    return new(env, action=action, actor=HUB_ACTOR, recipient=recipient, reason=bsnlib.redact(reason), **fields)


def sent(rec: AuditRecord, body: bytes, content_type: str, detail: str) -> AuditRecord:
    """``rec`` bound to the message it records: its bytes and where it went (see ``outbox.detail``)."""
    return dataclasses.replace(rec, detail=detail, payload=body, content_type=content_type)
