"""Stage 3, the message translator: each recipient gets the format it accepts.

Format negotiation: a party declares the formats it accepts; when the inbound
format is among them the payload passes through untouched. Otherwise a mapping
from the registry (keyed by name and version) translates it, and the delivery
names the exact mapping and version used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hub.catalogue.parties import Party
from hub.envelope import Delivery
from hub.errors import DeadLetter, HubError

FormatOf = Callable[[str, str], str]
log = logging.getLogger("zorghub.translator")


def format_of(kind: str, content_type: str) -> str:
    """The format id of a payload: the hub speaks in these, not in MIME types."""
    base = content_type.split(";")[0].strip().lower()
    if kind.startswith("iwlz."):
        return f"iwlz-2.2-xml:{kind.split('.', 1)[1]}"
    if base == "application/fhir+json":
        return "fhir-r4-json"
    if base == "application/fhir+xml":
        return "fhir-r4-xml"
    if base in ("text/csv", "application/zip"):
        return f"csv:{kind}"
    return "json" if base.endswith("json") else "xml"


class Translator:
    def __init__(self, registry: Any = None) -> None:
        self.registry = registry
        self._warned: set[tuple[str, str, str]] = set()
        self._by_formats: dict[tuple[str, str], list[str]] = {}
        #: (source, target, party's pinned version or None) -> the mapping that serves it, None if none does
        self._chosen: dict[tuple[str, str, str | None], Any] = {}

    def _names(self, source: str, target: str) -> list[str]:
        """Mapping names from one format to another, looked up once per pair (the registry is fixed at start)."""
        key = (source, target)
        if key not in self._by_formats:
            self._by_formats[key] = sorted({m.spec.name for m in self.registry.all()
                                            if (m.spec.source_format, m.spec.target_format) == key})
        return self._by_formats[key]

    def _mapping(self, source: str, target: str, party: Party) -> Any:
        """The mapping from ``source`` to ``target`` for ``party``: its pinned version, else the latest live one.

        Resolved once per pair and pinned version, as the names are; ``None`` when no version serves.
        """
        names = self._names(source, target)
        if not names:
            return None
        pinned = party.mapping_version(names[0])
        key = (source, target, pinned)
        if key not in self._chosen:
            try:
                self._chosen[key] = self.registry.get(names[0], pinned)
            except HubError:
                self._chosen[key] = None
        return self._chosen[key]

    def translate(self, delivery: Delivery, party: Party, parsed: object = None) -> Delivery:
        """``delivery`` in a format ``party`` accepts.

        ``parsed`` is the delivery's payload as the checker parsed it, if the caller has it: a mapping that
        takes a parsed document (a ``write`` method, as the FHIR -> iWlz ones have) then skips the parse.
        """
        env = delivery.envelope
        source = format_of(env.kind, env.content_type)
        if source in party.accepts or "*" in party.accepts or not party.accepts:
            return delivery
        if self.registry is None:
            raise DeadLetter(f"party {party.name!r} does not accept {source} and no mappings are loaded",
                             rule="NO_MAPPING")
        for target in party.accepts:
            mapping = self._mapping(source, target, party)
            if mapping is None:
                continue
            spec = mapping.spec
            if spec.deprecated and (spec.name, spec.version, party.name) not in self._warned:
                self._warned.add((spec.name, spec.version, party.name))
                log.warning("mapping %s version %s is deprecated and still serves recipient %s",
                            spec.name, spec.version, party.name)
            write = getattr(mapping, "write", None) if type(parsed) is dict else None
            payload = mapping.translate(env.payload) if write is None else write(parsed)
            content_type = _content_type(spec.target_format)
            kind = env.kind
            if spec.target_format.startswith("iwlz-2.2-xml:"):
                kind = "iwlz." + spec.target_format.split(":", 1)[1]
            out = env.evolve(payload=payload, content_type=content_type, kind=kind,
                             mapping=spec.name, mapping_version=spec.version)
            return Delivery(delivery.recipient, out, delivery.reason)
        raise DeadLetter(f"no mapping from {source} to any format {party.name!r} accepts "
                         f"({', '.join(party.accepts)})", rule="NO_MAPPING")


def _content_type(fmt: str) -> str:
    if fmt.startswith("iwlz-2.2-xml") or fmt == "xml":
        return "application/xml"
    if fmt == "fhir-r4-json":
        return "application/fhir+json"
    if fmt == "fhir-r4-xml":
        return "application/fhir+xml"
    if fmt.startswith("csv"):
        return "text/csv"
    return "application/json"
