"""The parts every iWlz message shares: header <-> Bundle/MessageHeader, client <-> Patient,
indicatiebesluit <-> ServiceRequest. See ``mappings/toolkit/iwlz.py`` for the rule on changes."""

from __future__ import annotations

from lxml import etree

from hub.errors import SchemaViolation
from mappings.toolkit.iwlz import (
    AGB,
    BERICHT_ID,
    BERICHTCODE,
    BESLUIT,
    BSN,
    JA,
    NEE,
    UZOVI,
    JsonObj,
    Node,
    code_system,
    entries,
    ext,
    full_url,
    get_ext,
    ident_value,
    ns,
    sub,
)

CODES = {"IO31": "388", "AW33": "352", "AW35": "354", "AW39": "358"}
#: Who sends and receives each message: identifier kind of Afzender / Ontvanger (None: implicit CIZ).
PARTIES = {"IO31": (None, "uzovi"), "AW33": ("uzovi", "agb"), "AW35": ("agb", "uzovi"), "AW39": ("agb", "uzovi")}
XSD_VERSION = "1.0.0"
GENDER = {"0": "unknown", "1": "male", "2": "female"}
GENDER_XML = {v: k for k, v in GENDER.items()}
HN = "http://hl7.org/fhir/StructureDefinition/"
ASSEMBLY = {"1": "NL1", "2": "NL2", "3": "NL3", "4": "NL4"}


class Ctx:
    """Per-message state while building a Bundle: deterministic entry URLs and the entries."""

    def __init__(self, msg: str, ident: str, day: str) -> None:
        self.msg, self.seed = msg, f"{msg}/{ident}/{day}"
        self.entry: list[JsonObj] = []

    def add(self, local: str, res: JsonObj) -> str:
        url = full_url(self.seed, local)
        self.entry.append({"fullUrl": url, "resource": res})
        return url


# --- header -----------------------------------------------------------------------


def header_to_fhir(msg: str, root: Node) -> tuple[Ctx, JsonObj]:
    """Read the Header; return the context and the MessageHeader (focus filled in later)."""
    h = root.req("Header")
    code = h.text("BerichtCode")
    if code != CODES[msg]:
        raise SchemaViolation(
            f"Header/BerichtCode is {code!r} but an {msg} must have BerichtCode {CODES[msg]}", rule="XSD:BerichtCode"
        )
    for name, fixed in (("BerichtVersie", "5"), ("BerichtSubversie", "2")):
        if h.text(name) != fixed:
            raise SchemaViolation(f"Header/{name} must be {fixed} for iWlz 2.2", rule=f"XSD:{name}")
    sender_kind, receiver_kind = PARTIES[msg]
    afzender = h.text("Afzender") if sender_kind else None
    ontvanger = h.text("Ontvanger") or ""
    bid = h.req("BerichtIdentificatie")
    ident, day = bid.text("Identificatie") or "", bid.text("Dagtekening") or ""
    bid.done()
    h.req("XsdVersie")  # fixed by the schema this mapping targets; regenerated on the way back
    h.done()
    ctx = Ctx(msg, ident, day)
    mh: JsonObj = {"resourceType": "MessageHeader", "eventCoding": {"system": BERICHTCODE, "code": msg}}
    ctx.add("MessageHeader", mh)
    recv = ctx.add("receiver", _org(receiver_kind, ontvanger))
    mh["destination"] = [{"endpoint": f"urn:iwlz:{receiver_kind}:{ontvanger}", "receiver": {"reference": recv}}]
    if sender_kind and afzender:
        mh["sender"] = {"reference": ctx.add("sender", _org(sender_kind, afzender))}
        mh["source"] = {"endpoint": f"urn:iwlz:{sender_kind}:{afzender}"}
    else:
        mh["source"] = {"endpoint": "urn:iwlz:ciz"}
    return ctx, mh


def _org(kind: str, value: str) -> JsonObj:
    return {"resourceType": "Organization", "identifier": [{"system": AGB if kind == "agb" else UZOVI, "value": value}]}


def bundle(ctx: Ctx, ident: str, day: str) -> JsonObj:
    return {
        "resourceType": "Bundle",
        "type": "message",
        "identifier": {"system": BERICHT_ID, "value": ident, "period": {"start": day}},
        "entry": ctx.entry,
    }


