"""Registers into XML: what a party that speaks only iWlz XML gets for a network-model melding.

A party is XML-only when every format it accepts is an iWlz message (``iwlz-2.2-xml:*``). Where
the network model would send it a JSON notification, it gets the iWlz message that carries the
record instead, if it accepts that message:

================================  ==========  ==========================================
record (action)                   message     typical recipient
================================  ==========  ==========================================
WlzIndicatie (nieuw, gewijzigd)   IO31        the client's zorgkantoor
Bemiddelingspecificatie (any)     AW33        the provider the toewijzing names
Zorglevering (nieuw)              CA317       the CAK (AW35 to a zorgkantoor)
Zorglevering (gewijzigd, ...)     CA319       the CAK (AW39 to a zorgkantoor)
================================  ==========  ==========================================

A record made from iWlz XML keeps its client's part of that message (``xmltree``), and the
message is written from it, so it says exactly what its sender said; a record melded as JSON is
written from its network-model fields. Every message is checked with the official XSD and XSLT
before it leaves; one that fails (a JSON record lacking an element the message requires, a
code outside the iWlz code list) is not sent, and the audit names the rule. An XML-only party
that accepts no message for the record is not notified, and the audit says so.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub.catalogue.parties import Party
from hub.envelope import Delivery, Envelope
from hub.flows import support
from hub.flows.iwlz import xmltree
from hub.flows.iwlz.bridge import RECORDS
from hub.flows.iwlz.xmltree import BASE_NS, Tree
from hub.flows.network.registers import Record
from hub.flows.network.responsibility import NL
from hub.formats.iwlz import Validator, namespace
from hub.pipeline import record
from hub.store.audit import now_iso
from hub.store.flows import iwlz as store

if TYPE_CHECKING:
    from hub.flows.network import Network
    from hub.pipeline.context import HandlerContext

XML_FORMAT = "iwlz-2.2-xml:"
XS = "{http://www.w3.org/2001/XMLSchema}"


def xml_only(party: Party) -> bool:
    return bool(party.accepts) and all(f.startswith(XML_FORMAT) for f in party.accepts)


def message_for(rec: Record, action: str, party: Party) -> str | None:
    """The iWlz message that carries ``rec`` to ``party``, or None when it accepts none."""
    options = {
        "WlzIndicatie": ["IO31"] if action != "ingetrokken" else [],
        "Bemiddelingspecificatie": ["AW33"],
        "Zorglevering": ["CA317", "AW35"] if action == "nieuw" else ["CA319", "AW39"],
    }.get(rec.subject, [])
    return next((m for m in options if XML_FORMAT + m in party.accepts), None)


# ----- the header ---------------------------------------------------------------------------
@cache
def header_spec(schema_dir: str, msg: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """The header's element names and the fixed values (BerichtCode, -Versie, -Subversie) of ``msg``'s XSD."""
    xsd = etree.parse(str(Path(schema_dir) / "iwlz-2.2" / "xsd" / f"{msg}.xsd"))
    header = next(ct for ct in xsd.iter(XS + "complexType") if ct.get("name") == "Header")
    names = tuple(str(e.get("name")) for e in header.iter(XS + "element"))
    fixed = {}
    for e in header.iter(XS + "element"):
        pattern = next(e.iter(XS + "pattern"), None)
        if pattern is not None:
            fixed[str(e.get("name"))] = str(pattern.get("value"))
    return names, fixed


def identificatie(message_id: str) -> str:
    """A new message's BerichtIdentificatie/Identificatie: 12 characters derived from its message id."""
    return base64.b32encode(hashlib.sha256(message_id.encode()).digest()).decode()[:12]


def header(schema_dir: str, msg: str, afzender: str, ontvanger: str, ident: str, dagtekening: str) -> Tree:
    names, fixed = header_spec(schema_dir, msg)
    values = {**fixed, "Afzender": afzender, "Ontvanger": ontvanger}
    kids: list[Tree] = [leaf(n, values[n]) for n in ("BerichtCode", "BerichtVersie", "BerichtSubversie",
                                                     "Afzender", "Ontvanger") if n in names]
    kids.append(node("BerichtIdentificatie", [leaf("Identificatie", ident, True),
                                              leaf("Dagtekening", dagtekening, True)]))
    kids.append(node("XsdVersie", [leaf("BasisschemaXsdVersie", "1.0.0", True),
                                   leaf("BerichtXsdVersie", "1.0.0", True)]))
    return node("Header", kids)


