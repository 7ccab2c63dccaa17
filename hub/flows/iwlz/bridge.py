"""XML into the registers: an accepted IO31, AW33, AW35 or AW39 is a melding, as its sender would make it.

The handler of the iWlz kinds. It routes the message to its addressee as the core would (in the
format that party accepts), and records what it says in the network model's registers through
the network flow's own ``melden.apply``: the same owner rule, notification rules, idempotence
and audit as a ``network.melden``. The sender's answer stays the retourbericht.

===========  =====================================================================================
message      records (one per client, or per record element of a client)
===========  =====================================================================================
IO31         ``WlzIndicatie`` in the Indicatieregister, by the CIZ
AW33         ``Bemiddeling`` of the client's indicatie, and a ``Bemiddelingspecificatie`` per
             ToegewezenZorgzwaartepakket, in the Bemiddelingsregister, by the zorgkantoor
AW35         ``Zorglevering`` per GeleverdZorgzwaartepakket (new), in the Zorgleveringsregister
AW39         ``Zorglevering`` per MutatieZorgzwaartepakket (changed or ended)
===========  =====================================================================================

A record whose parent the registers do not hold (an AW35 for a toewijzing that never passed the
hub) is not recorded: the message is routed as before, and its delivery's audit record says so.
An IO31 for a client whose address is not in the region table names its zorgkantoor by its
Ontvanger. Record ids are derived (UUID 5) from what the messages share, never from a BSN in the clear:
the client's keyed pseudonym and the Besluitnummer name the indicatie; with the ZzpCode,
ToewijzingIngangsdatum and Instelling the toewijzing; with the Begindatum the zorglevering. So
an AW35 finds the toewijzing its AW33 recorded, and an AW39 the zorglevering of its AW35. Each
record keeps its client's part of the message under ``iwlz`` (``xmltree``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub.envelope import Delivery
from hub.errors import RetryLater
from hub.flows.iwlz import xmltree
from hub.flows.iwlz.xmltree import Tree, text
from hub.flows.network.notify import region_code
from hub.flows.network.registers import SUBJECTS
from hub.formats import bsn as bsnlib
from hub.formats.iwlz import safe_parse

if TYPE_CHECKING:
    from hub.flows.network import Network
    from hub.pipeline.check import Checked
    from hub.pipeline.context import HandlerContext

NAMESPACE = uuid.UUID("0b7f61a2-5d8e-4c1b-9f3e-2a6d4c8e1f57")

#: Where each message keeps its records inside a Client, and the element of one record.
RECORDS: dict[str, tuple[tuple[str, ...], str]] = {
    "IO31": ((), "Client"),
    "AW33": (("Indicatie", "ToegewezenZorgzwaartepakketten"), "ToegewezenZorgzwaartepakket"),
    "AW35": (("GeleverdeZorgzwaartepakketten",), "GeleverdZorgzwaartepakket"),
    "AW39": (("MutatieZorgzwaartepakketten",), "MutatieZorgzwaartepakket"),
}


@dataclass(frozen=True)
class Melding:
    subject: str
    data: dict[str, Any]


def rid(*parts: str) -> str:
    """A record id from the facts that name the record (the client as its keyed pseudonym)."""
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def indicatie_id(client: str, besluitnummer: str) -> str:
    return rid("WlzIndicatie", client, str(int(besluitnummer)))


def specificatie_id(indicatie: str, zzp: str, ingang: str, instelling: str) -> str:
    return rid("Bemiddelingspecificatie", indicatie, zzp, ingang, instelling)


def zorglevering_id(specificatie: str, begindatum: str) -> str:
    return rid("Zorglevering", specificatie, begindatum)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# ----- IO31 ---------------------------------------------------------------------------------
def _datum(node: Tree | None, name: str) -> str | None:
    return text(node, name, "Datum") if node is not None else None


def _client(c: Tree, bsn: str, cid: str, ingang: str) -> dict[str, Any]:
    naam = xmltree.child(c, "Naam") or {}
    geslachtsnaam = xmltree.child(naam, "Geslachtsnaam") or {}
    contacts = []
    for n, contact in enumerate(xmltree.at(c, ("Contactgegevens",)), start=1):
        adres = xmltree.child(contact, "Adres")
        if adres is None:
            continue
        huis = xmltree.child(adres, "Huis")
        nummer = text(huis, "Huisnummer")
        contacts.append({"contactGegevensID": rid("contact", cid, str(n)), "adres": _drop_none({
            "adresID": rid("adres", cid, str(n)), "adresSoort": text(contact, "Soort") or "",
            "straatnaam": text(adres, "Straatnaam"), "huisnummer": int(nummer) if nummer else None,
            "huisletter": text(huis, "Huisletter"), "huisnummerToevoeging": text(huis, "HuisnummerToevoeging"),
            "postcode": text(adres, "Postcode"), "plaatsnaam": text(adres, "Plaatsnaam"),
            "landCode": text(adres, "LandCode"), "ingangsdatum": ingang})})
    return _drop_none({
        "clientID": cid, "bsn": bsn, "geheimeClient": text(c, "GeheimeClient") or "2",
        "geboorteDatum": _datum(c, "Geboortedatum") or "", "geslacht": text(c, "Geslacht") or "",
        "geslachtsnaam": text(geslachtsnaam, "Achternaam") or "",
        "voorvoegselGeslachtsnaam": text(geslachtsnaam, "Voorvoegsel"), "voornamen": text(naam, "Voornamen"),
        "naamGebruik": text(naam, "NaamGebruik") or "1", "agbcodeHuisarts": text(c, "Huisarts"),
        "leefeenheid": text(c, "Leefeenheid"), "contactGegevens": contacts})


def _io31(c: Tree, client: str, bsn: str, net: Network, sender_id: str, ontvanger: str) -> list[Melding]:
    ind = xmltree.child(c, "Indicatie") or {}
    besluit = text(ind, "Besluitnummer") or "0"
    iid = indicatie_id(client, besluit)
    grondslagen = xmltree.at(ind, ("Grondslagen",))
    zzps = xmltree.at(ind, ("GeindiceerdeZorgzwaartepakketten",))
    data = _drop_none({
        "wlzindicatieID": iid, "bsn": bsn, "besluitnummer": int(besluit), "soortWlzindicatie": text(ind, "Soort"),
        "afgiftedatum": text(ind, "Afgiftedatum"), "ingangsdatum": text(ind, "Ingangsdatum"),
        "einddatum": text(ind, "Einddatum"), "meerzorg": text(ind, "Meerzorg"),
        "grondslag": [{"grondslagID": rid("grondslag", iid, str(n)), "grondslag": g.get("t", ""), "volgorde": n}
                      for n, g in enumerate(grondslagen, start=1)],
        "geindiceerdZorgzwaartepakket": [_drop_none({
            "geindiceerdZorgzwaartepakketID": rid("zzp", iid, str(n)), "zzpCode": text(z, "ZzpCode"),
            "ingangsdatum": text(z, "Ingangsdatum"), "einddatum": text(z, "Einddatum"),
            "klasse": text(z, "Klasse"), "voorkeurClient": text(z, "VoorkeurClient"),
            "instellingVoorkeur": text(z, "InstellingVoorkeur"), "financiering": text(z, "Financiering")})
            for n, z in enumerate(zzps, start=1)],
        "stoornis": [_drop_none({
            "stoornisID": rid("stoornis", iid, str(n)), "grondslag": text(s, "Grondslag"),
            "diagnoseCodelijst": text(s, "DiagnoseCodelijst"), "ziektebeeldStoornis": text(s, "ZiektebeeldStoornis")})
            for n, s in enumerate(xmltree.at(ind, ("Stoornissen",)), start=1)] or None,
        "beperking": [{"beperkingID": rid("beperking", iid, str(n)), "categorie": text(b, "Categorie") or ""}
                      for n, b in enumerate(xmltree.at(ind, ("Beperkingen",)), start=1)] or None,
        "commentaar": text(ind, "Commentaar"),
        "client": _client(c, bsn, rid("client", client), text(ind, "Ingangsdatum") or ""),
        "iwlz": {"IO31": c},
    })
    if region_code(data, net.regions) is None:  # no address in the region table: the zorgkantoor the CIZ named
        data["initieelVerantwoordelijkZorgkantoor"] = ontvanger
    return [Melding("WlzIndicatie", data)]


# ----- AW33 ---------------------------------------------------------------------------------
def _aw33(c: Tree, client: str, bsn: str, net: Network, sender_id: str, ontvanger: str) -> list[Melding]:
    ind = xmltree.child(c, "Indicatie") or {}
    iid = indicatie_id(client, text(ind, "Besluitnummer") or "0")
    bid = rid("Bemiddeling", iid)
    path, _ = RECORDS["AW33"]
    toegewezen = xmltree.at(c, path)
    out = [Melding("Bemiddeling", {
        "bemiddelingID": bid, "wlzIndicatieID": iid,
        "verantwoordelijkZorgkantoor": sender_id,
        "verantwoordelijkheidIngangsdatum": text(ind, "Ingangsdatum") or ""})]
    for t in toegewezen:
        pct = text(t, "ToewijzingPercentage")
        out.append(Melding("Bemiddelingspecificatie", _drop_none({
            "bemiddelingspecificatieID": specificatie_id(iid, text(t, "ZzpCode") or "", text(t, "Ingangsdatum") or "",
                                                         text(t, "Instelling") or ""),
            "bemiddelingID": bid, "leveringsvorm": text(t, "Leveringsvorm"), "zzpCode": text(t, "ZzpCode"),
            "toewijzingIngangsdatum": text(t, "Ingangsdatum"), "toewijzingEinddatum": text(t, "Einddatum"),
            "instelling": text(t, "Instelling"), "uitvoerendZorgkantoor": text(t, "Zorgkantoor"),
            "vaststellingMoment": f"{text(t, 'Toewijzingsdatum')}T{text(t, 'Toewijzingstijd')}",
            "percentage": int(pct) if pct else None, "redenIntrekking": text(t, "RedenIntrekking"),
            "etmalen": text(t, "Etmalen"), "instellingBestemming": text(t, "InstellingBestemming"),
            "opname": text(t, "Opname"), "soortToewijzing": text(t, "Soort"),
            "iwlz": {"AW33": xmltree.with_only(c, path, t)}})))
    return out


# ----- AW35 / AW39 --------------------------------------------------------------------------
Convert = Callable[[Tree, str, str, "Network", str, str], list[Melding]]


def _levering(msg: str) -> Convert:
    path, _ = RECORDS[msg]

    def convert(c: Tree, client: str, bsn: str, net: Network, sender_id: str, ontvanger: str) -> list[Melding]:
        out = []
        for g in xmltree.at(c, path):
            iid = indicatie_id(client, text(g, "Besluitnummer") or "0")
            sid = specificatie_id(iid, text(g, "ZzpCode") or "", text(g, "ToewijzingIngangsdatum") or "",
                                  text(g, "Instelling") or sender_id)
            zid = zorglevering_id(sid, text(g, "Begindatum") or "")
            mine = xmltree.with_only(c, path, g)
            if msg == "AW35":
                data = _drop_none({"zorgleveringID": zid, "bemiddelingspecificatieID": sid,
                                   "instelling": text(g, "Instelling") or sender_id, "zzpCode": text(g, "ZzpCode"),
                                   "leveringsvorm": text(g, "Leveringsvorm"), "begindatum": text(g, "Begindatum"),
                                   "leveringsstatus": text(g, "Leveringsstatus"), "iwlz": {"AW35": mine}})
            else:  # a change or end of the care an AW35 started: the earlier version, changed
                cur = net.registers.current("Zorglevering", zid)
                base: dict[str, Any] = dict(cur.data) if cur is not None else {
                    "zorgleveringID": zid, "bemiddelingspecificatieID": sid, "begindatum": text(g, "Begindatum")}
                data = _drop_none({**base, "instelling": text(g, "Instelling") or sender_id,
                                   "zzpCode": text(g, "ZzpCode"), "leveringsvorm": text(g, "Leveringsvorm"),
                                   "leveringsstatus": text(g, "Leveringsstatus"),
                                   "einddatum": text(g, "Mutatiedatum"), "redenBeeindiging": text(g, "Mutatiecode"),
                                   "iwlz": {**(base.get("iwlz") or {}), "AW39": mine}})
            out.append(Melding("Zorglevering", data))
        return out

    return convert


CONVERT: dict[str, Convert] = {
    "IO31": _io31, "AW33": _aw33, "AW35": _levering("AW35"), "AW39": _levering("AW39"),
}


def meldingen(msg: str, payload: bytes, net: Network, sender_id: str) -> list[Melding]:
    """The register records an accepted iWlz message states, in message order."""
    root = safe_parse(payload).getroot()
    ontvanger = root.findtext("./{*}Header/{*}Ontvanger") or ""
    clienten = next(el for el in root if isinstance(el.tag, str) and etree.QName(el).localname == "Clienten")
    out: list[Melding] = []
    for el in clienten:
        if not isinstance(el.tag, str):
            continue
        c = xmltree.to_tree(el)
        bsn = text(c, "Bsn") or ""
        out.extend(CONVERT[msg](c, bsnlib.pseudonym(bsn, net.key), bsn, net, sender_id, ontvanger))
    return out


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    """Route the message to its addressee, then meld what it says (``network.melden``'s rules, audit)."""
    from hub.flows.network import network_of
    from hub.flows.network.melden import apply

    net = network_of(ctx.app)
    env = checked.envelope
    party = ctx.app.parties.get(env.sender)
    routed = ctx.app.router.route(checked)
    for d in routed:  # a message its addressee cannot take is refused before anything is recorded
        ctx.app.translator.translate(d, ctx.app.parties.get(d.recipient))  # the worker translates it to send
    addressees = {d.recipient for d in routed}
    deliveries: list[Delivery] = []
    unrecorded: list[str] = []
    for m in meldingen(checked.kind.iwlz, env.payload, net, party.id):
        existing = net.registers.current(m.subject, str(m.data[SUBJECTS[m.subject].id_field]))
        action = "gewijzigd" if existing is not None else "nieuw"
        # the JSON receipt of a melding is not sent: an iWlz sender gets the retourbericht
        try:
            _rec, notes, _receipt = apply(net, ctx, party, env, m.subject, action, m.data)
        except RetryLater:  # its toewijzing or indicatie never passed the hub: routed, not recorded
            unrecorded.append(m.subject)
            continue
        # the addressee has the message itself: no second iWlz copy of the same facts
        deliveries.extend(d for d in notes if not (d.recipient in addressees and d.envelope.kind.startswith("iwlz.")))
    if unrecorded:  # said where the audit records the routing
        note = f"; not recorded, its parent not in the registers: {', '.join(unrecorded)}"
        routed = [replace(d, reason=d.reason + note) for d in routed]
    return routed + deliveries
