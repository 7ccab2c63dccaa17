"""Helpers for the mapping tests: where the real standards are, and hypothesis strategies
that build varied, valid iWlz 2.2 messages (IO31, AW33, AW35, AW39)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from lxml import etree

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "standards"
REPO = Path(__file__).resolve().parents[1]
BASE = "http://www.istandaarden.nl/iwlz/2_2/basisschema/schema"


def need_standards() -> Path:
    """The standards folder, or skip (fail on CI: there the standards must be present)."""
    if not (SCHEMA_DIR / "iwlz-2.2" / "xsd").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"standards folder missing: {SCHEMA_DIR}")
        pytest.skip("the shared standards folder (../shared/standards) is not present")
    return SCHEMA_DIR


def install_package(fixture: Path, site: Path) -> list[str]:
    """Install a fixture package's entry points the way pip would: a dist-info in ``site``, the code on the path.

    Returns the folders to put on ``sys.path`` (or ``PYTHONPATH``): nothing under ``hub/`` changes.
    """
    project = tomllib.loads((fixture / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()))
    return [str(site), str(fixture)]


def zorghub(args: list[str], path: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``zorghub ARGS`` in a fresh process with nothing deployed: broker and store point at closed ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")}
    env.update(PYTHONPATH=os.pathsep.join(path), ZORGHUB_BROKER_URL="amqp://guest:guest@127.0.0.1:1/",
               ZORGHUB_STORE_URL="postgresql://127.0.0.1:1/nothing", ZORGHUB_HOME=str(cwd / "home"))
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# --- a tiny XML DSL: ("Name", child, child...) or ("Name", "text"); "@Name" = basisschema ns ---

Tree = tuple[Any, ...]


def build(msg: str, tree: Tree) -> bytes:
    nsuri = f"http://www.istandaarden.nl/iwlz/2_2/{msg.lower()}/schema"
    root = etree.Element(f"{{{nsuri}}}Bericht", nsmap={None: nsuri, "iwlz": BASE})  # type: ignore[dict-item]
    for child in tree:
        _add(root, child, nsuri)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _add(parent: etree._Element, node: Tree | None, nsuri: str) -> None:
    if node is None:
        return
    name, *rest = node
    el = etree.SubElement(parent, f"{{{BASE if name.startswith('@') else nsuri}}}{name.lstrip('@')}")
    for r in rest:
        if isinstance(r, str):
            el.text = r
        elif isinstance(r, list):
            for c in r:
                _add(el, c, nsuri)
        else:
            _add(el, r, nsuri)


# --- strategies -------------------------------------------------------------------

ZK = [str(c) for c in range(5501, 5522)] + [str(c) for c in range(5523, 5534)]
ZZP = ["750", "751", "752", "753", "754", "755", "756", "757", "758", "759", "760", "800", "802", "804", "806",
       "820", "822", "824", "840", "842", "844", "860", "862", "880", "882"]  # fmt: skip
FUNCTIES = ["21", "31", "41", "61", "62", "63", "64", "71", "81", "82", "91"]
NAMES = ["Geelhoed", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Dijkstra", "Ruiz"]
FIRST = ["Inge", "Jan", "Pieter", "Anna", "Sanne", "Kees", "Fatima", "Mohammed", "Lotte", "Willem"]
PREFIX = ["van", "de", "van der", "ter", "den"]
TOWNS = ["Utrecht", "Zwolle", "Groningen", "Den Haag", "Eindhoven"]
STREETS = ["Dorpsstraat", "Kerkweg", "Molenlaan", "Stationsplein", "Beukenlaan"]


TEST_BSNS = [
    f"{n}{c}"
    for n in range(99_999_000, 99_999_999)
    for c in [sum(int(d) * w for d, w in zip(str(n), range(9, 1, -1), strict=True)) % 11]
    if c < 10
]


def bsn() -> st.SearchStrategy[str]:
    """Only BSNs from the 9999... range reserved for testing: never a real person's number."""
    return st.sampled_from(TEST_BSNS)


def agb() -> st.SearchStrategy[str]:
    return st.integers(1_000_000, 99_999_999).map(lambda n: f"{n:08d}")


def ident() -> st.SearchStrategy[str]:
    return st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12)


def day(lo: dt.date, hi: dt.date) -> st.SearchStrategy[str]:
    return st.dates(lo, hi).map(dt.date.isoformat)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def header(draw: st.DrawFn, msg: str, code: str, sender: str | None, receiver: str) -> tuple[Tree, str]:
    today = draw(day(dt.date(2021, 1, 1), dt.date(2024, 12, 31)))
    parties = {"agb": agb(), "uzovi": st.sampled_from(ZK)}
    return (
        "Header",
        [
            ("BerichtCode", code),
            ("BerichtVersie", "5"),
            ("BerichtSubversie", "2"),
            ("Afzender", draw(parties[sender])) if sender else None,
            ("Ontvanger", draw(parties[receiver])),
            ("BerichtIdentificatie", ("@Identificatie", draw(ident())), ("@Dagtekening", today)),
            ("XsdVersie", ("@BasisschemaXsdVersie", "1.0.0"), ("@BerichtXsdVersie", "1.0.0")),
        ],
    ), today