def write(msg: str, head: Tree, clients: list[Tree]) -> bytes:
    """The whole message: header and clients, in the message's namespace."""
    ns = namespace(msg)
    root = etree.Element(f"{{{ns}}}Bericht", nsmap={None: ns, "iwlz": BASE_NS})  # type: ignore[dict-item]
    xmltree.append(root, head, ns)
    box = etree.SubElement(root, f"{{{ns}}}Clienten")
    for c in clients:
        xmltree.append(box, c, ns)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ----- clients from records -----------------------------------------------------------------
def leaf(name: str, value: Any, base: bool = False) -> Tree:
    out: Tree = {"n": name, "t": str(value)}
    if base:
        out["b"] = True
    return out


def node(name: str, children: list[Tree], base: bool = False) -> Tree:
    out: Tree = {"n": name, "c": children}
    if base:
        out["b"] = True
    return out


def _opt(name: str, value: Any, base: bool = False) -> list[Tree]:
    return [] if value in (None, "") else [leaf(name, value, base)]


def _client_head(ind: dict[str, Any], msg: str) -> list[Tree]:
    c = ind.get("client") or {}
    naam = node("Naam", [
        node("Geslachtsnaam", [leaf("Achternaam", c.get("geslachtsnaam", ""), True),
                               *_opt("Voorvoegsel", c.get("voorvoegselGeslachtsnaam"), True)], True),
        *_opt("Voornamen", c.get("voornamen"), True), leaf("NaamGebruik", c.get("naamGebruik", "1"), True)])
    contacts = []
    for cg in c.get("contactGegevens") or []:
        a = (cg or {}).get("adres") or {}
        huis = [leaf("Huisnummer", a["huisnummer"], True), *_opt("Huisletter", a.get("huisletter"), True),
                *_opt("HuisnummerToevoeging", a.get("huisnummerToevoeging"), True)] if a.get("huisnummer") else []
        adres = ([node("Huis", huis, True)] if huis else []) + [
            *_opt("Postcode", (a.get("postcode") or "").replace(" ", ""), True),
            *_opt("Straatnaam", a.get("straatnaam"), True),
            *_opt("Plaatsnaam", a.get("plaatsnaam"), True), *_opt("LandCode", a.get("landCode") or "NL", True)]
        contacts.append(node("Contact", [leaf("Soort", a.get("adresSoort", "01")), node("Adres", adres)]))
    return [leaf("Bsn", ind["bsn"]), leaf("GeheimeClient", c.get("geheimeClient", "2")),
            node("Geboortedatum", [leaf("Datum", c.get("geboorteDatum", ""), True)]),
            leaf("Geslacht", c.get("geslacht", "")), naam, *_opt("Leefeenheid", c.get("leefeenheid")),
            *_opt("Huisarts", c.get("agbcodeHuisarts")),
            *(_opt("Partneropname", c.get("partneropname")) if msg == "AW33" else []),
            node("Contactgegevens", contacts)]


def _indicatie(ind: dict[str, Any], msg: str, extra: list[Tree]) -> Tree:
    grond = sorted(ind.get("grondslag") or [], key=lambda g: int(g.get("volgorde", 0)))
    zzps = [node("GeindiceerdZorgzwaartepakket", [
        leaf("ZzpCode", z["zzpCode"]), leaf("Ingangsdatum", z["ingangsdatum"]), *_opt("Einddatum", z.get("einddatum")),
        *_opt("Klasse", z.get("klasse")), *_opt("VoorkeurClient", z.get("voorkeurClient")),
        *(_opt("InstellingVoorkeur", z.get("instellingVoorkeur")) if msg == "IO31" else []),
        leaf("Financiering", z.get("financiering", ""))]) for z in ind.get("geindiceerdZorgzwaartepakket") or []]
    return node("Indicatie", [
        leaf("Besluitnummer", ind["besluitnummer"]), leaf("Soort", ind.get("soortWlzindicatie", "")),
        *([node("Grondslagen", [leaf(f"Grondslag{n:02d}", g["grondslag"], True)
                                for n, g in enumerate(grond, start=1)])] if grond else []),
        leaf("Afgiftedatum", ind.get("afgiftedatum", "")), leaf("Ingangsdatum", ind.get("ingangsdatum", "")),
        *_opt("Einddatum", ind.get("einddatum")),
        *(_opt("Meerzorg", ind.get("meerzorg")) if msg == "IO31" else []),
        *([node("GeindiceerdeZorgzwaartepakketten", zzps)] if zzps else []), *extra])


def _chain(net: Network, rec: Record) -> dict[str, Record]:
    """The record and its ancestors by subject (a zorglevering's toewijzing, bemiddeling, indicatie)."""
    out = {rec.subject: rec}
    cur: Record | None = rec
    while cur is not None and cur.parent_id:
        cur = net.registers.find(cur.parent_id)
        if cur is not None:
            out[cur.subject] = cur
    return out


