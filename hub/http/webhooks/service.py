"""Webhook subscriptions of a party: create, read, end, restart, and the recovery operations.

A new subscription is ``requested``; the dispatcher's handshake makes it ``active`` (or, after
its last retry, ``error``). Only its owner sees or changes it. ``$status`` and ``$events`` answer
from the stored events, whatever the subscription's status, so a subscriber that missed
deliveries (its endpoint was down, or it went to ``error``) can fetch every event by number.
Every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from hub.errors import Forbidden, Rejected
from hub.http.webhooks.shapes import CONTENT_EXT, FILTER_EXT, TOPIC, Event, Hook, validated
from hub.store.audit import AuditLog, AuditRecord, now_iso
from hub.store.db import Database
from hub.store.webhooks import WebhookRows

HUB_ACTOR = "zorghub"
MAX_EVENTS = 1000  # one $events answer at most; ask again from the next number


class NotFound(Rejected):
    """No such resource (for this party): nothing to retry."""


def _ext(element: Any, url: str) -> Any:
    if not isinstance(element, dict):
        return None
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def parse_filter(text: str, known: Sequence[str]) -> tuple[str, ...]:
    """``eventType=A,B`` (optionally behind ``Resource?``) to the event types, each one known."""
    query = text.split("?", 1)[-1]
    types: list[str] = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        if name != "eventType":
            raise Rejected(f"filter criteria {name!r} is not supported: only eventType=", rule="SUBSCRIPTION_FILTER")
        types.extend(v for v in value.split(",") if v)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise Rejected(f"unknown event type {unknown[0]!r}", rule="SUBSCRIPTION_FILTER")
    return tuple(dict.fromkeys(types))


def _endpoint(channel: dict[str, Any]) -> str:
    if channel.get("type") != "rest-hook":
        raise Rejected("only channel.type rest-hook is offered", rule="SUBSCRIPTION_CHANNEL")
    endpoint = str(channel.get("endpoint") or "")
    if not endpoint.startswith(("http://", "https://")) or not urlsplit(endpoint).netloc:
        raise Rejected("channel.endpoint must be an http(s) URL", rule="SUBSCRIPTION_ENDPOINT")
    content = _ext(channel.get("_payload"), CONTENT_EXT) or "id-only"
    if content not in ("id-only", "empty"):
        raise Rejected(f"payload content {content!r} is not offered: id-only", rule="SUBSCRIPTION_CONTENT")
    return endpoint


class Webhooks:
    """The subscriptions on the hub's database, on behalf of the party a token names."""

    def __init__(self, db: Database, audit: AuditLog, event_types: Sequence[str]) -> None:
        self.db = db
        self.audit = audit
        self.event_types = tuple(event_types)
        self.rows = WebhookRows(db)

    def _record(self, action: str, party: str, hook_id: str, outcome: str, reason: str) -> AuditRecord:
        return AuditRecord(action=action, actor=party, outcome=outcome, record_type="Subscription",
                           record_id=hook_id, reason=reason)

    def create(self, party: str, resource: dict[str, Any]) -> Hook:
        """A new ``requested`` subscription from a posted R4 Subscription (its status is ignored)."""
        if resource.get("resourceType") != "Subscription":
            raise Rejected("the body must be a FHIR Subscription", rule="SUBSCRIPTION_BODY")
        try:
            validated({**resource, "status": "requested"})
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise Rejected(f"not a valid R4 Subscription: {first}", rule="SUBSCRIPTION_BODY") from exc
        if resource.get("criteria") != TOPIC:
            raise Rejected(f"criteria must be the topic {TOPIC}", rule="SUBSCRIPTION_TOPIC")
        types = parse_filter(str(_ext(resource.get("_criteria"), FILTER_EXT) or ""), self.event_types)
        channel = dict(resource.get("channel") or {})
        endpoint = _endpoint(channel)
        headers = [str(h) for h in channel.get("header") or [] if ":" in str(h)]
        hook_id = str(uuid.uuid4())
        with self.db.transaction(lock=self.audit.LOCK):
            self.rows.add((hook_id, party, orjson.dumps(list(types)).decode(), endpoint,
                           orjson.dumps(headers).decode(), "requested", "", now_iso(), 0, 0, 0, 0.0))
            self.audit.append_in_tx([self._record("webhook.subscribe", party, hook_id, "success",
                                                  f"requested, endpoint {urlsplit(endpoint).netloc}, "
                                                  f"event types {','.join(types) or 'all'}")])
        return self.get(party, hook_id)

    def get(self, party: str, hook_id: str) -> Hook:
        row = self.rows.get(hook_id)
        if row is None:
            raise NotFound("no such Subscription", rule="NOT_FOUND")
        hook = Hook.of(row)
        if hook.party != party:
            raise Forbidden("this Subscription belongs to another party", rule="SUBSCRIPTION_NOT_YOURS")
        return hook

    def of(self, party: str) -> list[Hook]:
        return [Hook.of(r) for r in self.rows.of_party(party)]

    def set_status(self, party: str, hook_id: str, status: str) -> Hook:
        """``off`` ends a subscription; ``requested`` restarts one (a new handshake, then the events it missed)."""
        hook = self.get(party, hook_id)
        if status not in ("off", "requested"):
            raise Rejected("a subscriber may set status off or requested", rule="SUBSCRIPTION_STATUS")
        with self.db.transaction(lock=self.audit.LOCK):
            self.rows.set_state(hook_id, status=status, reason="", attempts=0, next_try=0.0)
            self.audit.append_in_tx([self._record(f"webhook.{'end' if status == 'off' else 'restart'}", party,
                                                  hook_id, "success", f"{hook.status} -> {status} by its owner")])
        return self.get(party, hook_id)

    def events(self, party: str, hook_id: str, since: int = 1, until: int | None = None) -> tuple[Hook, list[Event]]:
        hook = self.get(party, hook_id)
        return hook, [Event.of(r) for r in self.rows.events(hook_id, max(since, 1), until, MAX_EVENTS)]