def header_to_xml(msg: str, b: JsonObj, root: etree._Element) -> None:
    if b.get("resourceType") != "Bundle":
        raise SchemaViolation("expected a FHIR Bundle", rule="FHIR:resourceType")
    mh = next((r for _, r in entries(b, "MessageHeader")), None)
    if mh is None or mh.get("eventCoding", {}).get("code") != msg:
        raise SchemaViolation(f"the Bundle has no MessageHeader with event {msg}", rule="FHIR:MessageHeader")
    by_url = {e.get("fullUrl"): e.get("resource", {}) for e in b.get("entry", [])}
    sender_kind, receiver_kind = PARTIES[msg]
    h = sub(root, "Header")
    sub(h, "BerichtCode", CODES[msg])
    sub(h, "BerichtVersie", "5")
    sub(h, "BerichtSubversie", "2")
    if sender_kind:
        org = by_url.get(mh.get("sender", {}).get("reference"))
        sub(h, "Afzender", _need(ident_value(org, AGB if sender_kind == "agb" else UZOVI), "MessageHeader.sender"))
    dest = (mh.get("destination") or [{}])[0]
    org = by_url.get(dest.get("receiver", {}).get("reference"))
    receiver = ident_value(org, AGB if receiver_kind == "agb" else UZOVI)
    sub(h, "Ontvanger", _need(receiver, "MessageHeader.destination.receiver"))
    ident = b.get("identifier") or {}
    bid = sub(h, "BerichtIdentificatie")
    sub(bid, "Identificatie", _need(ident.get("value"), "Bundle.identifier.value"), base=True)
    sub(bid, "Dagtekening", _need((ident.get("period") or {}).get("start"), "Bundle.identifier.period"), base=True)
    xv = sub(h, "XsdVersie")
    sub(xv, "BasisschemaXsdVersie", XSD_VERSION, base=True)
    sub(xv, "BerichtXsdVersie", XSD_VERSION, base=True)


def _need(value: object, where: str) -> str:
    if value is None or value == "":
        raise SchemaViolation(f"{where} is missing", rule=f"FHIR:{where}")
    return str(value)


# --- client -----------------------------------------------------------------------


def client_to_patient(c: Node, full: bool, extra_bools: tuple[str, ...] = ()) -> JsonObj:
    """Client -> Patient. ``full``: the IO31/AW33 client with VolledigeNaam, address and more."""
    p: JsonObj = {"resourceType": "Patient", "identifier": [{"system": BSN, "value": c.text("Bsn")}]}
    exts: list[JsonObj] = []
    if full:
        exts.append(ext("GeheimeClient", "bool", c.text("GeheimeClient") or ""))
    geb = c.req("Geboortedatum")
    p["birthDate"] = geb.text("Datum")
    gebruik = geb.text("DatumGebruik", False)
    geb.done()
    if gebruik:
        p["_birthDate"] = {"extension": [ext("DatumGebruik", "code", gebruik)]}
    p["gender"] = GENDER[c.text("Geslacht") or "0"]
    p["name"] = [_name(c.req("Naam"), full)]
    if full:
        exts.append(ext("Leefeenheid", "code", c.text("Leefeenheid") or ""))
        gp = c.text("Huisarts", False)
        if gp:
            p["generalPractitioner"] = [{"identifier": {"system": AGB, "value": gp}}]
        for name in extra_bools:
            exts.append(ext(name, "bool", c.text(name) or ""))
        p["address"] = [_address(n) for n in c.req("Contactgegevens").all("Contact")]
    if exts:
        p["extension"] = exts
    return p


def _name(n: Node, full: bool) -> JsonObj:
    gn = n.req("Geslachtsnaam")
    own, prefix = gn.text("Achternaam") or "", gn.text("Voorvoegsel", False)
    gn.done()
    fam_ext = ([{"url": HN + "humanname-own-prefix", "valueString": prefix}] if prefix else []) + [
        {"url": HN + "humanname-own-name", "valueString": own}
    ]
    name: JsonObj = {"family": f"{prefix} {own}" if prefix else own, "_family": {"extension": fam_ext}}
    given: list[str] = (n.text("Voornamen", False) or "").split()
    given_ext: list[JsonObj | None] = [None] * len(given)
    initials = n.text("Voorletters", False)
    if initials:
        given.append("".join(ch + "." for ch in initials))
        given_ext.append({"extension": [{"url": HN + "iso21090-EN-qualifier", "valueCode": "IN"}]})
    if given:
        name["given"] = given
        if initials:
            name["_given"] = given_ext
    if full:
        gebruik = n.text("NaamGebruik") or ""
        exts = [ext("NaamGebruik", "code", gebruik)]
        if gebruik in ASSEMBLY:
            exts.append({"url": HN + "humanname-assembly-order", "valueCode": ASSEMBLY[gebruik]})
        name["extension"] = exts
    n.done()
    return name


ADXP = HN + "iso21090-ADXP-"


