"""AW35 (melding aanvang zorg, provider -> zorgkantoor) <-> FHIR R4, version 1 (released: frozen).

The message becomes a FHIR ``Bundle`` of type ``message``:

=====================================  ==============================================================
iWlz AW35                              FHIR R4
=====================================  ==============================================================
Header/BerichtIdentificatie            Bundle.identifier (value; period.start = Dagtekening)
Header/BerichtCode 354                 MessageHeader.eventCoding = urn:istandaarden:iwlz:bericht#AW35
Header/Afzender (AGB)                  MessageHeader.sender -> Organization.identifier (agb-z)
Header/Ontvanger (zorgkantoor)         MessageHeader.destination.receiver -> Organization (uzovi)
Client/Bsn                             Patient.identifier (http://fhir.nl/fhir/NamingSystem/bsn)
Client/Geboortedatum/Datum             Patient.birthDate (+ DatumGebruik: extension on _birthDate)
Client/Geslacht 0/1/2                  Patient.gender unknown/male/female
Client/Naam                            Patient.name (own-name/own-prefix extensions, initials "IN")
GeleverdZorgzwaartepakket              EpisodeOfCare, status active
  Besluitnummer                          referralRequest.identifier (urn:istandaarden:iwlz:besluitnummer)
  ZzpCode                                type (urn:istandaarden:codelijst:COD163)
  Begindatum                             period.start
  Instelling                             managingOrganization.identifier (agb-z)
  other elements                         hub extensions .../iwlz-<element>
GeleverdeFunctie                       EpisodeOfCare as above; FunctieCode in type
=====================================  ==============================================================

XsdVersie is regenerated (1.0.0); elements not listed are refused (``Unmapped``).
"""

from __future__ import annotations

from mappings.toolkit import FhirToXml, Field, Group, MappingSpec, Record, Shape, XmlToFhir

FUNCTIE = Record(
    "GeleverdeFunctie",
    "EpisodeOfCare",
    (
        Field("Besluitnummer", "int", "besluit"),
        Field("FunctieCode", "code", "type"),
        Field("ToewijzingIngangsdatum", "date"),
        Field("Begindatum", "date", "start"),
        Field("Instelling", "agb", "org"),
        Field("Klasse"),
        Field("Opslag", "int", required=False),
        Field("StatusAanlevering"),
    ),
)
ZZP = Record(
    "GeleverdZorgzwaartepakket",
    "EpisodeOfCare",
    (
        Field("Besluitnummer", "int", "besluit"),
        Field("ZzpCode", "code", "type"),
        Field("ToewijzingIngangsdatum", "date"),
        Field("Begindatum", "date", "start"),
        Field("Sleuteldatum", "date", required=False),
        Field("Instelling", "agb", "org"),
        Field("Etmalen", required=False),
        Field("Klasse", required=False),
        Field("Leveringsstatus"),
        Field("Leveringsvorm"),
        Field("Behandeling", "bool", required=False),
        Field("StatusAanlevering"),
    ),
)
SHAPE = Shape(
    msg="AW35",
    full_client=False,
    groups=(Group("GeleverdeFuncties", FUNCTIE), Group("GeleverdeZorgzwaartepakketten", ZZP)),
)
XSD = "xsd:iwlz-2.2/xsd/AW35.xsd"
XML, JSON, BUNDLE = "iwlz-2.2-xml:AW35", "fhir-r4-json", "fhir:R4/Bundle"
TO_FHIR = XmlToFhir(MappingSpec("iwlz-aw35-to-fhir", "1", XML, JSON, XSD, BUNDLE), SHAPE)
FROM_FHIR = FhirToXml(MappingSpec("fhir-to-iwlz-aw35", "1", JSON, XML, BUNDLE, XSD), SHAPE)
