"""The authorisation service (autorisatievoorziening): deny by default, rules as data.

The policy file (``hub/data/policy.toml``) lists rules. A rule names the roles
and the action it covers, the record types (subjects), the relations that
must hold between the party and the record, and the attributes the party may
then see. The first matching rule decides; when none matches the built-in
``DEFAULT-DENY`` does. Every decision, allow and deny, becomes an audit
record naming the deciding rule.

Relations are the only code: small, named predicates over the party, the
record and the client's other records (who is the responsible zorgkantoor,
which provider has the care allocated, who is the preferred provider). Who
the responsible zorgkantoor is comes from ``hub.flows.network.responsibility``: an
effective Overdracht moves it, and with it the reading of the client's
records and the keeping (writing) of its bemiddeling's records.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.catalogue.parties import Party
from hub.errors import ConfigError
from hub.flows.network.registers import Record, Registers
from hub.flows.network.responsibility import Responsibility
from hub.formats import bsn as bsnlib
from hub.store.audit import AuditRecord

DEFAULT_DENY = "DEFAULT-DENY"
POLICY_PATH = Path(__file__).resolve().parents[2] / "data" / "policy.toml"
ACTIONS = ("write", "read", "terugmelden", "beoordelen")


@dataclass(frozen=True)
class Rule:
    id: str
    roles: tuple[str, ...]
    action: str
    subjects: tuple[str, ...]
    when: tuple[str, ...] = ()
    fields: tuple[str, ...] = ("*",)
    effect: str = "allow"

    def covers(self, party: Party, action: str, subject: str) -> bool:
        return (action == self.action and any(party.has_role(r) for r in self.roles)
                and ("*" in self.subjects or subject in self.subjects))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    fields: tuple[str, ...] = ()
    why: str = ""

    def filter(self, data: dict[str, Any]) -> dict[str, Any]:
        return filter_fields(data, self.fields)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    notify: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def load(cls, path: Path = POLICY_PATH) -> Policy:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read policy file {path}: {exc}") from exc
        rules = []
        seen: set[str] = set()
        for raw in data.get("rule", []):
            try:
                rule = Rule(id=raw["id"], roles=tuple(raw["roles"]), action=raw["action"],
                            subjects=tuple(raw["subjects"]), when=tuple(raw.get("when", ())),
                            fields=tuple(raw.get("fields", ("*",))), effect=raw.get("effect", "allow"))
            except KeyError as exc:
                raise ConfigError(f"{path}: a rule lacks {exc.args[0]!r}") from None
            if rule.id in seen:
                raise ConfigError(f"{path}: rule {rule.id!r} is defined twice")
            if rule.action not in ACTIONS:
                raise ConfigError(f"{path}: rule {rule.id!r} has unknown action {rule.action!r}")
            unknown = [w for w in rule.when if w not in RELATIONS]
            if unknown:
                raise ConfigError(f"{path}: rule {rule.id!r} uses unknown relation {unknown[0]!r}")
            seen.add(rule.id)
            rules.append(rule)
        return cls(tuple(rules), tuple(data.get("notify", [])))


def filter_fields(data: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Keep only the allowed attributes; ``a.b`` keeps ``b`` inside object or list ``a``."""
    fields = tuple(fields)
    if "*" in fields:
        return dict(data)
    out: dict[str, Any] = {}
    nested: dict[str, list[str]] = {}
    for f in fields:
        head, _, rest = f.partition(".")
        if rest:
            nested.setdefault(head, []).append(rest)
        elif head in data:
            out[head] = data[head]
    for head, rests in nested.items():
        if head in out or head not in data:
            continue
        value = data[head]
        if isinstance(value, dict):
            out[head] = filter_fields(value, rests)
        elif isinstance(value, list):
            out[head] = [filter_fields(v, rests) if isinstance(v, dict) else v for v in value]
    return out


@dataclass
class ClientFacts:
    """What the client's other records say about who is involved."""

    zorgkantoren: set[str] = field(default_factory=set)
    toegewezen: set[str] = field(default_factory=set)
    voorkeur: set[str] = field(default_factory=set)