def _address(c: Node) -> JsonObj:
    a: JsonObj = {"extension": [ext("AdresSoort", "code", c.text("Soort") or "")]}
    adres = c.opt("Adres")
    c.done()
    if adres is None:
        return a
    parts: list[JsonObj] = []
    line: list[str] = []
    huis = adres.opt("Huis")
    street = adres.text("Straatnaam", False)
    if street:
        parts.append({"url": ADXP + "streetName", "valueString": street})
        line.append(street)
    if huis is not None:
        nr, letter, toev = (
            huis.text("Huisnummer") or "",
            huis.text("Huisletter", False),
            huis.text("HuisnummerToevoeging", False),
        )
        huis.done()
        parts.append({"url": ADXP + "houseNumber", "valueString": nr})
        if letter:
            parts.append({"url": ADXP + "buildingNumberSuffix", "valueString": letter})
        if toev:
            parts.append({"url": ADXP + "additionalLocator", "valueString": toev})
        line.append(nr + (letter or "") + (f"-{toev}" if toev else ""))
    if parts:
        a["line"] = [" ".join(line)]
        a["_line"] = [{"extension": parts}]
    for xml, key in (("Postcode", "postalCode"), ("Plaatsnaam", "city"), ("LandCode", "country")):
        value = adres.text(xml, False)
        if value:
            a[key] = value
    adres.done()
    return a


def patient_to_client(p: JsonObj, client: etree._Element, full: bool, extra_bools: tuple[str, ...] = ()) -> None:
    """Patient -> Client children up to (not including) the records, in XSD order."""
    sub(client, "Bsn", _need(ident_value(p, BSN), "Patient.identifier(BSN)"))
    if full:
        sub(client, "GeheimeClient", get_ext(p, "GeheimeClient", "bool") or NEE)
    geb = sub(client, "Geboortedatum")
    sub(geb, "Datum", _need(p.get("birthDate"), "Patient.birthDate"), base=True)
    gebruik = next(iter(_exts(p.get("_birthDate"), "DatumGebruik")), None)
    if gebruik:
        sub(geb, "DatumGebruik", gebruik, base=True)
    sub(client, "Geslacht", GENDER_XML.get(p.get("gender", "unknown"), "0"))
    _name_xml(_need_obj((p.get("name") or [None])[0], "Patient.name"), sub(client, "Naam"), full)
    if not full:
        return
    sub(client, "Leefeenheid", _need(get_ext(p, "Leefeenheid", "code"), "Patient.extension(Leefeenheid)"))
    gp = ident_value((p.get("generalPractitioner") or [None])[0], AGB)
    if gp:
        sub(client, "Huisarts", gp)
    for name in extra_bools:
        sub(client, name, get_ext(p, name, "bool") or NEE)


def patient_contacts(p: JsonObj, client: etree._Element) -> None:
    cg = sub(client, "Contactgegevens")
    addresses = p.get("address") or []
    if not addresses:
        raise SchemaViolation("Patient.address is missing (Contactgegevens needs one Contact)", rule="FHIR:address")
    for a in addresses:
        c = sub(cg, "Contact")
        sub(c, "Soort", _need(get_ext(a, "AdresSoort", "code"), "Patient.address.extension(AdresSoort)"))
        line_ext = ((a.get("_line") or [{}])[0] or {}).get("extension", [])
        parts = {e["url"][len(ADXP) :]: e["valueString"] for e in line_ext}
        if not (parts or any(k in a for k in ("postalCode", "city", "country"))):
            continue
        adres = sub(c, "Adres")
        if "houseNumber" in parts:
            huis = sub(adres, "Huis", base=True)
            sub(huis, "Huisnummer", parts["houseNumber"], base=True)
            for key, xml in (("buildingNumberSuffix", "Huisletter"), ("additionalLocator", "HuisnummerToevoeging")):
                if key in parts:
                    sub(huis, xml, parts[key], base=True)
        for key, xml in (("postalCode", "Postcode"), ("streetName", "Straatnaam"), ("city", "Plaatsnaam")):
            value = a.get(key) if key != "streetName" else parts.get(key)
            if value:
                sub(adres, xml, value, base=True)
        if a.get("country"):
            sub(adres, "LandCode", a["country"], base=True)


def _need_obj(value: JsonObj | None, where: str) -> JsonObj:
    if not value:
        raise SchemaViolation(f"{where} is missing", rule=f"FHIR:{where}")
    return value


def _exts(elem: JsonObj | None, name: str) -> list[str]:
    from mappings.toolkit.iwlz import EXT

    return [e.get("valueCode", "") for e in (elem or {}).get("extension", []) if e.get("url") == EXT + name.lower()]


