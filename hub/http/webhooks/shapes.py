"""The FHIR shapes of webhooks, after the Subscriptions R5 Backport for R4 (id-only payloads).

A subscription is an R4 ``Subscription`` whose ``criteria`` names the one topic the hub offers
(``TOPIC``: the network notifications addressed to the subscribing party) and whose
``backport-filter-criteria`` may narrow it to event types (``eventType=NIEUWE_INDICATIE,...``).
A notification is a ``history`` Bundle whose first entry is the ``SubscriptionStatus``
(a ``Parameters`` resource in R4) numbering its events; each event names its focus, the FHIR
resource the subscriber then reads through ``/fhir`` with its own token (notify, then pull).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

from hub.store.audit import now_iso

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
FILTER_EXT = f"{BACKPORT}/backport-filter-criteria"
CONTENT_EXT = f"{BACKPORT}/backport-payload-content"
TOPIC = "urn:zorghub:network:topic:notificatie"
#: R4 Subscription.status values, as the hub uses them (``off``: ended by its owner)
STATUSES = ("requested", "active", "error", "off")


@dataclass(frozen=True)
class Hook:
    """One webhook subscription, as stored (``hub.store.webhooks.SUBSCRIPTION_COLUMNS``)."""

    id: str
    party: str
    event_types: tuple[str, ...]
    endpoint: str
    headers: tuple[str, ...]
    status: str
    reason: str
    created: str
    last_event: int
    delivered: int
    attempts: int
    next_try: float

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Hook:
        return cls(str(row[0]), str(row[1]), tuple(orjson.loads(row[2])), str(row[3]), tuple(orjson.loads(row[4])),
                   str(row[5]), str(row[6]), str(row[7]), int(row[8]), int(row[9]), int(row[10]), float(row[11]))


@dataclass(frozen=True)
class Event:
    number: int
    event_type: str
    focus: str
    ts: str

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Event:
        return cls(int(row[1]), str(row[2]), str(row[3]), str(row[5]))


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource through its R4 model, as JSON-ready data: what leaves the hub is valid FHIR."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return dict(model.model_dump(mode="json", exclude_none=True, by_alias=True))


def subscription(hook: Hook) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Subscription", "id": hook.id, "status": hook.status, "criteria": TOPIC,
        "reason": "network notifications over rest-hook",
        "channel": {"type": "rest-hook", "endpoint": hook.endpoint, "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": CONTENT_EXT, "valueCode": "id-only"}]}},
    }
    if hook.event_types:
        res["_criteria"] = {"extension": [{"url": FILTER_EXT,
                                           "valueString": f"eventType={','.join(hook.event_types)}"}]}
    if hook.reason:
        res["error"] = hook.reason
    return validated(res)


def _event(ev: Event) -> dict[str, Any]:
    return {"name": "notification-event", "part": [
        {"name": "event-number", "valueString": str(ev.number)},
        {"name": "timestamp", "valueInstant": ev.ts},
        {"name": "focus", "valueReference": {"reference": ev.focus}},
        {"name": "event-type", "valueCode": ev.event_type},
    ]}


def status(hook: Hook, kind: str, events: Sequence[Event] = ()) -> dict[str, Any]:
    """The SubscriptionStatus: ``kind`` is handshake, event-notification, query-status or query-event."""
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"Subscription/{hook.id}"}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": hook.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(hook.last_event)},
    ]
    if hook.reason:
        params.append({"name": "error", "valueCodeableConcept": {"text": hook.reason}})
    params.extend(_event(ev) for ev in events)
    return {"resourceType": "Parameters", "id": str(uuid.uuid4()), "meta": {"profile": [STATUS_PROFILE]},
            "parameter": params}


def notification(hook: Hook, kind: str, events: Sequence[Event] = (), base: str = "") -> dict[str, Any]:
    """The Bundle POSTed to the endpoint (and answered by ``$events``): the status, then each focus by id."""
    entries: list[dict[str, Any]] = [{
        "fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status(hook, kind, events),
        "request": {"method": "GET", "url": f"{base}Subscription/{hook.id}/$status"},
        "response": {"status": "200"},
    }]
    entries.extend({"fullUrl": f"{base}{ev.focus}", "request": {"method": "PUT", "url": ev.focus},
                    "response": {"status": "200"}} for ev in events)
    return validated({"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history", "timestamp": now_iso(),
                      "entry": entries})