@st.composite
def person(draw: st.DrawFn, full: bool, the_bsn: str) -> list[Tree | None]:
    """Bsn .. Naam of a client (the full IO31/AW33 shape or the short AW35/AW39 one)."""
    born = draw(day(dt.date(1925, 1, 1), dt.date(2015, 12, 31)))
    gebruik = draw(opt(st.sampled_from("12")))
    if gebruik == "1":
        born = born[:8] + "01"
    elif gebruik == "2":
        born = born[:5] + "01-01"
    prefix = draw(opt(st.sampled_from(PREFIX)))
    first = draw(opt(st.lists(st.sampled_from(FIRST), min_size=1, max_size=3).map(" ".join)))
    initials = draw(opt(st.text("ABCDEFGHIJKLMNPRSTW", min_size=1, max_size=3)))
    name: list[Tree | None] = [
        ("@Geslachtsnaam", ("@Achternaam", draw(st.sampled_from(NAMES))), ("@Voorvoegsel", prefix) if prefix else None),
        ("@Voornamen", first) if first else None,
        ("@Voorletters", initials) if initials else None,
    ]
    if full:
        name.append(("@NaamGebruik", "1"))  # CS050: 1 unless there is a Partnernaam
    return [
        ("Bsn", the_bsn),
        ("GeheimeClient", draw(st.sampled_from("12"))) if full else None,
        ("Geboortedatum", ("@Datum", born), ("@DatumGebruik", gebruik) if gebruik else None),
        ("Geslacht", draw(st.sampled_from("012"))),
        ("Naam", name),
    ]


@st.composite
def contact(draw: st.DrawFn, soort: str) -> Tree:
    huis = draw(st.tuples(st.integers(1, 9999), opt(st.sampled_from("ABC")), opt(st.sampled_from(["1", "bis", "II"]))))
    adres: list[Tree | None] = []
    if huis:
        nr, letter, toev = huis
        adres.append(("@Huis", [("@Huisnummer", str(nr)), ("@Huisletter", letter) if letter else None,
                                ("@HuisnummerToevoeging", toev) if toev else None]))  # fmt: skip
    adres += [
        ("@Postcode", draw(st.integers(1000, 9999).map(lambda n: f"{n}AB"))),
        ("@Straatnaam", draw(st.sampled_from(STREETS))) if huis else None,
        ("@Plaatsnaam", draw(st.sampled_from(TOWNS))),
        ("@LandCode", "NL"),
    ]
    return ("Contact", ("Soort", soort), ("Adres", adres))


@st.composite
def contacts(draw: st.DrawFn) -> list[Tree]:
    """One BRP address (TR061), sometimes a second of another kind (TR101: no duplicates)."""
    out = [draw(contact("01"))]
    if draw(st.booleans()):
        out.append(draw(contact(draw(st.sampled_from(["02", "03"])))))
    return out


