"""``POST /messages``: message submit for vendors without AMQP, and ``GET /messages/{id}``, its status.

The message goes into the hub's inbound exchange (``HttpContext.submit``) and from there through the
same workers as an AMQP message: the same checks, idempotency (by sender and message id), receipts
(to the party's inbox) and audit. The answer is 202 with a status URL; the same message id again gets
the same answer and is not processed twice (the worker's idempotent consumer drops the repeat).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.errors import HubError
from hub.http.context import HttpContext, context_of
from hub.http.pep import authorize, caller, trace_of
from hub.store.audit import AuditRecord
from hub.store.idempotency import sender_records

KIND_HEADER = "x-message-kind"
ID_HEADER = "x-message-id"
KEY_HEADER = "x-routing-key"
CORRELATION_HEADER = "x-correlation-id"
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")


def _required(request: Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise HTTPException(400, f"the header {name} is required")
    return value


def status_url(request: Request, ctx: HttpContext, message_id: str) -> str:
    base = ctx.settings.http_public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/messages/{message_id}"


def accepted(request: Request, ctx: HttpContext, message_id: str) -> dict[str, Any]:
    return {"messageId": message_id, "status": "accepted", "statusUrl": status_url(request, ctx, message_id)}


async def submit(request: Request) -> Response:
    ctx = context_of(request)
    await caller(request)  # who asks comes first: an anonymous caller learns nothing about the headers
    kind = _required(request, KIND_HEADER)
    message_id = _required(request, ID_HEADER)
    if not _ID.match(message_id):
        raise HTTPException(400, "the header x-message-id must be 1 to 200 of A-Z a-z 0-9 . _ : @ -")
    content_type = _required(request, "content-type").split(";")[0].strip()
    decided: list[AuditRecord] = []
    who = await authorize(request, "create", "berichten", kind, decided)
    body = await request.body()
    trace = trace_of(request)
    try:
        await ctx.commit(decided, [ctx.message(
            who.party, kind=kind, message_id=message_id, content_type=content_type, body=body,
            routing_key=request.headers.get(KEY_HEADER) or message_id,
            correlation_id=request.headers.get(CORRELATION_HEADER), headers={"traceparent": trace} if trace else {})])
    except HubError as exc:  # the broker or the store did not take it: nothing was accepted
        raise HTTPException(503, f"not accepted, send it again: {exc.reason}", headers={"Retry-After": "1"}) from None
    answer = accepted(request, ctx, message_id)
    return JSONResponse(answer, status_code=202, headers={"Location": answer["statusUrl"]})


def outcome(ctx: HttpContext, party: str, message_id: str) -> dict[str, Any]:
    """What became of a party's message, from the audit log: pending until a worker took it."""
    records = sender_records(ctx.hub.audit.for_message(message_id), party)
    actions = {r.action: r for r in records}
    answer: dict[str, Any] = {"messageId": message_id}
    if "dead_lettered" in actions:
        refused = actions.get("rejected") or actions["dead_lettered"]
        answer["status"] = "rejected" if "rejected" in actions else "dead_lettered"
        rule, _, reason = refused.reason.partition(": ")
        answer.update(rule=rule.split(" ")[-1], reason=reason)
    elif "received" in actions:
        answer["status"] = "processed"
        answer["delivered"] = sorted({r.recipient for r in records if r.action == "delivered" and r.recipient})
    elif "deferred" in actions:
        answer.update(status="retrying", reason=actions["deferred"].reason)
    else:
        answer["status"] = "pending"
    return answer


async def status(request: Request) -> Response:
    ctx = context_of(request)
    who = await caller(request)
    message_id = request.path_params["message_id"]
    found = await ctx.run(outcome, ctx, who.party, message_id)
    return JSONResponse({**found, "statusUrl": status_url(request, ctx, message_id)})


def routes(ctx: HttpContext) -> list[BaseRoute]:
    return [Route("/messages", submit, methods=["POST"]),
            Route("/messages/{message_id}", status, methods=["GET"])]
