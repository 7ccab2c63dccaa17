"""The iWlz rules that need the hub's message history or its registry, which the official XSLT cannot check.

The iWlz 2.2 regel documentation (the rule texts the official validation carries in
``common/basis.xsl``) lists rules about earlier messages and about who sends; the standalone
XSLT ships no check for them, or a stub that always passes. The hub sees every heenbericht, so it
checks them after the XSD and XSLT passed, before anything is routed:

- ``TR056``: Identificatie is unique per berichtsoort for the sending party.
- ``TR019``: a melding aanvang zorg (AW35) or mutatie (AW39) is related to a zorgtoewijzing (AW33) on
  its key fields: client, Besluitnummer, ZzpCode or Functiecode, Instelling, ToewijzingIngangsdatum.
- ``TR079``: successive indicatiebesluiten (IO31) for one client are numbered in order of Afgiftedatum.
- ``TR064``: the Afzender and Instelling of a zorgaanbieder's message are the sending party's own AGB
  code (the registry's AGB standing in for the iWlz-AGB-codelijst, which the XSLT's stub skips).
- ``TR074``, ``TR063``: the StatusAanlevering of an AW35's zorgeenheid fits the earlier aanleveringen
  with its key: a first (1) is new (or follows a removal), a removal (3) follows an aanlevering that
  still stands. (CS058 allows no change, 2, in an AW35.)

Every violation is a ``Finding`` with its COD910 code at the element it is about; all are returned.
What is remembered (``hub/store/flows/iwlz.py``) is written with the batch, on acceptance only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from hub.flows.iwlz.cod910 import retourcode
from hub.flows.iwlz.validate import Finding, element_path, refusal
from hub.formats import bsn as bsnlib
from hub.formats.iwlz import safe_parse
from hub.store.db import Database
from hub.store.flows import iwlz as store

if TYPE_CHECKING:
    from hub.app import HubApp
    from hub.pipeline.check import Checked

#: what a Client's zorgeenheden are called in each message, and the element naming the product
UNITS = {
    "AW33": ("ToegewezenZorgzwaartepakket", "ToegewezenFunctie"),
    "AW35": ("GeleverdZorgzwaartepakket", "GeleverdeFunctie"),
    "AW39": ("MutatieZorgzwaartepakket", "MutatieFunctie"),
}
#: ``history_scope`` setting: ``known-clients`` checks the rules that need an earlier message (TR019,
#: TR063) for clients the hub holds such messages of (ones sent before the hub carried the
#: traffic are out of its sight); ``always`` checks them for every client
KNOWN_CLIENTS, ALWAYS = "known-clients", "always"
FIRST, REMOVED = "1", "3"


def _named(el: etree._Element, names: tuple[str, ...]) -> bool:
    return isinstance(el.tag, str) and etree.QName(el).localname in names


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _named(c, (name,))]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next(iter(_children(el, name)), None)


def _text(el: etree._Element | None, *path: str) -> str:
    for name in path:
        if el is None:
            return ""
        el = _child(el, name)
    return (el.text or "").strip() if el is not None else ""


def _all(root: etree._Element, name: str) -> Iterator[etree._Element]:
    return (el for el in root.iter() if _named(el, (name,)))


@dataclass(frozen=True)
class Unit:
    """One zorgeenheid with its toewijzing key."""

    element: etree._Element
    client: str
    besluitnummer: str
    product: str
    instelling: str
    ingangsdatum: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.client, self.besluitnummer, self.product, self.instelling, self.ingangsdatum)

    @property
    def aanlevering(self) -> str:
        """The aanlevering's key beyond the client: its toewijzing key and its Begindatum."""
        return "|".join((*self.key[1:], _text(self.element, "Begindatum")))

    @property
    def status(self) -> str:
        return _text(self.element, "StatusAanlevering")