def _io31(net: Network, rec: Record) -> Tree:
    return node("Client", [*_client_head(rec.data, "IO31"), _indicatie(rec.data, "IO31", [])])


#: The Regiehouder's regierol and the AW33 element naming that role's instelling.
REGIEROL = {"1": "Dossierhouder", "2": "CoordinatorZorgThuis"}


def _regie(net: Network, bemiddeling_id: str) -> dict[str, str]:
    """Dossierhouder and CoordinatorZorgThuis from the bemiddeling's active Regiehouder records."""
    out: dict[str, str] = {}
    for r in net.registers.children(bemiddeling_id):
        role = REGIEROL.get(str(r.data.get("regierol")))
        if r.subject == "Regiehouder" and r.active and role:
            out[role] = str(r.data.get("instelling", ""))
    return out


def _aw33(net: Network, rec: Record) -> Tree:
    s = rec.data
    ind = _chain(net, rec)["WlzIndicatie"].data
    regie = _regie(net, str(s.get("bemiddelingID", "")))
    # the Klasse of the toewijzing is the one the indicatie gives its zzp
    klasse = next((z.get("klasse") for z in ind.get("geindiceerdZorgzwaartepakket") or []
                   if z.get("zzpCode") == s.get("zzpCode")), None)
    moment = str(s.get("vaststellingMoment", ""))
    toegewezen = node("ToegewezenZorgzwaartepakket", [
        leaf("ZzpCode", s["zzpCode"]), *_opt("Instelling", s.get("instelling")),
        leaf("Zorgkantoor", s.get("uitvoerendZorgkantoor", "")), leaf("Soort", s.get("soortToewijzing", "")),
        leaf("Toewijzingsdatum", moment[:10]), leaf("Toewijzingstijd", moment[11:19]),
        *_opt("ToewijzingPercentage", s.get("percentage")), leaf("Ingangsdatum", s["toewijzingIngangsdatum"]),
        *_opt("Einddatum", s.get("toewijzingEinddatum")), *_opt("RedenIntrekking", s.get("redenIntrekking")),
        *_opt("Etmalen", s.get("etmalen")), *_opt("Klasse", klasse),
        *_opt("InstellingBestemming", s.get("instellingBestemming")),
        leaf("Leveringsvorm", s.get("leveringsvorm", "")), *_opt("Dossierhouder", regie.get("Dossierhouder")),
        *_opt("CoordinatorZorgThuis", regie.get("CoordinatorZorgThuis")), *_opt("Opname", s.get("opname"))])
    return node("Client", [*_client_head(ind, "AW33"),
                           _indicatie(ind, "AW33", [node("ToegewezenZorgzwaartepakketten", [toegewezen])])])


def _ca317(net: Network, rec: Record) -> Tree:
    z = rec.data
    bsn = _chain(net, rec)["WlzIndicatie"].data["bsn"]
    return node("Client", [leaf("Bsn", bsn), node("ZorgLeveringen", [node("GeleverdeZorg", [
        leaf("GeleverdeZorgID", z["zorgleveringID"]), leaf("Startdatum", z["begindatum"]),
        leaf("ZzpCode", z["zzpCode"]),
        *_opt("Instelling", z.get("instelling")), leaf("Leveringsvorm", z.get("leveringsvorm", "")),
        leaf("StatusAanlevering", "1")])])])


def _ca319(net: Network, rec: Record) -> Tree:
    z = rec.data
    bsn = _chain(net, rec)["WlzIndicatie"].data["bsn"]
    return node("Client", [leaf("Bsn", bsn), node("MutatiesZorg", [node("MutatieZorg", [
        leaf("MutatieZorgID", z["zorgleveringID"]), leaf("Mutatiecode", z.get("redenBeeindiging") or ""),
        leaf("Mutatiedatum", z.get("einddatum") or ""), leaf("StatusAanlevering", "1")])])])


FROM_FIELDS: dict[str, Callable[[Network, Record], Tree]] = {
    "IO31": _io31, "AW33": _aw33, "CA317": _ca317, "CA319": _ca319}


def client_of(net: Network, msg: str, rec: Record) -> Tree:
    """The Client element of ``msg`` for one record: as its XML sender wrote it, else from its fields."""
    kept = (rec.data.get("iwlz") or {}).get(msg)
    if kept is not None:
        return dict(kept)
    build = FROM_FIELDS.get(msg)
    if build is None:
        raise KeyError(f"{msg} is written only from a record that came as {msg}")
    return build(net, rec)


