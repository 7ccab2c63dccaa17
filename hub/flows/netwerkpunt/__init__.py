"""The netwerkpunt's intake: notifications and meldingen from other netwerkpunten, for this hub's parties.

``FLOW`` declares the two kinds (``kinds.toml``) and the recipient resolver ``ontvanger``: the party
whose identifier the message names. The contract's ``IDTypeEnum`` has no COD001: a zorgkantoor is
named by ``UZOVI`` and found under either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.catalogue.parties import Party, PartyRegistry
from hub.errors import NoRoute
from hub.flows.base import Flow
from hub.pipeline.check import Checked

if TYPE_CHECKING:
    from hub.app import HubApp

#: the contract's IDTypeEnum -> the registry's identifier types it may stand for
ID_TYPES: dict[str, tuple[str, ...]] = {"AGB": ("AGB",), "BSN": ("BSN",), "KVK": ("KVK",), "OIN": ("OIN",),
                                        "UZOVI": ("UZOVI", "COD001")}


def party_of(parties: PartyRegistry, id_type: str, ident: str) -> Party | None:
    """The party an (IDTypeEnum, id) pair names, or None."""
    for registry_type in ID_TYPES.get(id_type, ()):
        found = parties.by_identifier(registry_type, ident)
        if found is not None:
            return found
    return None


def names(party: Party, id_type: str, ident: str) -> bool:
    """Whether the (IDTypeEnum, id) pair names ``party``."""
    return party.id_type in ID_TYPES.get(id_type, ()) and party.id == ident


def install(app: HubApp) -> None:
    def ontvanger(checked: Checked, rule: dict[str, Any]) -> list[tuple[Party, str]]:
        doc = checked.document
        found = party_of(app.parties, str(doc.get("/ontvangerIDType")), str(doc.get("/ontvangerID")))
        if found is None:
            raise NoRoute("the ontvanger is not a party of this hub", rule="ONTVANGER")
        return [(found, "the ontvanger")]

    app.router.register("ontvanger", ontvanger)


FLOW = Flow.at(Path(__file__), "netwerkpunt", "Notifications and meldingen from other netwerkpunten",
               install=install)
