"""A table-driven iWlz message <-> FHIR Bundle translator; each released version configures one.

A version module declares *what* maps (its record tables, the client shape, the
EpisodeOfCare status rule); this module holds *how*. Both directions are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from lxml import etree

from hub.catalogue.mappings import MappingSpec
from hub.errors import SchemaViolation
from mappings.toolkit import parts
from mappings.toolkit.iwlz import (
    BESLUIT,
    JsonObj,
    Node,
    Plain,
    Record,
    Slow,
    code_system,
    dumps,
    entries,
    fhir_to_record,
    ident_value,
    loads_json,
    ns,
    parse_message,
    record_to_fhir,
    sub,
    to_xml_bytes,
)


@dataclass(frozen=True)
class Group:
    """A container of repeated records, e.g. ``GeleverdeZorgzwaartepakketten`` of ``GeleverdZorgzwaartepakket``."""

    container: str
    record: Record


@dataclass(frozen=True)
class Shape:
    """The shape of one iWlz message as far as a mapping version carries it."""

    msg: str
    full_client: bool  # IO31/AW33: VolledigeNaam, address, Indicatie
    groups: Sequence[Group]  # under Indicatie (full client) or under Client
    extra_bools: tuple[str, ...] = ()  # client JaNee flags such as Partneropname
    meerzorg: bool = False
    status: Callable[[JsonObj], str] = field(default=lambda res: "active")


def _refers(ref: JsonObj | None, url: str) -> bool:
    r = (ref or {}).get("reference", "")
    return bool(r) and (r == url or url.endswith("/" + r))


class XmlToFhir:
    """iWlz XML -> FHIR R4 message Bundle (JSON)."""

    def __init__(self, spec: MappingSpec, shape: Shape) -> None:
        self.spec, self.shape = spec, shape

    def translate(self, payload: bytes) -> bytes:
        sh = self.shape
        root = Node(parse_message(payload, sh.msg), sh.msg)
        ctx, mh = parts.header_to_fhir(sh.msg, root)
        focus: list[JsonObj] = []
        clienten = root.req("Clienten")
        for i, c in enumerate(clienten.all("Client"), start=1):
            patient = parts.client_to_patient(c, sh.full_client, sh.extra_bools)
            p_url = ctx.add(f"client/{i}", patient)
            if sh.full_client:
                ind = c.req("Indicatie")
                sr = parts.indicatie_to_sr(ind, p_url, sh.meerzorg)
                besluit = ctx.add(f"client/{i}/indicatie", sr)
                focus.append({"reference": besluit})
                self._groups(ctx, ind, p_url, f"client/{i}", besluit, focus)
                ind.done()
            else:
                self._groups(ctx, c, p_url, f"client/{i}", None, focus)
            c.done()
        clienten.done()
        root.done()
        mh["focus"] = focus
        ident = ctx.seed.split("/", 2)
        return dumps(parts.bundle(ctx, ident[1], ident[2]))

    def _groups(self, ctx: parts.Ctx, parent: Node, p_url: str, where: str, besluit: str | None,
                focus: list[JsonObj]) -> None:  # fmt: skip
        for g in self.shape.groups:
            box = parent.opt(g.container)
            if box is None:
                continue
            for n, rec_node in enumerate(box.all(g.record.element), start=1):
                res: JsonObj = {"resourceType": g.record.resource}
                if g.record.resource == "ServiceRequest":
                    res.update(status="active", intent="order", basedOn=[{"reference": besluit}])
                    res["subject"] = {"reference": p_url}
                else:
                    res.update(status="", patient={"reference": p_url})
                    if besluit:
                        res["referralRequest"] = [{"reference": besluit}]
                record_to_fhir(g.record, rec_node, res)
                if g.record.resource == "EpisodeOfCare":
                    res["status"] = self.shape.status(res)
                url = ctx.add(f"{where}/{g.record.element}/{n}", res)
                if not besluit:
                    focus.append({"reference": url})
            box.done()


class FhirToXml:
    """FHIR R4 message Bundle (JSON) -> iWlz XML."""

    def __init__(self, spec: MappingSpec, shape: Shape) -> None:
        self.spec, self.shape = spec, shape

    def translate(self, payload: bytes) -> bytes:
        return self.write(loads_json(payload))

    def write(self, b: JsonObj) -> bytes:
        """The message for a parsed Bundle, as bytes: ``translate`` without the JSON parse.

        Written without lxml where ``Plain`` can (most messages): the same steps over stand-in elements,
        a third of the cost; built with lxml (``build``) where it cannot.
        """
        msg_ns = ns(self.shape.msg)
        plain = Plain.root("Bericht")
        try:
            self._fill(b, cast(etree._Element, plain))
            return plain.write(msg_ns)
        except Slow:
            return to_xml_bytes(self.build(b))

    def build(self, b: JsonObj) -> etree._Element:
        """The message for a parsed Bundle, as an lxml tree."""
        return self._fill(b, parts.new_root(self.shape.msg))

    def _fill(self, b: JsonObj, root: etree._Element) -> etree._Element:
        sh = self.shape
        parts.header_to_xml(sh.msg, b, root)
        clienten = sub(root, "Clienten")
        patients = list(entries(b, "Patient"))
        if not patients:
            raise SchemaViolation("the Bundle holds no Patient (Clienten needs one Client)", rule="FHIR:Patient")
        for n, (p_url, patient) in enumerate(patients, start=1):
            where = f"Patient[{n}]"
            client = sub(clienten, "Client")
            parts.patient_to_client(patient, client, sh.full_client, sh.extra_bools)
            if sh.full_client:
                parts.patient_contacts(patient, client)
                sr = next((r for _, r in entries(b, "ServiceRequest")
                           if _refers(r.get("subject"), p_url) and ident_value(r, BESLUIT)), None)  # fmt: skip
                if sr is None:
                    raise SchemaViolation(f"{where}: no indicatiebesluit ServiceRequest", rule="FHIR:ServiceRequest")
                ind = sub(client, "Indicatie")
                parts.sr_to_indicatie(sr, ind, sh.meerzorg)
                sr_url = next(u for u, r in entries(b, "ServiceRequest") if r is sr)
                self._groups(b, ind, p_url, sr_url, where)
            else:
                self._groups(b, client, p_url, None, where)
        return root

    def _groups(self, b: JsonObj, parent: etree._Element, p_url: str, sr_url: str | None, where: str) -> None:
        for g in self.shape.groups:
            rec = g.record
            system = code_system(rec.type_field.xml)
            found = []
            for _, res in entries(b, rec.resource):
                if rec.resource == "ServiceRequest":
                    if not (sr_url and any(_refers(x, sr_url) for x in res.get("basedOn", []))):
                        continue
                    coding = res.get("code", {}).get("coding", [])
                elif _refers(res.get("patient"), p_url):
                    coding = (res.get("type") or [{}])[0].get("coding", [])
                else:
                    continue
                if any(c.get("system") == system for c in coding):
                    found.append(res)
            if found:
                box = sub(parent, g.container)
                for i, res in enumerate(found, start=1):
                    fhir_to_record(rec, res, box, f"{where}/{rec.resource}[{i}]")
