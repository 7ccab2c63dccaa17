"""The records of seed 000: Mr Geelhoed (Utrecht) and, beside him, Mrs Jansen (Amsterdam).

Shaped after the real contracts (Indicatieregister.graphql,
Bemiddelingregister.graphql). Ids are fixed so that the walk-through, the
tests and the documentation name the same records.
"""

from __future__ import annotations

from typing import Any

GEELHOED_BSN = "999990019"
JANSEN_BSN = "999991772"
BOS_EN_DUIN_AGB = "73730800"
ZONNEHOF_AGB = "73731001"

IDS = {
    "clientgegevens": "0c000000-0000-4000-8000-000000000001",
    "indicatie": "1a000000-0000-4000-8000-000000000001",
    "indicatie_jansen": "1a000000-0000-4000-8000-000000000002",
    "bemiddeling": "2b000000-0000-4000-8000-000000000001",
    "specificatie": "3c000000-0000-4000-8000-000000000001",
    "regiehouder": "4d000000-0000-4000-8000-000000000001",
    "zorglevering": "5e000000-0000-4000-8000-000000000001",
}


def _uuid(prefix: str, n: int) -> str:
    return f"{prefix}000000-0000-4000-8000-{n:012d}"


def clientgegevens(bsn: str = GEELHOED_BSN, record_id: str = IDS["clientgegevens"]) -> dict[str, Any]:
    return {
        "clientgegevensID": record_id,
        "bsn": bsn,
        "voorkeuren": [{"soort": "zorgaanbieder", "waarde": "Bos & Duin", "instelling": BOS_EN_DUIN_AGB},
                       {"soort": "wonen", "waarde": "dicht bij zijn dochter in Utrecht"}],
        "levensloop": "Oud-spoorwegman, weduwnaar sinds 2019; houdt van tuinieren.",
        "communicatievorm": "1",
        "taal": "nl",
    }


def indicatie(bsn: str = GEELHOED_BSN, record_id: str = IDS["indicatie"], *, postcode: str = "3511AB",
              geslachtsnaam: str = "Geelhoed", besluitnummer: int = 202600123, zzp: str = "5VV",
              voorkeur: str | None = BOS_EN_DUIN_AGB, n: int = 1) -> dict[str, Any]:
    """A WlzIndicatie; initieelVerantwoordelijkZorgkantoor is left to the hub's region table."""
    return {
        "wlzindicatieID": record_id,
        "bsn": bsn,
        "besluitnummer": besluitnummer,
        "soortWlzindicatie": "1",
        "afgiftedatum": "2026-10-15",
        "ingangsdatum": "2026-11-01",
        "einddatum": None,
        "meerzorg": "2",
        "grondslag": [{"grondslagID": _uuid("6a", n), "grondslag": "1", "volgorde": 1}],
        "geindiceerdZorgzwaartepakket": [{
            "geindiceerdZorgzwaartepakketID": _uuid("6b", n), "zzpCode": zzp, "ingangsdatum": "2026-11-01",
            "einddatum": None, "voorkeurClient": "1", "instellingVoorkeur": voorkeur, "financiering": "1"}],
        "stoornis": [{"stoornisID": _uuid("6c", n), "grondslag": "1", "diagnoseCodelijst": "1",
                      "ziektebeeldStoornis": "0540"}],
        "client": {
            "clientID": _uuid("6d", n), "bsn": bsn, "geheimeClient": "2", "geboorteDatum": "1941-03-12",
            "geslacht": "1", "geslachtsnaam": geslachtsnaam, "naamGebruik": "1", "taal": "nl",
            "contactGegevens": [{"contactGegevensID": _uuid("6e", n), "adres": {
                "adresID": _uuid("6f", n), "adresSoort": "01", "straatnaam": "Oudegracht", "huisnummer": 12,
                "postcode": postcode, "plaatsnaam": "Utrecht", "ingangsdatum": "2001-05-01"}}],
        },
        "commentaar": "Somatische achteruitgang; 24-uurs zorg in de nabijheid nodig.",
    }


def indicatie_jansen() -> dict[str, Any]:
    return indicatie(JANSEN_BSN, IDS["indicatie_jansen"], postcode="1012AB", geslachtsnaam="Jansen",
                     besluitnummer=202600456, zzp="6VV", voorkeur=None, n=2)


def bemiddeling(zorgkantoor: str = "5509") -> dict[str, Any]:
    return {"bemiddelingID": IDS["bemiddeling"], "wlzIndicatieID": IDS["indicatie"],
            "verantwoordelijkZorgkantoor": zorgkantoor, "verantwoordelijkheidIngangsdatum": "2026-11-01",
            "verantwoordelijkheidEinddatum": None}


def specificatie(instelling: str = BOS_EN_DUIN_AGB, zzp: str = "5VV") -> dict[str, Any]:
    return {"bemiddelingspecificatieID": IDS["specificatie"], "bemiddelingID": IDS["bemiddeling"],
            "leveringsvorm": "1", "zzpCode": zzp, "toewijzingIngangsdatum": "2026-11-15",
            "toewijzingEinddatum": None, "instelling": instelling, "uitvoerendZorgkantoor": "5509",
            "vaststellingMoment": "2026-11-02T10:00:00+01:00", "percentage": 100, "opname": "1",
            "soortToewijzing": "1"}


def regiehouder() -> dict[str, Any]:
    return {"regiehouderID": IDS["regiehouder"], "bemiddelingID": IDS["bemiddeling"],
            "instelling": BOS_EN_DUIN_AGB, "ingangsdatum": "2026-11-15", "einddatum": None, "regierol": "1"}


def zorglevering(status: str = "1") -> dict[str, Any]:
    return {"zorgleveringID": IDS["zorglevering"], "bemiddelingspecificatieID": IDS["specificatie"],
            "instelling": BOS_EN_DUIN_AGB, "zzpCode": "5VV", "leveringsvorm": "1", "begindatum": "2026-11-15",
            "einddatum": None, "leveringsstatus": status}


def melding(subject: str, data: dict[str, Any], actie: str = "nieuw") -> dict[str, Any]:
    return {"subject": subject, "actie": actie, "record": data}