class Authz:
    def __init__(self, registers: Registers, policy: Policy, key: bytes) -> None:
        self.registers = registers
        self.policy = policy
        self.key = key
        self.responsibility = Responsibility(registers)

    # ----- relations -----------------------------------------------------------------
    def facts(self, client: str) -> ClientFacts:
        """Who the client's active records involve; the zorgkantoren resolved Overdracht first."""
        facts = ClientFacts()
        stated: set[str] = set()
        for rec in self.registers.for_client(client):
            if not rec.active:
                continue
            d = rec.data
            if rec.subject == "WlzIndicatie":
                stated.add(str(d.get("initieelVerantwoordelijkZorgkantoor", "")))
                for gzp in d.get("geindiceerdZorgzwaartepakket") or []:
                    if gzp.get("instellingVoorkeur"):
                        facts.voorkeur.add(str(gzp["instellingVoorkeur"]))
            elif rec.subject == "Bemiddeling":
                stated.add(str(d.get("verantwoordelijkZorgkantoor", "")))
            elif rec.subject == "Bemiddelingspecificatie":
                stated.add(str(d.get("uitvoerendZorgkantoor", "")))
                if d.get("instelling"):
                    facts.toegewezen.add(str(d["instelling"]))
        # an Overdracht names the *next* zorgkantoor: it counts only once in effect, through the resolver
        facts.zorgkantoren = self.responsibility.zorgkantoren(client, stated)
        return facts

    def bemiddeling_zorgkantoor(self, rec: Record) -> str:
        """The responsible zorgkantoor of the record's bemiddeling (an effective Overdracht first)."""
        return self.responsibility.bemiddeling_zorgkantoor(rec)

    def keeps(self, party: Party, rec: Record) -> bool:
        """Whether the party keeps the record now, that is may write its next version.

        The stored owner keeps it, except a bemiddeling's zorgkantoor records
        (``TAKEN_OVER``) after an effective Overdracht: then the new
        zorgkantoor keeps them, and versions it writes are stored as its own.
        Earlier versions keep their owner; the registers are append-only.
        """
        moved = self.responsibility.keeper_code(rec)
        if moved:
            return party.id_type == "COD001" and party.id == moved
        return rec.owner == party.name

    def relation(self, name: str, party: Party, rec: Record, existing: Record | None) -> bool:
        return RELATIONS[name](self, party, rec, existing)

    # ----- decisions -----------------------------------------------------------------
    def decide(self, party: Party, action: str, rec: Record, existing: Record | None = None) -> Decision:
        for rule in self.policy.rules:
            if not rule.covers(party, action, rec.subject):
                continue
            if all(self.relation(w, party, rec, existing) for w in rule.when):
                if rule.effect == "deny":
                    return Decision(False, rule.id, (), f"denied by rule {rule.id}")
                why = " and ".join(rule.when) or "role"
                return Decision(True, rule.id, rule.fields, why)
        return Decision(False, DEFAULT_DENY, (), f"no rule allows {action} on {rec.subject} for this party")

    def record(self, decision: Decision, party: Party, action: str, rec: Record, env: Any,
               purpose: str = "") -> AuditRecord:
        """The audit record of one decision."""
        verdict = "allow" if decision.allowed else "deny"
        fields = "" if not decision.allowed else (
            " fields=all" if "*" in decision.fields else f" fields={','.join(decision.fields)}")
        return AuditRecord(
            action=f"authz.{action}", actor=party.name, outcome=verdict, actor_role=",".join(party.roles),
            kind=getattr(env, "kind", "") or "", message_id=getattr(env, "message_id", "") or "",
            correlation_id=getattr(env, "correlation_id", "") or "", client=rec.client,
            record_type=rec.subject, record_id=rec.record_id,
            reason=bsnlib.redact(f"rule {decision.rule}: {verdict} {action}{fields}"
                                 f"{' for ' + purpose if purpose else ''} ({decision.why})"))

    def party_pseudonym(self, party: Party) -> str:
        return bsnlib.pseudonym(party.id, self.key) if party.id_type == "BSN" else ""


def _owner(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    """The party wrote this version (a stored record), or the current one (a candidate)."""
    version = rec if rec.version else (existing or a.registers.current(rec.subject, rec.record_id))
    return version is not None and version.owner == party.name


def _owner_or_new(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    """A new record, or one the party keeps (see ``Authz.keeps``: an Overdracht hands them over)."""
    return existing is None or a.keeps(party, existing)


def _beheerder(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    """The party keeps the record now: it decides on terugmeldingen about it."""
    current = existing or a.registers.current(rec.subject, rec.record_id)
    return current is not None and a.keeps(party, current)


def _eigen_client(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "BSN" and a.party_pseudonym(party) == rec.client


def _verantwoordelijk_zk(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "COD001" and party.id in a.facts(rec.client).zorgkantoren


def _record_zk(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "COD001" and a.bemiddeling_zorgkantoor(rec) == party.id


def _ontvangend_zk(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    """The party is the zorgkantoor an Overdracht transfers to (it was notified and must be able to pull)."""
    return (party.id_type == "COD001" and rec.subject == "Overdracht"
            and str(rec.data.get("verantwoordelijkZorgkantoor", "")) == party.id)


def _record_instelling(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "AGB" and str(rec.data.get("instelling", "")) == party.id


def _toegewezen(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "AGB" and party.id in a.facts(rec.client).toegewezen


def _voorkeur(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return party.id_type == "AGB" and party.id in a.facts(rec.client).voorkeur


def _may_read(a: Authz, party: Party, rec: Record, existing: Record | None) -> bool:
    return a.decide(party, "read", rec).allowed


RELATIONS: dict[str, Callable[[Authz, Party, Record, Record | None], bool]] = {
    "owner": _owner,
    "owner_or_new": _owner_or_new,
    "beheerder": _beheerder,
    "eigen_client": _eigen_client,
    "verantwoordelijk_zorgkantoor": _verantwoordelijk_zk,
    "record_zorgkantoor": _record_zk,
    "ontvangend_zorgkantoor": _ontvangend_zk,
    "record_instelling": _record_instelling,
    "toegewezen_zorgaanbieder": _toegewezen,
    "voorkeur_zorgaanbieder": _voorkeur,
    "may_read": _may_read,
}