class History:
    """The history rules for one hub: ``check`` before routing, ``record`` on acceptance."""

    def __init__(self, app: HubApp, settings: dict[str, object] | None = None) -> None:
        self.app = app
        self.settings = settings if settings is not None else {}
        self.schema_dir = str(app.checker.schema_dir or "")
        store.create(app.db)

    # ----- reading the message ----------------------------------------------------------------------
    def _client(self, client: etree._Element) -> str:
        return bsnlib.pseudonym(_text(client, "Bsn"), self.app.checker.key)

    def units(self, msg: str, root: etree._Element) -> list[Unit]:
        out = []
        names = UNITS.get(msg, ())
        for client in _all(root, "Client"):
            who = self._client(client)
            for el in (e for e in client.iter() if _named(e, names)):
                if msg == "AW33":  # the Besluitnummer is the Indicatie's; the unit's start is its Ingangsdatum
                    indicatie = next((a for a in el.iterancestors() if etree.QName(a).localname == "Indicatie"), None)
                    besluit, start = _text(indicatie, "Besluitnummer"), _text(el, "Ingangsdatum")
                else:
                    besluit, start = _text(el, "Besluitnummer"), _text(el, "ToewijzingIngangsdatum")
                product = _text(el, "ZzpCode") or _text(el, "Functiecode")
                out.append(Unit(el, who, besluit, product, _text(el, "Instelling"), start))
        return out

    def _finding(self, rule: str, *elements: etree._Element | None, text: str) -> Finding:
        where = tuple(element_path(e) for e in elements if e is not None)
        return Finding(rule, retourcode(self.schema_dir, rule), where, text)

    # ----- the rules --------------------------------------------------------------------------------
    def findings(self, checked: Checked, db: Database) -> list[Finding]:
        msg, env = checked.kind.iwlz, checked.envelope
        root = safe_parse(env.payload).getroot()
        header = _child(root, "Header")
        out: list[Finding] = []
        ident_el = next(_all(header, "Identificatie"), None) if header is not None else None
        ident = (ident_el.text or "").strip() if ident_el is not None else ""
        first = store.message_of(db, env.sender, msg, ident) if ident else None
        if first is not None and first != env.message_id:
            out.append(self._finding("TR056", ident_el, text=f"Identificatie {ident!r} was used before by this "
                                     f"sender in {msg} message {first}"))
        out.extend(self._sender_agb(checked, header, root))
        if msg in ("AW35", "AW39"):
            out.extend(self._toewijzing(msg, root, db))
        if msg == "AW35":
            out.extend(self._aanleveringen(env.sender, root, db))
        if msg == "IO31":
            out.extend(self._besluitnummers(env.sender, root, db))
        return out

    def _sender_agb(self, checked: Checked, header: etree._Element | None, root: etree._Element) -> list[Finding]:
        if checked.kind.iwlz not in ("AW35", "AW39") or header is None:
            return []
        party = self.app.parties.get(checked.envelope.sender)
        own = party.id if party.id_type == "AGB" else ""
        wrong = [el for el in [_child(header, "Afzender"), *_all(root, "Instelling")]
                 if el is not None and (el.text or "").strip() != own]
        if not wrong:
            return []
        codes = ", ".join(sorted({(e.text or "").strip() for e in wrong}))
        return [self._finding("TR064", *wrong, text=f"AGB code(s) {codes} do not belong to the sender {party.name!r}")]

    def _toewijzing(self, msg: str, root: etree._Element, db: Database) -> list[Finding]:
        out = []
        for unit in self.units(msg, root):
            if not self.always and not store.has_toewijzingen(db, unit.client):
                continue
            if not store.has_toewijzing(db, *unit.key):
                out.append(self._finding("TR019", unit.element, text=(
                    f"no zorgtoewijzing for Besluitnummer {unit.besluitnummer}, product {unit.product}, "
                    f"Instelling {unit.instelling}, ToewijzingIngangsdatum {unit.ingangsdatum}")))
        return out

    @property
    def always(self) -> bool:
        return self.settings.get("history_scope", KNOWN_CLIENTS) == ALWAYS

    def _aanleveringen(self, sender: str, root: etree._Element, db: Database) -> list[Finding]:
        out = []
        for unit in self.units("AW35", root):
            now = store.aanlevering_status(db, sender, "AW35", unit.client, unit.aanlevering)
            seen = self.always or store.has_aanleveringen(db, sender, "AW35", unit.client)
            rule = ""
            if unit.status == FIRST and now == FIRST:
                rule = "TR074"
            elif unit.status == REMOVED and now in (None, REMOVED) and seen:
                rule = "TR063"
            if rule:
                out.append(self._finding(rule, _child(unit.element, "StatusAanlevering"), text=(
                    f"StatusAanlevering {unit.status} after {'no aanlevering' if now is None else now} with this "
                    f"key (Besluitnummer {unit.besluitnummer}, product {unit.product}, Begindatum "
                    f"{_text(unit.element, 'Begindatum')})")))
        return out

    def _besluitnummers(self, sender: str, root: etree._Element, db: Database) -> list[Finding]:
        out = []
        for client in _all(root, "Client"):
            who = self._client(client)
            earlier = store.besluiten(db, sender, who)
            for ind in _children(client, "Indicatie"):
                nr, day = _text(ind, "Besluitnummer"), _text(ind, "Afgiftedatum")
                if not nr.isdigit():
                    continue
                clash = [(n, d) for n, d in earlier
                         if (d < day and int(n) >= int(nr)) or (d > day and int(n) <= int(nr))]
                if clash:
                    out.append(self._finding("TR079", _child(ind, "Besluitnummer"), _child(ind, "Afgiftedatum"),
                                             text=f"Besluitnummer {nr} of {day} does not follow the earlier "
                                                  f"besluit(en) {', '.join(f'{n} of {d}' for n, d in clash)}"))
        return out

    # ----- the seams --------------------------------------------------------------------------------
    def check(self, checked: Checked, db: Database) -> None:
        """The guard: refuse a message that breaks any history rule, naming them all."""
        findings = self.findings(checked, db)
        if findings:
            raise refusal(checked.kind.iwlz, findings)

    def record(self, checked: Checked) -> None:
        """Remember an accepted message: its Identificatie, its toewijzingen, its besluitnummers."""
        db, msg, env = self.app.db, checked.kind.iwlz, checked.envelope
        root = safe_parse(env.payload).getroot()
        with db.transaction():  # the batch's, opened by the guard: a savepoint in it
            ident = next(((el.text or "").strip() for el in _all(root, "Identificatie")), "")
            if ident:
                store.add_message(db, env.sender, msg, ident, env.message_id)
            if msg == "AW33":
                for unit in self.units(msg, root):
                    store.add_toewijzing(db, *unit.key, env.sender, env.message_id)
            if msg == "AW35":
                for unit in self.units(msg, root):
                    store.set_aanlevering(db, env.sender, msg, unit.client, unit.aanlevering, unit.status,
                                          env.message_id)
            if msg == "IO31":
                for client in _all(root, "Client"):
                    who = self._client(client)
                    for ind in _children(client, "Indicatie"):
                        nr, day = _text(ind, "Besluitnummer"), _text(ind, "Afgiftedatum")
                        if nr.isdigit():
                            store.add_besluit(db, env.sender, who, int(nr), day, env.message_id)
