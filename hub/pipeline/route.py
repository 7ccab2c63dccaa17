"""Stage 2, the content-based router: which parties must receive this message?

Rules come from the kind catalogue; each names a resolver. Resolvers may
compute recipients from the payload, such as the zorgkantoor of the client's
region (COD001) or the client's own PGO. A message that reaches nobody is a
dead letter: the hub never silently drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.catalogue.parties import Party, PartyRegistry
from hub.catalogue.regions import RegionTable
from hub.envelope import Delivery
from hub.errors import ConfigError, NoRoute
from hub.pipeline.check import Checked

Resolver = Callable[[Checked, dict[str, Any]], list[tuple[Party, str]]]


class Router:
    def __init__(self, parties: PartyRegistry, regions: RegionTable) -> None:
        self.parties = parties
        self.regions = regions
        self.resolvers: dict[str, Resolver] = {
            "role": self._by_role,
            "party": self._by_party,
            "field-party": self._by_field_party,
            "region": self._by_region,
            "client": self._by_client,
            "agb": self._by_agb,
            "cod001": self._by_cod001,
        }

    def register(self, name: str, resolver: Resolver) -> None:
        """Extension point: flows add their own computed-recipient resolvers."""
        self.resolvers[name] = resolver

    def route(self, checked: Checked) -> list[Delivery]:
        seen: dict[str, Delivery] = {}
        for rule in checked.kind.route:
            by = rule.get("by", "")
            resolver = self.resolvers.get(by)
            if resolver is None:
                raise ConfigError(f"kind {checked.kind.name!r} uses unknown resolver {by!r}")
            for party, why in resolver(checked, rule):
                if party.name != checked.envelope.sender and party.name not in seen:
                    seen[party.name] = Delivery(party.name, checked.envelope, why)
        if not seen:
            raise NoRoute(f"no recipient found for {checked.kind.name!r}")
        return list(seen.values())

    # ----- resolvers -------------------------------------------------------------
    def _by_role(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        return [(p, f"role {rule['role']}") for p in self.parties.with_role(rule["role"])]

    def _by_party(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        return [(self.parties.get(rule["name"]), "named")]

    def _by_field_party(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        name = checked.document.get(rule["field"])
        return [(self.parties.get(name), "addressed")] if name else []

    def _by_region(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        doc = checked.document
        code = self.regions.zorgkantoor(doc.get(rule.get("gemeente", "")), doc.get(rule.get("postcode", "")))
        if code is None:
            raise NoRoute("the client's municipality or postcode is not in the region table", rule="REGION")
        party = self.parties.by_identifier("COD001", code)
        if party is None:
            raise NoRoute(f"zorgkantoor region {code} has no connected party", rule="REGION")
        return [(party, f"zorgkantoor of region {code}")]

    def _by_client(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        value = checked.document.get(rule["bsn"])
        party = self.parties.by_identifier("BSN", value) if value else None
        return [(party, "the client's PGO")] if party else []

    def _by_agb(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        value = checked.document.get(rule["field"])
        party = self.parties.by_identifier("AGB", value) if value else None
        return [(party, f"care provider AGB {value}")] if party else []

    def _by_cod001(self, checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        value = checked.document.get(rule["field"])
        party = self.parties.by_identifier("COD001", value) if value else None
        return [(party, f"zorgkantoor {value}")] if party else []
