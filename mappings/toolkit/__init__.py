"""The public toolkit for writing a mapping version: what the shipped mappings are built from.

A mapping is any object with a ``spec`` (``MappingSpec``) and a pure ``translate(bytes) -> bytes``.
The toolkit gives three ways to make one, from the least to the most work:

- ``Derived(spec, base, step)``: an earlier version's output, changed by one pure JSON step;
- ``XmlToFhir(spec, shape)`` / ``FhirToXml(spec, shape)``: the table-driven iWlz <-> FHIR
  translators, configured by a ``Shape`` of ``Group``/``Record``/``Field`` tables;
- ``Transform(spec, fn)``: any pure function of the payload.

The helpers below (``EXT``, ``ext``, ``get_ext``, ``dumps``, ``loads_json`` ...) are the ones the
shipped versions use, so a new version written with them produces the same bytes for the same
facts. Released versions depend on these names: they never change behaviour; new behaviour
comes as a new helper. ``docs/mappings.md`` is the guide.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.catalogue.mappings import Mapping, MappingSpec
from mappings.toolkit import iwlz, message, parts
from mappings.toolkit.iwlz import (
    AGB,
    BESLUIT,
    BSN,
    EXT,
    UZOVI,
    Field,
    JsonObj,
    Record,
    dumps,
    entries,
    ext,
    get_ext,
    ident_value,
    loads_json,
)
from mappings.toolkit.message import FhirToXml, Group, Shape, XmlToFhir

__all__ = [
    "AGB", "BESLUIT", "BSN", "EXT", "UZOVI", "Derived", "FhirToXml", "Field", "Group", "JsonObj", "Mapping",
    "MappingSpec", "Record", "Shape", "Transform", "XmlToFhir", "dumps", "entries", "ext", "get_ext",
    "ident_value", "iwlz", "loads_json", "message", "parts",
]  # fmt: skip


class Transform:
    """A mapping from any pure function of the payload: no I/O, no clock, no randomness."""

    def __init__(self, spec: MappingSpec, fn: Callable[[bytes], bytes]) -> None:
        self.spec, self._fn = spec, fn

    def translate(self, payload: bytes) -> bytes:
        return self._fn(payload)


class Derived:
    """A new version as an earlier one plus one change: ``step`` edits the earlier version's JSON output.

    The earlier version stays as it is (released versions are frozen); ``step`` gets a fresh copy
    of its output and returns the new document, written with the toolkit's ``dumps`` (the bytes
    the shipped versions write).
    """

    def __init__(self, spec: MappingSpec, base: Mapping, step: Callable[[JsonObj], JsonObj]) -> None:
        self.spec, self.base, self._step = spec, base, step

    def translate(self, payload: bytes) -> bytes:
        return dumps(self._step(loads_json(self.base.translate(payload))))
