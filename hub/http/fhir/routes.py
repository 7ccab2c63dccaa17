"""The FHIR REST routes under ``/fhir``: metadata, read and search, AuditEvent, Subscription.

Each route asks the enforcement point first (scope ``organisaties/<role>/fhir/<Type>:read``, or
``.../webhooks/subscription:<create|read|update>`` for subscriptions), then runs its store work on
the store's thread. Every refusal is an ``OperationOutcome`` with the status it names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from hub.errors import Forbidden, HubError, Rejected
from hub.http.context import HttpContext, context_of
from hub.http.fhir.capability import capability_statement
from hub.http.fhir.service import Call, FhirService, NotFound, Reader
from hub.http.pep import authorize, trace_of
from hub.http.webhooks.service import NotFound as NoSubscription
from hub.http.webhooks.service import Webhooks
from hub.http.webhooks.shapes import notification, subscription
from hub.http.webhooks.shapes import status as status_of

FHIR_JSON = "application/fhir+json"
Handler = Callable[[Request], Awaitable[Response]]
MAX_NUMBER = 2**62  # an event number the store's BIGINT holds


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome(status: int, reason: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return fhir_response({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": reason.splitlines()[0] if reason else code}]},
        status, headers)


def _status_of(exc: HubError) -> tuple[int, str]:
    if isinstance(exc, NotFound | NoSubscription):
        return 404, "not-found"
    if isinstance(exc, Forbidden):
        return 403, "forbidden"
    if isinstance(exc, Rejected):
        return 400, "invalid"
    return 503, "transient"  # RetryLater and the like: the store is busy or away, try again


def guarded(fn: Handler) -> Handler:
    """Every refusal of ``fn`` (token, scope, rule) as an OperationOutcome."""
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except HTTPException as exc:
            return outcome(exc.status_code, str(exc.detail), "security" if exc.status_code in (401, 403)
                           else "processing", dict(exc.headers or {}))
        except HubError as exc:
            status, code = _status_of(exc)
            return outcome(status, f"{exc.rule}: {exc}", code)
    return handler


def base_url(ctx: HttpContext, request: Request) -> str:
    public = ctx.settings.http_public_url.rstrip("/")
    return f"{public}/fhir/" if public else f"{str(request.base_url).rstrip('/')}/fhir/"


def call_of(request: Request, kind: str) -> Call:
    trace = trace_of(request)
    return Call(kind=kind, message_id=f"http-{uuid.uuid4().hex[:20]}", headers={"traceparent": trace} if trace else {})


async def _reader(request: Request, action: str, resource_type: str, rid: str = "*") -> Reader:
    ctx = context_of(request)
    who = await authorize(request, action, "fhir", resource_type, record=rid)
    return Reader(ctx.hub.parties.get(who.party), who.patient or "")


async def _json_body(request: Request) -> Any:
    """The body as JSON (the standard library's parser: JSON allows a lone escaped surrogate, orjson not)."""
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise Rejected("the body is not JSON", rule="SUBSCRIPTION_BODY") from None


class NoSuchPath(BaseRoute):
    """Last under ``/fhir``: any other path (also one no route's pattern can hold) is a FHIR 404."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.FULL, {}) if scope["type"] == "http" else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await outcome(404, "no such FHIR path; see /fhir/metadata", "not-found")(scope, receive, send)


def webhooks_of(ctx: HttpContext) -> Webhooks:
    """The subscriptions service on the hub's store (used on the store's thread only)."""
    found = ctx.extensions.get("webhooks.service")
    if found is None:
        net = ctx.network
        found = ctx.extensions["webhooks.service"] = Webhooks(ctx.hub.db, ctx.hub.audit,
                                                              net.notifier.all_event_types(net.policy.notify))
    assert isinstance(found, Webhooks)
    return found


def routes(ctx: HttpContext) -> list[BaseRoute]:
    def service(request: Request) -> FhirService:
        return FhirService(ctx.network, ctx.hub.audit, base_url(ctx, request))

    @guarded
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(base_url(ctx, request)))

    @guarded
    async def search(request: Request) -> Response:
        rtype = request.path_params["type"]
        if rtype == "Subscription":
            return await subscriptions(request)
        reader = await _reader(request, "read", rtype)
        params = dict(request.query_params)
        return fhir_response(await ctx.run(service(request).search, reader, rtype, params,
                                           call_of(request, "fhir.search")))

    @guarded
    async def read(request: Request) -> Response:
        rtype, rid = request.path_params["type"], request.path_params["id"]
        if rtype == "Subscription":
            return await subscription_read(request)
        reader = await _reader(request, "read", rtype, rid)
        return fhir_response(await ctx.run(service(request).read, reader, rtype, rid, call_of(request, "fhir.read")))

    # ----- Subscription ---------------------------------------------------------------
    async def _party(request: Request, action: str) -> str:
        who = await authorize(request, action, "webhooks", "subscription")
        return who.party

    async def subscriptions(request: Request) -> Response:
        party = await _party(request, "read")
        hooks = await ctx.run(webhooks_of(ctx).of, party)
        base = base_url(ctx, request)
        return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(hooks),
                              "entry": [{"fullUrl": f"{base}Subscription/{h.id}", "resource": subscription(h),
                                         "search": {"mode": "match"}} for h in hooks]})

    async def subscription_read(request: Request) -> Response:
        party = await _party(request, "read")
        hook = await ctx.run(webhooks_of(ctx).get, party, request.path_params["id"])
        return fhir_response(subscription(hook))

    @guarded
    async def subscription_create(request: Request) -> Response:
        party = await _party(request, "create")
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise Rejected("the body must be a FHIR Subscription", rule="SUBSCRIPTION_BODY")
        hook = await ctx.run(webhooks_of(ctx).create, party, body)
        return fhir_response(subscription(hook), 201,
                             {"Location": f"{base_url(ctx, request)}Subscription/{hook.id}"})

    @guarded
    async def subscription_update(request: Request) -> Response:
        party = await _party(request, "update")
        if request.method == "DELETE":
            wanted = "off"
        else:
            body = await _json_body(request)
            wanted = str((body or {}).get("status", "")) if isinstance(body, dict) else ""
        hook = await ctx.run(webhooks_of(ctx).set_status, party, request.path_params["id"], wanted)
        return fhir_response(subscription(hook))

    @guarded
    async def subscription_status(request: Request) -> Response:
        party = await _party(request, "read")
        hook = await ctx.run(webhooks_of(ctx).get, party, request.path_params["id"])
        return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": 1,
                              "entry": [{"resource": status_of(hook, "query-status"), "search": {"mode": "match"}}]})

    @guarded
    async def subscription_events(request: Request) -> Response:
        party = await _party(request, "read")
        q = request.query_params
        try:
            since = int(q.get("eventsSinceNumber") or 1)
            until = int(q["eventsUntilNumber"]) if q.get("eventsUntilNumber") else None
        except ValueError:
            raise Rejected("eventsSinceNumber and eventsUntilNumber are whole numbers", rule="EVENTS_PARAM") from None
        if max(since, until or 0) > MAX_NUMBER:
            raise Rejected(f"event numbers go up to {MAX_NUMBER}", rule="EVENTS_PARAM")
        hook, events = await ctx.run(webhooks_of(ctx).events, party, request.path_params["id"], since, until)
        return fhir_response(notification(hook, "query-event", events, base=base_url(ctx, request)))

    sub = "/Subscription/{id}"
    return [
        Route("/metadata", metadata, methods=["GET"]),
        Route("/Subscription", subscription_create, methods=["POST"]),
        Route(sub + "/$status", subscription_status, methods=["GET", "POST"]),
        Route(sub + "/$events", subscription_events, methods=["GET", "POST"]),
        Route(sub, subscription_update, methods=["PUT", "DELETE"]),
        Route("/{type}", search, methods=["GET"]),
        Route("/{type}/{id}", read, methods=["GET"]),
        NoSuchPath(),
    ]
