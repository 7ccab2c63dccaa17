"""The FHIR -> iWlz writer without lxml (``mappings.toolkit.iwlz.Plain``) gives lxml's bytes, or lxml's error.

``FhirToXml.write`` writes a message through stand-in elements where it can and builds it with lxml
where it cannot; both must come to what ``to_xml_bytes(build(...))`` gives, for every released
version, on the golden Bundles and on Bundles with the values the plain writer hands to lxml
(empty, a carriage return, markup characters, non-ASCII, not a string).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.catalogue.mappings import MappingRegistry
from mappings.toolkit.iwlz import to_xml_bytes
from mappings.toolkit.message import FhirToXml

REPO = Path(__file__).resolve().parent.parent
REG = MappingRegistry.from_entry_points()
WRITERS = [m for m in REG.all() if isinstance(m, FhirToXml)]
BUNDLES = sorted(REPO.glob("mappings/*/golden/*/*.in.json")) + [REPO / "bench" / "data" / "aw33-melding.fhir.json"]
ODD = ["", "a\rb", "<&>", "Zoë Çelik", 7, " ", "two\nlines"]


def outcome(fn: Any, bundle: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", fn(copy.deepcopy(bundle)).decode()
    except Exception as exc:
        return type(exc).__name__, str(exc)


def strings(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every string value in a JSON document."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in strings(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in strings(v, (*path, i))]
    return [path] if isinstance(obj, str) else []


def test_every_writer_is_checked() -> None:
    assert {(m.spec.name, m.spec.version) for m in WRITERS} >= {("fhir-to-iwlz-aw33", "1"),
                                                                ("fhir-to-iwlz-io31", "1")}


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_plain_writer_gives_lxml_bytes_or_lxml_error(path: Path) -> None:
    bundle = orjson.loads(path.read_bytes())
    values = strings(bundle)
    compared = 0
    for mapping in WRITERS:
        cases = [bundle]
        for n, where in enumerate(values[::8]):  # every eighth string, each time with another odd value
            changed = copy.deepcopy(bundle)
            parent = changed
            for key in where[:-1]:
                parent = parent[key]
            parent[where[-1]] = ODD[n % len(ODD)]
            cases.append(changed)
        for case in cases:
            assert outcome(mapping.write, case) == outcome(lambda b, m=mapping: to_xml_bytes(m.build(b)), case)
            compared += 1
    assert compared > len(WRITERS)
