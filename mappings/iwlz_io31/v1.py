"""IO31 (indicatiebesluit, CIZ -> zorgkantoor) <-> FHIR R4, version 1 (released: frozen).

Header and name conventions as in ``mappings/iwlz_aw35/v1.py``. IO31 has no Afzender:
the sender is CIZ, written as MessageHeader.source.endpoint ``urn:iwlz:ciz``.

=====================================  ==============================================================
iWlz IO31                              FHIR R4
=====================================  ==============================================================
Client/Bsn, Geboortedatum, Geslacht    Patient.identifier (bsn), birthDate, gender
Client/Naam (VolledigeNaam)            Patient.name; NaamGebruik -> extension iwlz-naamgebruik and
                                       humanname-assembly-order NL1..NL4
Client/GeheimeClient, Leefeenheid      Patient.extension iwlz-geheimeclient (boolean), iwlz-leefeenheid
Client/Huisarts                        Patient.generalPractitioner.identifier (agb-z)
Contactgegevens/Contact                Patient.address (+ iwlz-adressoort; ADXP street/house number
                                       extensions on line; postalCode, city, country)
Indicatie                              ServiceRequest "indicatiebesluit", status active, intent order
  Besluitnummer                          identifier (urn:istandaarden:iwlz:besluitnummer)
  Soort                                  category (COD169)
  Grondslagen                            reasonCode (one per Grondslag, in order)
  Afgiftedatum                           authoredOn
  Ingangsdatum/Einddatum                 occurrencePeriod.start/end
  Meerzorg                               extension iwlz-meerzorg (boolean)
GeindiceerdZorgzwaartepakket           ServiceRequest basedOn the indicatiebesluit
  ZzpCode                                code (COD163)
  Ingangsdatum/Einddatum                 occurrencePeriod
  InstellingVoorkeur                     performer.identifier (agb-z)
  Klasse, VoorkeurClient, Financiering   hub extensions
=====================================  ==============================================================

Relaties, Stoornissen, Beperkingen, functies, scores, Commentaar, Communicatie, Wzd,
BurgerlijkeStaat and telephone/e-mail are not carried in v1 and are refused (``Unmapped``).
"""

from __future__ import annotations

from mappings.toolkit import FhirToXml, Field, Group, MappingSpec, Record, Shape, XmlToFhir

ZZP = Record(
    "GeindiceerdZorgzwaartepakket",
    "ServiceRequest",
    (
        Field("ZzpCode", "code", "type"),
        Field("Ingangsdatum", "date", "start"),
        Field("Einddatum", "date", "end", required=False),
        Field("Klasse"),
        Field("VoorkeurClient", required=False),
        Field("InstellingVoorkeur", "agb", "org", required=False),
        Field("Financiering"),
    ),
)
SHAPE = Shape(msg="IO31", full_client=True, groups=(Group("GeindiceerdeZorgzwaartepakketten", ZZP),), meerzorg=True)
XSD = "xsd:iwlz-2.2/xsd/IO31.xsd"
XML, JSON, BUNDLE = "iwlz-2.2-xml:IO31", "fhir-r4-json", "fhir:R4/Bundle"
TO_FHIR = XmlToFhir(MappingSpec("iwlz-io31-to-fhir", "1", XML, JSON, XSD, BUNDLE), SHAPE)
FROM_FHIR = FhirToXml(MappingSpec("fhir-to-iwlz-io31", "1", JSON, XML, BUNDLE, XSD), SHAPE)