def client_bsns(max_size: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(bsn(), min_size=1, max_size=max_size, unique=True)


def huisarts() -> st.SearchStrategy[str]:
    return st.integers(0, 999_999).map(lambda n: f"01{n:06d}")  # CS069: a GP's AGB starts with 01


def _plus(iso: str, days: int) -> str:
    return (dt.date.fromisoformat(iso) + dt.timedelta(days=days)).isoformat()


KE = ["KE4", "KE5", "KE6", "KE7"]  # CS074: the only Klasse values for a zzp
FUNCTIE_KLASSE = {"21": "K3", "31": "K5", "41": "K2", "61": "99", "64": "KD03", "71": "KE2", "81": "K1"}  # TR008
ETMALEN = ["3,5", "4,0", "4,5"]
LEVERINGSVORM = "4578"  # CS127/CS132: no PGB (2) or VKB (9) here


@st.composite
def indicatie(draw: st.DrawFn, today: str, msg: str) -> tuple[list[Tree | None], str, str | None]:
    """The head of an Indicatie with 1-2 consecutive indicated zzps (TR014/TR035/TR057/CD029)."""
    afgifte = _plus(today, -draw(st.integers(0, 60)))
    ingang = _plus(afgifte, draw(st.integers(0, 30)))
    length = draw(opt(st.integers(60, 2000)))
    eind = _plus(ingang, length) if length else None
    gr2 = draw(opt(st.sampled_from(["06", "07"])))
    head: list[Tree | None] = [
        ("Besluitnummer", str(draw(st.integers(1, 999_999_999)))),
        ("Soort", draw(st.sampled_from("14"))),  # CS113
        ("Grondslagen", ("@Grondslag01", draw(st.sampled_from(["01", "02", "03", "04", "05"]))),
         ("@Grondslag02", gr2) if gr2 else None),
        ("Afgiftedatum", afgifte),
        ("Ingangsdatum", ingang),
        ("Einddatum", eind) if eind else None,
        ("Meerzorg", draw(st.sampled_from("12"))) if msg == "IO31" and draw(st.booleans()) else None,
    ]  # fmt: skip
    codes = draw(st.lists(st.sampled_from(ZZP), min_size=1, max_size=2, unique=True))
    spans = [(ingang, eind)]
    if len(codes) == 2:
        mid = _plus(ingang, 30)
        spans = [(ingang, _plus(mid, -1)), (mid, eind)]
    zzps = [("GeindiceerdZorgzwaartepakket", [
        ("ZzpCode", code), ("Ingangsdatum", start), ("Einddatum", end) if end else None,
        ("Klasse", draw(st.sampled_from(KE))),
        ("VoorkeurClient", draw(st.sampled_from(["2", "3", "10"]))) if draw(st.booleans()) else None,
        ("InstellingVoorkeur", draw(agb())) if msg == "IO31" and draw(st.booleans()) else None,
        ("Financiering", draw(st.sampled_from("12"))),
    ]) for code, (start, end) in zip(codes, spans, strict=True)]  # fmt: skip
    head.append(("GeindiceerdeZorgzwaartepakketten", zzps))
    return head, ingang, eind


@st.composite
def full_client(draw: st.DrawFn, the_bsn: str, msg: str, today: str, extra: Any = None) -> Tree:
    ind, ingang, eind = draw(indicatie(today, msg))
    if extra is not None:
        ind.append(extra(ingang, eind))
    return ("Client", [
        *draw(person(True, the_bsn)),
        ("Leefeenheid", draw(st.sampled_from("159"))),  # TR004: a partner would need a Relatie
        ("Huisarts", draw(huisarts())) if draw(st.booleans()) else None,
        ("Partneropname", draw(st.sampled_from("12"))) if msg == "AW33" else None,
        ("Contactgegevens", draw(contacts())),
        ("Indicatie", ind),
    ])  # fmt: skip


@st.composite
def io31(draw: st.DrawFn) -> bytes:
    head, today = draw(header("IO31", "388", None, "uzovi"))
    clients = [draw(full_client(b, "IO31", today)) for b in draw(client_bsns())]
    return build("IO31", (head, ("Clienten", clients)))


@st.composite
def toegewezen(draw: st.DrawFn, ingang: str, eind: str | None, zk: str, instelling: str, today: str) -> Tree:
    vorm = draw(st.sampled_from(LEVERINGSVORM))
    withdrawn = draw(st.booleans())
    end = _plus(ingang, 30) if withdrawn else eind  # TR016: inside the indication
    soort = draw(st.sampled_from("135"))
    return ("ToegewezenZorgzwaartepakket", [
        ("ZzpCode", draw(st.sampled_from(ZZP))),
        ("Instelling", instelling),  # TR021: allocated to the receiver
        ("Zorgkantoor", zk),
        ("Soort", soort),
        ("Toewijzingsdatum", today),
        ("Toewijzingstijd", f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00"),
        ("ToewijzingPercentage", "100"),  # CD040
        ("Ingangsdatum", ingang),
        ("Einddatum", end) if end else None,
        ("RedenIntrekking", draw(st.sampled_from("12345"))) if withdrawn else None,
        ("Etmalen", draw(st.sampled_from(ETMALEN))) if vorm == "8" else None,  # CD072
        ("Klasse", draw(st.sampled_from(KE))) if vorm in "45" else None,  # CD051
        ("Leveringsvorm", vorm),
        ("Dossierhouder", instelling) if vorm in "458" else None,  # CD073
        ("CoordinatorZorgThuis", draw(agb())) if vorm == "7" else None,  # CD050
        ("Opname", "1" if soort == "5" else draw(st.sampled_from("12"))) if vorm in "48" else None,  # CD052, TR119
    ])  # fmt: skip


@st.composite
def aw33(draw: st.DrawFn) -> bytes:
    head, today = draw(header("AW33", "352", "uzovi", "agb"))
    zk, instelling = head[1][3][1], head[1][4][1]

    def extra(ingang: str, eind: str | None) -> Tree:
        return ("ToegewezenZorgzwaartepakketten", [draw(toegewezen(ingang, eind, zk, instelling, today))])

    clients = [draw(full_client(b, "AW33", today, extra)) for b in draw(client_bsns())]
    return build("AW33", (head, ("Clienten", clients)))


@st.composite
def aw35(draw: st.DrawFn) -> bytes:
    head, today = draw(header("AW35", "354", "agb", "uzovi"))
    instelling = head[1][3][1]
    clients = []
    for the_bsn in draw(client_bsns()):
        toew = _plus(today, -draw(st.integers(10, 200)))
        begin = _plus(toew, draw(st.integers(1, 9)))
        besluit = str(draw(st.integers(1, 999_999_999)))
        functies = []
        if draw(st.booleans()):
            code = draw(st.sampled_from(sorted(FUNCTIE_KLASSE)))
            functies = [("GeleverdeFunctie", [
                ("Besluitnummer", besluit), ("FunctieCode", code),
                ("ToewijzingIngangsdatum", toew), ("Begindatum", begin), ("Instelling", instelling),
                ("Klasse", FUNCTIE_KLASSE[code]), ("StatusAanlevering", "1")])]  # fmt: skip
        zzps = []
        if not functies or draw(st.booleans()):
            vorm = draw(st.sampled_from(LEVERINGSVORM))
            zzps = [("GeleverdZorgzwaartepakket", [
                ("Besluitnummer", besluit), ("ZzpCode", draw(st.sampled_from(ZZP))),
                ("ToewijzingIngangsdatum", toew), ("Begindatum", begin),
                ("Sleuteldatum", toew) if vorm == "4" and draw(st.booleans()) else None,  # CD004, CS088
                ("Instelling", instelling),
                ("Etmalen", draw(st.sampled_from(ETMALEN))) if vorm == "8" else None,  # CD072
                ("Klasse", draw(st.sampled_from(KE))) if vorm in "45" else None,  # CD051
                ("Leveringsstatus", "4"), ("Leveringsvorm", vorm),
                ("Behandeling", draw(st.sampled_from("12"))) if draw(st.booleans()) else None,
                ("StatusAanlevering", "1")])]  # fmt: skip
        clients.append(("Client", [
            *draw(person(False, the_bsn)),
            ("GeleverdeFuncties", functies) if functies else None,
            ("GeleverdeZorgzwaartepakketten", zzps) if zzps else None,
        ]))  # fmt: skip
    return build("AW35", (head, ("Clienten", clients)))


@st.composite
def aw39(draw: st.DrawFn) -> bytes:
    head, today = draw(header("AW39", "358", "agb", "uzovi"))
    instelling = head[1][3][1]
    clients = []
    for the_bsn in draw(client_bsns()):
        toew = _plus(today, -draw(st.integers(30, 300)))
        begin = _plus(toew, draw(st.integers(0, 9)))
        mut = _plus(begin, draw(st.integers(1, 20)))
        besluit = str(draw(st.integers(1, 999_999_999)))
        # TR046 (status fits the code), TR066 (Begindatum only for 17/19/20), CS131/CD090 (classificatie)
        code, status, klass = draw(st.sampled_from([("19", "5", None), ("20", "2", "13"), ("20", "3", "17"),
                                                    ("12", "3", "14"), ("18", "2", "19")]))  # fmt: skip
        start = begin if code in ("17", "19", "20") else None
        functies = [("MutatieFunctie", [
            ("Besluitnummer", besluit), ("FunctieCode", draw(st.sampled_from(FUNCTIES))),
            ("ToewijzingIngangsdatum", toew), ("Begindatum", start) if start else None, ("Instelling", instelling),
            ("Mutatiecode", code), ("Mutatiedatum", mut),
            ("StatusAanlevering", "1")])] if draw(st.booleans()) else []  # fmt: skip
        zzps = [("MutatieZorgzwaartepakket", [
            ("Besluitnummer", besluit), ("ZzpCode", draw(st.sampled_from(ZZP))),
            ("ToewijzingIngangsdatum", toew), ("Begindatum", start) if start else None, ("Instelling", instelling),
            ("Mutatiecode", code), ("Mutatiedatum", mut),
            ("Leveringsstatus", status), ("LeveringsstatusClassificatie", klass) if klass else None,
            ("Leveringsvorm", draw(st.sampled_from(LEVERINGSVORM))),
            ("StatusAanlevering", "1")])] if not functies or draw(st.booleans()) else []  # fmt: skip
        clients.append(("Client", [
            *draw(person(False, the_bsn)),
            ("MutatieFuncties", functies) if functies else None,
            ("MutatieZorgzwaartepakketten", zzps) if zzps else None,
        ]))  # fmt: skip
    return build("AW39", (head, ("Clienten", clients)))


MESSAGES = {"IO31": io31, "AW33": aw33, "AW35": aw35, "AW39": aw39}
