"""Abonneren en notificeren: subscriptions, mandatory notifications, sequence numbers.

A notification carries the network model's notification payload and nothing
else (``generiek-netwerkpunt.graphql``, ``NotificatieInput``): timestamp,
afzender, ontvanger, ontvangerKenmerk (the subscription id), eventType and a
subjectList of ``{subject, recordID}``. The receiver then queries the record
under its own authorisation (notify, then pull).

Every notification belongs to a subscription: a party's own subscriptions, or
its implicit ``VERPLICHT-<party>`` subscription for the network's mandatory
notifications. Each subscription numbers its notifications 1, 2, 3...; the
number travels in the AMQP header ``x-network-sequence`` (the payload stays
the standard's). A subscriber that sees a gap asks the hub to resend from a
number; the hub keeps every notification it sent for that.

Sequence numbers, stored notifications and the register write share the
batch's database transaction, so they commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from hub.catalogue.parties import Party, PartyRegistry
from hub.catalogue.regions import RegionTable
from hub.envelope import Delivery, Envelope
from hub.errors import ConfigError, Rejected
from hub.flows.network.authz import Authz
from hub.flows.network.fhir import RESOURCE_TYPES
from hub.flows.network.registers import SUBJECTS, Record, Registers
from hub.formats import bsn as bsnlib
from hub.store.audit import AuditRecord, now_iso
from hub.store.db import Database
from hub.store.flows.network import Subscriptions
from hub.store.webhooks import WebhookRows

NOTIFICATION_KIND = "network.notificatie"
NAMESPACE = uuid.UUID("6f1d3c55-2f0e-4d8e-9a51-6b7c1a0e4c21")

# IDTypeEnum of the contract has AGB, BSN, KVK, OIN, UZOVI: a zorgkantoor's
# four-digit COD001 code travels as UZOVI, the only four-digit type.
ID_TYPE = {"AGB": "AGB", "BSN": "BSN", "KVK": "KVK", "OIN": "OIN", "UZOVI": "UZOVI", "COD001": "UZOVI",
           "URA": "OIN", "HUB": "OIN"}
ACTIE = {"nieuw": "NIEUWE", "gewijzigd": "GEWIJZIGDE", "ingetrokken": "VERWIJDERDE"}
# the recipient resolvers a policy's `to` may name (besides "role:<role>"); see Notifier._resolve
RECIPIENTS = ("region_zorgkantoor", "instelling", "uitvoerend_zorgkantoor", "ontvangend_zorgkantoor",
              "verantwoordelijk_zorgkantoor")

def subscription_event(subject: str, action: str) -> str:
    """The event type subscribers use: NIEUWE_INDICATIE, GEWIJZIGDE_BEMIDDELINGSPECIFICATIE, ..."""
    if subject == "WlzIndicatie" and action == "ingetrokken":
        return "VERVALLEN_INDICATIE"
    return f"{ACTIE[action]}_{SUBJECTS[subject].event_name}"


EVENT_TYPES = sorted({subscription_event(s, a) for s in SUBJECTS for a in ACTIE})


@dataclass(frozen=True)
class Subscription:
    id: str
    party: str
    event_types: tuple[str, ...]
    filter: dict[str, Any]
    status: str
    created: str
    last_seq: int

    def as_json(self) -> dict[str, Any]:
        return {"abonnementID": self.id, "eventTypes": list(self.event_types), "filter": self.filter,
                "abonnementStatus": self.status, "laatsteVolgnummer": self.last_seq}


def mandatory_event(rule: dict[str, Any], action: str) -> str:
    """The event type a policy notification rule sends for a register action."""
    return str(rule["event"]).replace("{ACTIE}", ACTIE[action])


def mandatory_id(party: str) -> str:
    return f"VERPLICHT-{party}"


def region_code(data: dict[str, Any], regions: RegionTable) -> str | None:
    """The COD001 zorgkantoor of the client's home address, from the core's region table."""
    client = data.get("client") or {}
    for cg in client.get("contactGegevens") or []:
        adres = (cg or {}).get("adres") or {}
        code = regions.zorgkantoor(adres.get("gemeentecode"), adres.get("postcode"))
        if code:
            return code
    return None


class Notifier:
    def __init__(self, db: Database, parties: PartyRegistry, regions: RegionTable, registers: Registers,
                 authz: Authz) -> None:
        self.db = db
        self.parties = parties
        self.regions = regions
        self.registers = registers
        self.authz = authz
        self.rows = Subscriptions(db)
        self.webhooks = WebhookRows(db)

    @staticmethod
    def check(rules: Iterable[dict[str, Any]]) -> None:
        """Refuse a policy whose notification rule names no known recipient, when it loads, not at a melding."""
        for rule in rules:
            to = str(rule.get("to", ""))
            if not to.startswith("role:") and to not in RECIPIENTS:
                raise ConfigError(f"policy: notification rule for {rule.get('subject')!r} has unknown recipient "
                                  f"{to!r}; known: {', '.join(RECIPIENTS)}, role:<role>")

    @staticmethod
    def all_event_types(rules: Iterable[dict[str, Any]]) -> list[str]:
        """Every event type a party can be notified of: the subscribable ones and the policy's mandatory ones."""
        mandatory = {mandatory_event(rule, action) for rule in rules for action in rule.get("on", ())}
        return sorted(mandatory | set(EVENT_TYPES))

    # ----- subscriptions ---------------------------------------------------------------
    def subscribe(self, party: Party, event_types: Iterable[str], filt: dict[str, Any]) -> Subscription:
        types = tuple(dict.fromkeys(event_types))
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown or not types:
            raise Rejected(f"unknown event type {unknown[0] if unknown else '(none)'!r}; "
                           f"known: {', '.join(EVENT_TYPES)}", rule="EVENT_TYPE")
        if "bsn" in filt and not bsnlib.is_valid(str(filt["bsn"])):
            raise Rejected("the filter's BSN fails the elfproef", rule="INVALID_BSN")
        sub = Subscription(str(uuid.uuid4()), party.name, types, dict(filt), "actief", now_iso(), 0)
        self._insert(sub)
        return sub

    def _insert(self, sub: Subscription) -> None:
        self.rows.add_if_absent((sub.id, sub.party, orjson.dumps(list(sub.event_types)).decode(),
                                 orjson.dumps(sub.filter).decode(), sub.status, sub.created, sub.last_seq))

    def unsubscribe(self, party: Party, sub_id: str) -> Subscription:
        sub = self.get(sub_id)
        if sub is None or sub.party != party.name:
            raise Rejected("no such subscription of this party", rule="UNKNOWN_SUBSCRIPTION")
        self.rows.end(sub_id)
        return self.get(sub_id) or sub

    def get(self, sub_id: str) -> Subscription | None:
        row = self.rows.get(sub_id)
        return _sub(row) if row else None

    def subscriptions(self, party: str | None = None, *, active_only: bool = False) -> list[Subscription]:
        subs = [_sub(r) for r in self.rows.all(party)]
        return [s for s in subs if s.status == "actief"] if active_only else subs

    def _next_seq(self, sub_id: str) -> int:
        return self.rows.next_seq(sub_id)

    # ----- notifying -------------------------------------------------------------------
    def mandatory(self, rec: Record, action: str, rules: Iterable[dict[str, Any]]) -> list[tuple[Party, str]]:
        out: list[tuple[Party, str]] = []
        for rule in rules:
            if rule.get("subject") != rec.subject or action not in rule.get("on", ()):
                continue
            event = mandatory_event(rule, action)
            for party in self._resolve(str(rule["to"]), rec):
                out.append((party, event))
        return out

    def _resolve(self, to: str, rec: Record) -> list[Party]:
        """The parties a ``to`` of the policy names for one record.

        Every recipient that means "the client's zorgkantoor" goes through
        ``Responsibility`` (an effective Overdracht first, else what the record
        states), so after a transfer the new zorgkantoor is told, not the old.
        ``ontvangend_zorgkantoor`` is the exception on purpose: it is the
        addressee an Overdracht names (its ``verantwoordelijkZorgkantoor``), who
        must hear of a transfer before it takes effect. The transferring
        zorgkantoor wrote the Overdracht and gets the receipt; like any sender it
        is not notified of its own melding, and the policy adds no copy for it.
        """
        d = rec.data
        resp = self.authz.responsibility
        if to.startswith("role:"):
            return self.parties.with_role(to[5:])
        if to == "region_zorgkantoor":
            stated = region_code(d, self.regions) or d.get("initieelVerantwoordelijkZorgkantoor")
            return self._by("COD001", resp.zorgkantoor(rec, str(stated or "")))
        if to == "instelling":
            return self._by("AGB", d.get("instelling"))
        if to == "uitvoerend_zorgkantoor":
            return self._by("COD001", resp.zorgkantoor(rec, str(d.get("uitvoerendZorgkantoor") or "")))
        if to == "ontvangend_zorgkantoor":
            return self._by("COD001", d.get("verantwoordelijkZorgkantoor") if rec.subject == "Overdracht" else "")
        if to == "verantwoordelijk_zorgkantoor":
            return self._by("COD001", resp.bemiddeling_zorgkantoor(rec))
        raise Rejected(f"unknown notification recipient rule {to!r}", rule="POLICY")

    def _by(self, id_type: str, value: Any) -> list[Party]:
        found = self.parties.by_identifier(id_type, str(value)) if value else None
        return [found] if found else []

    def matches(self, sub: Subscription, rec: Record, event: str) -> bool:
        if event not in sub.event_types:
            return False
        for key, want in sub.filter.items():
            if key == "bsn":
                if bsnlib.pseudonym(str(want), self.authz.key) != rec.client:
                    return False
            elif str(want) not in _values(rec.data, key):
                return False
        return True

    def notify(self, rec: Record, action: str, sender: Party, env: Envelope, rules: Iterable[dict[str, Any]],
               records: list[AuditRecord]) -> list[Delivery]:
        """The deliveries for one register change: mandatory first, then authorised subscribers."""
        deliveries: list[Delivery] = []
        told: set[str] = {sender.name}
        for party, event in self.mandatory(rec, action, rules):
            if party.name in told:
                continue
            told.add(party.name)
            sub_id = mandatory_id(party.name)
            self._insert(Subscription(sub_id, party.name, (), {}, "actief", now_iso(), 0))
            deliveries.append(self._deliver(sub_id, party, event, rec, sender, env, "verplicht"))
        event = subscription_event(rec.subject, action)
        for sub in self.subscriptions(active_only=True):
            if sub.party in told or not self.matches(sub, rec, event):
                continue
            subscriber = self.parties.find(sub.party)
            if subscriber is None:
                continue
            decision = self.authz.decide(subscriber, "read", rec)
            records.append(self.authz.record(decision, subscriber, "read", rec, env,
                                             purpose=f"notificatie {event}"))
            if not decision.allowed:
                continue
            told.add(subscriber.name)
            deliveries.append(self._deliver(sub.id, subscriber, event, rec, sender, env, "abonnement"))
        return deliveries

    def _deliver(self, sub_id: str, party: Party, event: str, rec: Record, sender: Party, env: Envelope,
                 why: str) -> Delivery:
        seq = self._next_seq(sub_id)
        body = orjson.dumps({
            "timestamp": now_iso(),
            "afzenderIDType": ID_TYPE[sender.id_type],
            "afzenderID": sender.id,
            "ontvangerIDType": ID_TYPE[party.id_type],
            "ontvangerID": party.id,
            "ontvangerKenmerk": sub_id,
            "eventType": event,
            "subjectList": [rec.ref()],
        })
        message_id = str(uuid.uuid5(NAMESPACE, f"{env.message_id}|{sub_id}|{seq}"))
        ts = now_iso()
        self.rows.add_notification((sub_id, seq, party.name, event, rec.subject, rec.record_id, message_id, body, ts))
        # the party's webhook subscriptions get it too, numbered in this same transaction (their outbox)
        self.webhooks.record(party.name, event, f"{RESOURCE_TYPES[rec.subject]}/{rec.record_id}", body, ts)
        return Delivery(party.name, self._envelope(env, message_id, body, sub_id, seq, event),
                        f"{event} ({why} {sub_id} #{seq})")

    @staticmethod
    def _envelope(env: Envelope, message_id: str, body: bytes, sub_id: str, seq: int, event: str,
                  resent: bool = False) -> Envelope:
        headers: dict[str, Any] = {"x-network-subscription": sub_id, "x-network-sequence": seq,
                                   "x-network-event-type": event}
        if resent:
            headers["x-network-resent"] = True
        if "traceparent" in env.headers:
            headers["traceparent"] = env.headers["traceparent"]
        return env.evolve(message_id=message_id, kind=NOTIFICATION_KIND, content_type="application/json",
                          payload=body, headers=headers)

    def resend(self, party: Party, sub_id: str, from_seq: int, env: Envelope) -> list[Delivery]:
        """Send again every stored notification of the subscription from ``from_seq`` on."""
        sub = self.get(sub_id)
        if sub is None or sub.party != party.name:
            raise Rejected("no such subscription of this party", rule="UNKNOWN_SUBSCRIPTION")
        rows = self.rows.notifications_from(sub_id, from_seq)
        return [Delivery(party.name, self._envelope(env, str(r[2]), bytes(r[3]), sub_id, int(r[0]), str(r[1]),
                                                    resent=True), f"herzonden {sub_id} #{int(r[0])}")
                for r in rows]

    def sent(self, party: str | None = None) -> list[dict[str, Any]]:
        return [dict(zip(("abonnementID", "volgnummer", "party", "eventType", "subject", "recordID", "ts"), r,
                         strict=True)) for r in self.rows.notifications(party)]


def _values(data: Any, path: str) -> set[str]:
    """Every scalar value at a dotted path, looking through lists."""
    nodes = [data]
    for part in path.split("."):
        nxt: list[Any] = []
        for n in nodes:
            if isinstance(n, dict) and part in n:
                v = n[part]
                nxt.extend(v if isinstance(v, list) else [v])
            elif isinstance(n, list):
                nxt.extend(x.get(part) for x in n if isinstance(x, dict) and part in x)
        nodes = nxt
    return {str(n) for n in nodes if not isinstance(n, dict | list)}


def _sub(row: tuple[Any, ...]) -> Subscription:
    return Subscription(str(row[0]), str(row[1]), tuple(orjson.loads(row[2])), orjson.loads(row[3]), str(row[4]),
                        str(row[5]), int(row[6]))
