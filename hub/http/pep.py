"""The enforcement point: who calls (``auth.principal``), may they (the decision point), and the audit.

Every decision, allow and deny, is one audit record ``authz.http``, naming the deciding rule; a deny
is a 403 with the decision point's one-line reason. A request over a party's rate is 429.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from hub.http import authzen
from hub.http.auth import Forbidden, Principal, principal
from hub.http.context import HttpContext, context_of
from hub.pipeline import record
from hub.store.audit import AuditRecord


class RateLimit:
    """A token bucket per party: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, party: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(party, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[party] = (tokens, now)
                return False
            self._buckets[party] = (tokens - 1, now)
            return True


def limiter(ctx: HttpContext) -> RateLimit:
    found = ctx.extensions.get("rate")
    if found is None:
        found = ctx.extensions["rate"] = RateLimit(ctx.settings.http_rate_per_minute)
    assert isinstance(found, RateLimit)
    return found


async def caller(request: HTTPConnection) -> Principal:
    """The verified caller, within its party's rate (429 beyond it)."""
    ctx = context_of(request)
    try:
        who = await principal(request)
    except Forbidden as exc:  # a valid token that does not fit (certificate, unknown party): a decision
        ctx.audit([record.new(None, action="authz.http", actor="(unknown)", outcome="deny",
                              reason=f"{request.scope.get('method', '')} {request.url.path}: {exc.detail}",
                              trace_id=trace_of(request))])
        raise
    if not request.scope.get("zorghub.rated"):
        request.scope["zorghub.rated"] = True
        if not limiter(ctx).take(who.party):
            raise HTTPException(429, f"party {who.party} is over {ctx.settings.http_rate_per_minute} requests "
                                     f"a minute", headers={"Retry-After": "1"})
    return who


def decide(ctx: HttpContext, who: Principal, action: str, resource_type: str, resource_id: str, trace: str,
           records: list[AuditRecord] | None = None, **context: Any) -> str | None:
    """Ask the decision point and audit its answer: None when allowed, else the one-line reason.

    With ``records`` the audit record goes there, for the caller to append with what it does next.
    """
    party = ctx.hub.parties.get(who.party)
    answer = ctx.pdp.evaluate(authzen.evaluation(who.party, party.roles, who.scopes, action, resource_type,
                                                 resource_id, **context))
    allowed = answer.get("decision") is True
    rule = str((answer.get("context") or {}).get("rule", ""))
    decision = record.new(None, action="authz.http", actor=who.party, outcome="allow" if allowed else "deny",
                          actor_role=",".join(party.roles), trace_id=trace,
                          reason=f"rule {rule}: {action} {resource_type}/{resource_id}"
                                 f"{'' if allowed else ': ' + authzen.reason_of(answer)}")
    if records is not None:
        records.append(decision)
    else:
        ctx.audit([decision])
    return None if allowed else authzen.reason_of(answer)


async def authorize(request: HTTPConnection, action: str, resource_type: str, resource_id: str,
                    records: list[AuditRecord] | None = None, **context: Any) -> Principal:
    """The caller, if the decision point allows ``action`` on the resource; else 403, audited either way.

    With ``records``, an allow is recorded there (the caller commits it with its action); a deny is
    committed before the 403 goes out.
    """
    ctx = context_of(request)
    who = await caller(request)
    decided: list[AuditRecord] = []
    args = (ctx, who, action, resource_type, resource_id, trace_of(request), decided)
    if isinstance(ctx.pdp, authzen.LocalDecisionPoint):  # in memory: no wait
        denied = decide(*args, **context)
    else:  # an external decision point is a network call: not on the event loop
        denied = await asyncio.to_thread(lambda: decide(*args, **context))
    if denied is not None or records is None:
        await ctx.commit(decided, [])
    else:
        records.extend(decided)
    if denied is not None:
        raise HTTPException(403, denied)
    return who


def trace_of(request: HTTPConnection) -> str:
    return str((request.scope.get("zorghub.trace") or {}).get("traceparent", ""))
