"""FHIR R4 representations of the register records, validated with fhir.resources (R4B models).

| record | resource |
|---|---|
| Clientgegevens | Patient (preferences as extensions) |
| WlzIndicatie | CoverageEligibilityResponse (the entitlement decision, zzp codes as items) |
| Bemiddeling | EpisodeOfCare (the zorgkantoor's responsibility) |
| Bemiddelingspecificatie | ServiceRequest (the zorgtoewijzing to a provider) |
| Regiehouder | CareTeam |
| Overdracht | Task (transfer to another zorgkantoor) |
| Zorglevering | Encounter |

Identifier systems are the Dutch ones from DOMAIN.md (BSN, AGB); iWlz code
lists (COD163 zzp, COD578 leveringsvorm, ...) travel under hub-local URNs
``urn:zorghub:iwlz:CODnnn`` until an official FHIR code system exists.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from hub.flows.network.registers import Record

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
ZORGKANTOOR = "urn:zorghub:iwlz:COD001"
PSEUDONYM = "urn:zorghub:client-pseudonym"


def _code(codelist: str, value: Any) -> dict[str, Any]:
    return {"coding": [{"system": f"urn:zorghub:iwlz:{codelist}", "code": str(value)}]}


def _period(start: Any, end: Any = None) -> dict[str, Any]:
    return {k: v for k, v in (("start", start), ("end", end)) if v}


def _org(system: str, value: Any) -> dict[str, Any]:
    return {"type": "Organization", "identifier": {"system": system, "value": str(value)}}


def _patient(rec: Record) -> dict[str, Any]:
    bsn = rec.data.get("bsn")
    if bsn:
        return {"type": "Patient", "identifier": {"system": BSN, "value": str(bsn)}}
    return {"type": "Patient", "identifier": {"system": PSEUDONYM, "value": rec.client}}


def _ref(resource: str, rid: Any) -> dict[str, Any]:
    return {"reference": f"{resource}/{rid}"}


def _status(rec: Record, active: str, ended: str) -> str:
    return active if rec.active else ended


def _clientgegevens(rec: Record) -> dict[str, Any]:
    d = rec.data
    res: dict[str, Any] = {"resourceType": "Patient", "id": rec.record_id, "active": rec.active,
                           "identifier": [{"system": BSN, "value": d["bsn"]}]}
    if d.get("taal"):
        res["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": d["taal"]}]},
                                 "preferred": True}]
    ext = [{"url": "urn:zorghub:network:voorkeur", "valueString": f"{v['soort']}: {v['waarde']}"}
           for v in d.get("voorkeuren") or []]
    if d.get("levensloop"):
        ext.append({"url": "urn:zorghub:network:levensloop", "valueString": d["levensloop"]})
    if ext:
        res["extension"] = ext
    return res


def _indicatie(rec: Record) -> dict[str, Any]:
    d = rec.data
    items = [{"category": _code("COD163", z["zzpCode"]),
              "description": f"zzp {z['zzpCode']} vanaf {z['ingangsdatum']}"}
             for z in d.get("geindiceerdZorgzwaartepakket") or []]
    return {
        "resourceType": "CoverageEligibilityResponse", "id": rec.record_id,
        "identifier": [{"system": "urn:zorghub:iwlz:besluitnummer", "value": str(d["besluitnummer"])}],
        "status": _status(rec, "active", "cancelled"), "purpose": ["validation"],
        "patient": _patient(rec), "created": d["afgiftedatum"],
        "servicedPeriod": _period(d["ingangsdatum"], d.get("einddatum")),
        "request": {"display": f"Wlz-aanvraag, soort {d['soortWlzindicatie']}"},
        "outcome": "complete", "disposition": "Wlz-indicatiebesluit",
        "insurer": _org(ZORGKANTOOR, d.get("initieelVerantwoordelijkZorgkantoor", "")),
        "insurance": [{"coverage": {"display": "Wet langdurige zorg"}, "inforce": rec.active, "item": items}],
    }


def _bemiddeling(rec: Record) -> dict[str, Any]:
    d = rec.data
    return {"resourceType": "EpisodeOfCare", "id": rec.record_id, "status": _status(rec, "active", "cancelled"),
            "patient": _patient(rec), "managingOrganization": _org(ZORGKANTOOR, d["verantwoordelijkZorgkantoor"]),
            "period": _period(d["verantwoordelijkheidIngangsdatum"], d.get("verantwoordelijkheidEinddatum")),
            "identifier": [{"system": "urn:zorghub:iwlz:wlzIndicatieID", "value": d["wlzIndicatieID"]}]}


def _specificatie(rec: Record) -> dict[str, Any]:
    d = rec.data
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": rec.record_id, "status": _status(rec, "active", "revoked"),
        "intent": "order", "subject": _patient(rec), "code": _code("COD163", d["zzpCode"]),
        "category": [_code("COD578", d["leveringsvorm"]), _code("COD165", d["soortToewijzing"])],
        "occurrencePeriod": _period(d["toewijzingIngangsdatum"], d.get("toewijzingEinddatum")),
        "authoredOn": d["vaststellingMoment"], "requester": _org(ZORGKANTOOR, d["uitvoerendZorgkantoor"]),
    }
    if d.get("instelling"):
        res["performer"] = [_org(AGB, d["instelling"])]
    return res


def _regiehouder(rec: Record) -> dict[str, Any]:
    d = rec.data
    return {"resourceType": "CareTeam", "id": rec.record_id, "status": _status(rec, "active", "inactive"),
            "subject": _patient(rec), "period": _period(d["ingangsdatum"], d.get("einddatum")),
            "participant": [{"role": [_code("regierol", d["regierol"])], "member": _org(AGB, d["instelling"])}]}


def _overdracht(rec: Record) -> dict[str, Any]:
    d = rec.data
    return {"resourceType": "Task", "id": rec.record_id, "status": _status(rec, "requested", "cancelled"),
            "intent": "order", "code": {"text": "overdracht naar een ander zorgkantoor"},
            "for": _patient(rec), "focus": _ref("EpisodeOfCare", d["bemiddelingID"]),
            "authoredOn": d["vaststellingMoment"], "owner": _org(ZORGKANTOOR, d["verantwoordelijkZorgkantoor"]),
            "executionPeriod": _period(d["overdrachtDatum"]),
            "input": [{"type": {"text": "verhuisdatum"}, "valueDate": d["verhuisDatum"]}]}


def _zorglevering(rec: Record) -> dict[str, Any]:
    d = rec.data
    ended = bool(d.get("einddatum")) or not rec.active
    return {"resourceType": "Encounter", "id": rec.record_id, "status": "finished" if ended else "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NONAC",
                      "display": "inpatient non-acute"},
            "type": [_code("COD163", d["zzpCode"]), _code("COD578", d["leveringsvorm"])],
            "subject": _patient(rec), "serviceProvider": _org(AGB, d["instelling"]),
            "basedOn": [_ref("ServiceRequest", d["bemiddelingspecificatieID"])],
            "period": _period(d["begindatum"], d.get("einddatum"))}


_MAPPERS = {
    "Clientgegevens": _clientgegevens, "WlzIndicatie": _indicatie, "Bemiddeling": _bemiddeling,
    "Bemiddelingspecificatie": _specificatie, "Regiehouder": _regiehouder, "Overdracht": _overdracht,
    "Zorglevering": _zorglevering,
}


#: the FHIR resource type each register subject is shown as
RESOURCE_TYPES = {
    "Clientgegevens": "Patient", "WlzIndicatie": "CoverageEligibilityResponse", "Bemiddeling": "EpisodeOfCare",
    "Bemiddelingspecificatie": "ServiceRequest", "Regiehouder": "CareTeam", "Overdracht": "Task",
    "Zorglevering": "Encounter",
}
SUBJECTS_BY_TYPE = {v: k for k, v in RESOURCE_TYPES.items()}


def to_fhir(rec: Record) -> dict[str, Any]:
    """The record as a validated FHIR R4 resource (JSON-ready dict)."""
    resource = {k: v for k, v in _MAPPERS[rec.subject](rec).items() if v != []}
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return dict(model.model_dump(mode="json", exclude_none=True, by_alias=True))