def _name_xml(name: JsonObj, naam: etree._Element, full: bool) -> None:
    fam = {e["url"][len(HN) :]: e["valueString"] for e in (name.get("_family") or {}).get("extension", [])}
    gn = sub(naam, "Geslachtsnaam", base=True)
    sub(gn, "Achternaam", _need(fam.get("humanname-own-name") or name.get("family"), "Patient.name.family"), base=True)
    if fam.get("humanname-own-prefix"):
        sub(gn, "Voorvoegsel", fam["humanname-own-prefix"], base=True)
    given = name.get("given") or []
    given_ext = name.get("_given") or [None] * len(given)
    firsts, initials = [], ""
    for g, e in zip(given, given_ext, strict=False):
        if e and any(x.get("valueCode") == "IN" for x in e.get("extension", [])):
            initials += g.replace(".", "").replace(" ", "")
        else:
            firsts.append(g)
    if firsts:
        sub(naam, "Voornamen", " ".join(firsts), base=True)
    if initials:
        sub(naam, "Voorletters", initials, base=True)
    if full:
        gebruik = get_ext(name, "NaamGebruik", "code")
        if gebruik is None:
            order = {v: k for k, v in ASSEMBLY.items()}
            gebruik = next((order.get(e.get("valueCode", "")) for e in name.get("extension", [])
                            if e.get("url") == HN + "humanname-assembly-order"), "1")  # fmt: skip
        sub(naam, "NaamGebruik", gebruik, base=True)


# --- indicatiebesluit ------------------------------------------------------------------


def indicatie_to_sr(ind: Node, patient_url: str, meerzorg: bool) -> JsonObj:
    """The head of an Indicatie -> the indicatiebesluit as a ServiceRequest."""
    sr: JsonObj = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": BESLUIT, "value": ind.text("Besluitnummer")}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": code_system("SoortIndicatie"), "code": ind.text("Soort")}]}],
        "subject": {"reference": patient_url},
    }
    gr = ind.opt("Grondslagen")
    if gr is not None:
        codes = [gr.text("Grondslag01"), gr.text("Grondslag02", False)]
        gr.done()
        sr["reasonCode"] = [{"coding": [{"system": code_system("Grondslag"), "code": c}]} for c in codes if c]
    sr["authoredOn"] = ind.text("Afgiftedatum")
    period = {"start": ind.text("Ingangsdatum")}
    end = ind.text("Einddatum", False)
    if end:
        period["end"] = end
    sr["occurrencePeriod"] = period
    if meerzorg:
        value = ind.text("Meerzorg", False)
        if value:
            sr["extension"] = [ext("Meerzorg", "bool", value)]
    return sr


def sr_to_indicatie(sr: JsonObj, ind: etree._Element, meerzorg: bool) -> None:
    sub(ind, "Besluitnummer", _need(ident_value(sr, BESLUIT), "ServiceRequest.identifier(besluitnummer)"))
    cat = (sr.get("category") or [{}])[0].get("coding") or [{}]
    sub(ind, "Soort", _need(cat[0].get("code"), "ServiceRequest.category(SoortIndicatie)"))
    reasons = [(r.get("coding") or [{}])[0].get("code") for r in sr.get("reasonCode") or []]
    if reasons:
        gr = sub(ind, "Grondslagen")
        for i, code in enumerate(reasons[:2]):
            sub(gr, f"Grondslag0{i + 1}", code, base=True)
    sub(ind, "Afgiftedatum", _need(sr.get("authoredOn"), "ServiceRequest.authoredOn"))
    period = sr.get("occurrencePeriod") or {}
    sub(ind, "Ingangsdatum", _need(period.get("start"), "ServiceRequest.occurrencePeriod.start"))
    if period.get("end"):
        sub(ind, "Einddatum", period["end"])
    if meerzorg:
        value = get_ext(sr, "Meerzorg", "bool")
        if value:
            sub(ind, "Meerzorg", value)


def by_subject(b: JsonObj, rtype: str, key: str) -> dict[str, list[JsonObj]]:
    """Resources of ``rtype`` grouped by the Patient they point at (``subject`` or ``patient``)."""
    out: dict[str, list[JsonObj]] = {}
    for _, res in entries(b, rtype):
        out.setdefault(res.get(key, {}).get("reference", ""), []).append(res)
    return out


def new_root(msg: str) -> etree._Element:
    return etree.Element(f"{{{ns(msg)}}}Bericht", nsmap={None: ns(msg), "iwlz": ns("basisschema")})  # type: ignore[dict-item]


JA_NEE = (JA, NEE)
