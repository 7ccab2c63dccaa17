"""AW39 (mutatie: care changed or ended, provider -> zorgkantoor) <-> FHIR R4, version 1 (frozen).

Header, client and the conventions are those of AW35 v1 (see ``mappings/iwlz_aw35/v1.py``):

=====================================  ==============================================================
iWlz AW39                              FHIR R4
=====================================  ==============================================================
MutatieZorgzwaartepakket               EpisodeOfCare, status finished
  Besluitnummer                          referralRequest.identifier (besluitnummer)
  ZzpCode                                type (COD163)
  Begindatum                             period.start
  Mutatiedatum                           period.end (the delivery ends or changes on that day)
  Instelling                             managingOrganization.identifier (agb-z)
  Mutatiecode, Leveringsstatus, ...      hub extensions .../iwlz-<element>
MutatieFunctie                         EpisodeOfCare as above; FunctieCode in type
Aanvragen                              not carried in v1 (refused as ``Unmapped``)
=====================================  ==============================================================
"""

from __future__ import annotations

from mappings.toolkit import FhirToXml, Field, Group, MappingSpec, Record, Shape, XmlToFhir

FUNCTIE = Record(
    "MutatieFunctie",
    "EpisodeOfCare",
    (
        Field("Besluitnummer", "int", "besluit"),
        Field("FunctieCode", "code", "type"),
        Field("ToewijzingIngangsdatum", "date"),
        Field("Begindatum", "date", "start", required=False),
        Field("Instelling", "agb", "org"),
        Field("Mutatiecode"),
        Field("Mutatiedatum", "date", "end"),
        Field("InstellingBestemming", "agb", required=False),
        Field("StatusAanlevering"),
    ),
)
ZZP = Record(
    "MutatieZorgzwaartepakket",
    "EpisodeOfCare",
    (
        Field("Besluitnummer", "int", "besluit"),
        Field("ZzpCode", "code", "type"),
        Field("ToewijzingIngangsdatum", "date"),
        Field("Begindatum", "date", "start", required=False),
        Field("Instelling", "agb", "org"),
        Field("Mutatiecode"),
        Field("Mutatiedatum", "date", "end"),
        Field("Leveringsstatus"),
        Field("LeveringsstatusClassificatie", required=False),
        Field("Leveringsvorm"),
        Field("InstellingBestemming", "agb", required=False),
        Field("StatusAanlevering"),
    ),
)
SHAPE = Shape(
    msg="AW39",
    full_client=False,
    groups=(Group("MutatieFuncties", FUNCTIE), Group("MutatieZorgzwaartepakketten", ZZP)),
    status=lambda res: "finished",
)
XSD = "xsd:iwlz-2.2/xsd/AW39.xsd"
XML, JSON, BUNDLE = "iwlz-2.2-xml:AW39", "fhir-r4-json", "fhir:R4/Bundle"
TO_FHIR = XmlToFhir(MappingSpec("iwlz-aw39-to-fhir", "1", XML, JSON, XSD, BUNDLE), SHAPE)
FROM_FHIR = FhirToXml(MappingSpec("fhir-to-iwlz-aw39", "1", JSON, XML, BUNDLE, XSD), SHAPE)
