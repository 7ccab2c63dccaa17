"""AW33 (zorgtoewijzing, zorgkantoor -> provider) <-> FHIR R4, version 1 (released: frozen).

The client and indicatiebesluit map as in IO31 v1 (``mappings/iwlz_io31/v1.py``);
Afzender is the zorgkantoor (uzovi), Ontvanger the provider (agb-z).

=====================================  ==============================================================
iWlz AW33                              FHIR R4
=====================================  ==============================================================
Client/Partneropname                   Patient.extension iwlz-partneropname (boolean)
GeindiceerdZorgzwaartepakket           ServiceRequest basedOn the indicatiebesluit (code COD163)
ToegewezenZorgzwaartepakket            EpisodeOfCare, status planned, referralRequest -> indicatiebesluit
  ZzpCode                                type (COD163)
  Instelling                             managingOrganization.identifier (agb-z)
  Ingangsdatum/Einddatum                 period.start/end
  Zorgkantoor                            extension iwlz-zorgkantoor (valueIdentifier, uzovi)
  Toewijzingsdatum/-tijd                 extensions iwlz-toewijzingsdatum (date), -toewijzingstijd (time)
  other elements                         hub extensions .../iwlz-<element>
=====================================  ==============================================================

Not carried (refused): as IO31 v1, plus ToegewezenFuncties.
"""

from __future__ import annotations

from mappings.toolkit import FhirToXml, Field, Group, JsonObj, MappingSpec, Record, Shape, XmlToFhir

GEINDICEERD = Record(
    "GeindiceerdZorgzwaartepakket",
    "ServiceRequest",
    (
        Field("ZzpCode", "code", "type"),
        Field("Ingangsdatum", "date", "start"),
        Field("Einddatum", "date", "end", required=False),
        Field("Klasse"),
        Field("VoorkeurClient", required=False),
        Field("Financiering"),
    ),
)
TOEGEWEZEN = Record(
    "ToegewezenZorgzwaartepakket",
    "EpisodeOfCare",
    (
        Field("ZzpCode", "code", "type"),
        Field("Instelling", "agb", "org", required=False),
        Field("Zorgkantoor", "uzovi"),
        Field("Soort"),
        Field("Toewijzingsdatum", "date"),
        Field("Toewijzingstijd", "time"),
        Field("ToewijzingPercentage", "int", required=False),
        Field("Ingangsdatum", "date", "start"),
        Field("Einddatum", "date", "end", required=False),
        Field("RedenIntrekking", required=False),
        Field("Etmalen", required=False),
        Field("Klasse", required=False),
        Field("InstellingBestemming", "agb", required=False),
        Field("Leveringsvorm"),
        Field("Dossierhouder", "agb", required=False),
        Field("CoordinatorZorgThuis", "agb", required=False),
        Field("Opname", "bool", required=False),
    ),
)


def status(res: JsonObj) -> str:
    return "planned"


GROUPS = (
    Group("GeindiceerdeZorgzwaartepakketten", GEINDICEERD),
    Group("ToegewezenZorgzwaartepakketten", TOEGEWEZEN),
)
SHAPE = Shape(msg="AW33", full_client=True, groups=GROUPS, extra_bools=("Partneropname",), status=status)
XSD = "xsd:iwlz-2.2/xsd/AW33.xsd"
XML, JSON, BUNDLE = "iwlz-2.2-xml:AW33", "fhir-r4-json", "fhir:R4/Bundle"
TO_FHIR = XmlToFhir(MappingSpec("iwlz-aw33-to-fhir", "1", XML, JSON, XSD, BUNDLE), SHAPE)
FROM_FHIR = FhirToXml(MappingSpec("fhir-to-iwlz-aw33", "1", JSON, XML, BUNDLE, XSD), SHAPE)