def clients(net: Network, msg: str, records: list[Record]) -> list[Tree]:
    """One Client per client, in order: a client's records (its toewijzingen, ...) under one Client."""
    path, _ = RECORDS.get(msg, ((), ""))
    by_client: dict[str, list[Tree]] = {}
    for rec in records:
        by_client.setdefault(rec.client, []).append(client_of(net, msg, rec))
    out = []
    for trees in by_client.values():
        if not path or len(trees) == 1:
            out.extend(trees if not path else trees[:1])
            continue
        out.append(xmltree.merged(trees[0], path, [r for t in trees for r in xmltree.at(t, path)]))
    return out


def parties_of(net: Network, msg: str, rec: Record) -> tuple[str, str]:
    """Afzender and Ontvanger of ``msg`` for ``rec`` as the records say (before the recipient is known)."""
    d = rec.data
    chain = _chain(net, rec)
    spec = chain.get("Bemiddelingspecificatie")
    zk = str((spec.data if spec else {}).get("uitvoerendZorgkantoor") or "")
    if msg in ("AW33",):
        return zk, str(d.get("instelling") or "")
    if msg in ("AW35", "AW39"):
        return str(d.get("instelling") or ""), zk
    if msg in ("CA317", "CA319"):
        return zk, ""
    return "", str(d.get("initieelVerantwoordelijkZorgkantoor") or "")


def message(net: Network, schema_dir: str, msg: str, records: list[Record], *, ontvanger: str = "",
            message_id: str, dagtekening: str) -> bytes:
    """The iWlz ``msg`` for ``records`` to ``ontvanger`` (its party id), a new message: its own Identificatie."""
    afzender, stated = parties_of(net, msg, records[0])
    head = header(schema_dir, msg, afzender, ontvanger or stated, identificatie(message_id), dagtekening)
    return write(msg, head, clients(net, msg, records))


# ----- the network's speaker ----------------------------------------------------------------
class Speaker:
    """Registered with the network flow: rewrites the notifications of XML-only parties as iWlz messages."""

    def __init__(self, schema_dir: Path | None) -> None:
        self.schema_dir = str(schema_dir) if schema_dir is not None else ""

    def __call__(self, net: Network, ctx: HandlerContext, rec: Record, action: str, env: Envelope,
                 deliveries: list[Delivery]) -> list[Delivery]:
        out: list[Delivery] = []
        for d in deliveries:
            party = net.parties.get(d.recipient)
            if not xml_only(party):
                out.append(d)
                continue
            msg = message_for(rec, action, party) if self.schema_dir else None
            if msg is None:
                ctx.records.append(record.by_hub(env, "network.not_notified", party.name,
                                                 f"{party.name} accepts only iWlz XML and no iWlz message it accepts "
                                                 f"carries {rec.subject}", client=rec.client,
                                                 record_type=rec.subject, record_id=rec.record_id))
                continue
            sent = self.emit(net, ctx, rec, msg, party, d)
            if sent is not None:
                out.append(sent)
        return out

    def emit(self, net: Network, ctx: HandlerContext, rec: Record, msg: str, party: Party,
             d: Delivery) -> Delivery | None:
        env = d.envelope
        try:
            xml = message(net, self.schema_dir, msg, [rec], ontvanger=party.id, message_id=env.message_id,
                          dagtekening=support.now().astimezone(NL).date().isoformat())
        except (KeyError, ValueError) as exc:
            return self._unsent(ctx, env, rec, party, msg, f"the record lacks {exc}", "IWLZ_FIELDS")
        issues = Validator(self.schema_dir).validate(msg, xml)
        if issues:
            codes = ", ".join(dict.fromkeys(code for code, _ in issues))
            return self._unsent(ctx, env, rec, party, msg, f"it fails {codes}: {issues[0][1]}", issues[0][0])
        ident = identificatie(env.message_id)
        store.add_sent(ctx.db, (party.name, ident, env.message_id, msg, rec.subject, rec.record_id,
                                ctx.envelope.message_id, now_iso()))
        out = env.evolve(kind=f"iwlz.{msg}", content_type="application/xml", payload=xml,
                         headers={**env.headers, "x-iwlz-identificatie": ident})
        return Delivery(party.name, out, f"{d.reason} as iWlz {msg}")

    @staticmethod
    def _unsent(ctx: HandlerContext, env: Envelope, rec: Record, party: Party, msg: str, why: str,
                rule: str) -> None:
        ctx.records.append(record.by_hub(env, "iwlz.not_sent", party.name,
                                         f"{rec.subject} {rec.record_id} not sent to {party.name} as {msg}: {why} "
                                         f"(rule {rule})", client=rec.client, record_type=rec.subject,
                                         record_id=rec.record_id))
        return None
