"""The mapping contract and registry.

A mapping turns one payload format into another (iWlz XML <-> FHIR JSON, CSV ...).
Mappings are versioned and a released version never changes: messages already
in flight, and the audit replay of old ones, must translate exactly as before.
Mappings come from the entry-point group ``zorghub.mappings`` so a separate
package can ship a new version without touching the hub.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, runtime_checkable

from hub.catalogue.parties import Party
from hub.errors import ConfigError, UnknownMapping

GROUP = "zorghub.mappings"
log = logging.getLogger("zorghub.mappings")


@dataclass(frozen=True)
class MappingSpec:
    """What a mapping reads and writes.

    Formats are ids such as ``iwlz-2.2-xml:IO31``, ``fhir-r4-json`` or ``csv:dis-ohw``;
    schemas say how to check a payload: ``xsd:iwlz-2.2/xsd/IO31.xsd`` (relative to
    the configured ``schema_dir``) or ``jsonschema:<file in schemas/>``.
    """

    name: str
    version: str
    source_format: str
    target_format: str
    source_schema: str = ""
    target_schema: str = ""
    deprecated: bool = False


@runtime_checkable
class Mapping(Protocol):
    """A pure translation: no I/O, no clock, no randomness; same input, same bytes."""

    spec: MappingSpec

    def translate(self, payload: bytes) -> bytes: ...


@dataclass(frozen=True)
class Origin:
    """Where a registered mapping came from: its entry point, module and distribution (package)."""

    entry: str
    module: str = ""
    dist: str = ""


@dataclass(frozen=True)
class NewDefault:
    """A version that became the default (latest live) of a mapping since the hub last looked."""

    name: str
    version: str
    previous: str
    parties: tuple[str, ...]

    def message(self) -> str:
        who = ", ".join(self.parties) if self.parties else "no party at present"
        return (f"mapping {self.name} v{self.version} is new and now serves every party that does not pin a "
                f"version (was v{self.previous}): {who}")


def normalize_version(text: str) -> str:
    """``v2``, ``V2`` and ``2`` name the same version: the registry keys on ``2``."""
    text = text.strip()
    return text[1:] if text[:1] in ("v", "V") and text[1:2].isdigit() else text


def _vkey(version: str) -> tuple[int, ...] | tuple[float, str]:
    """Sort "10" after "9"; non-numeric versions sort first, by text."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (float("-inf"), version)


class MappingRegistry:
    """All known mappings, keyed by (name, version)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Mapping] = {}
        self._origin: dict[tuple[str, str], Origin] = {}

    @classmethod
    def from_entry_points(cls, eps: Iterable[EntryPoint] | None = None) -> MappingRegistry:
        """Load every mapping in the ``zorghub.mappings`` group (or the given entry points)."""
        reg = cls()
        reg.load(entry_points(group=GROUP) if eps is None else eps)
        return reg

    def load(self, eps: Iterable[EntryPoint]) -> None:
        for ep in sorted(eps, key=lambda e: (e.name, e.value)):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must stop start-up, loudly
                raise ConfigError(f"mapping entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "translate")):
                obj = obj()  # a class or a factory
            mapping = obj
            if not isinstance(mapping, Mapping) or not isinstance(getattr(mapping, "spec", None), MappingSpec):
                raise ConfigError(f"mapping entry point {ep.name!r} ({ep.value}) is not a Mapping")
            dist = getattr(ep, "dist", None)
            where = Origin(f"{ep.name} = {ep.value}", ep.module,
                           f"{dist.name} {dist.version}" if dist is not None else "")
            self.register(mapping, origin=where)

    def register(self, mapping: Mapping, *, origin: str | Origin = "register()") -> None:
        key = (mapping.spec.name, mapping.spec.version)
        where = origin if isinstance(origin, Origin) else Origin(origin)
        if key in self._by_key:
            raise ConfigError(
                f"mapping {key[0]} v{key[1]} is claimed twice: by {self._origin[key].entry} and by {where.entry}")
        self._by_key[key] = mapping
        self._origin[key] = where

    def origin(self, name: str, version: str) -> Origin:
        """Where one version came from: the integrator's loop finds its golden files from the module."""
        self.get(name, version)
        return self._origin[(name, version)]

    def names(self) -> list[str]:
        return sorted({n for n, _ in self._by_key})

    def versions(self, name: str) -> list[str]:
        return sorted((v for n, v in self._by_key if n == name), key=_vkey)

    def all(self) -> list[Mapping]:
        return [self._by_key[k] for k in sorted(self._by_key, key=lambda k: (k[0], _vkey(k[1])))]

    def get(self, name: str, version: str | None = None) -> Mapping:
        """A mapping by name; ``version=None`` means the latest non-deprecated version."""
        versions = self.versions(name)
        if not versions:
            hint = difflib.get_close_matches(name, self.names(), n=3)
            more = f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
            raise UnknownMapping(f"unknown mapping {name!r}{more}", rule="UNKNOWN_MAPPING")
        if version is None:
            live = [v for v in versions if not self._by_key[(name, v)].spec.deprecated]
            if not live:
                raise UnknownMapping(f"every version of mapping {name!r} is deprecated", rule="UNKNOWN_MAPPING")
            return self._by_key[(name, live[-1])]
        if (name, version) not in self._by_key:
            known = ", ".join("v" + v for v in versions)
            raise UnknownMapping(f"mapping {name!r} has no version {version!r} (known: {known})",
                                 rule="UNKNOWN_MAPPING")
        return self._by_key[(name, version)]

    def find(self, source_format: str, target_format: str, version: str | None = None) -> Mapping:
        """Format negotiation: the mapping from one format to another (latest live version by default)."""
        names = sorted({m.spec.name for m in self._by_key.values()
                        if (m.spec.source_format, m.spec.target_format) == (source_format, target_format)})  # fmt: skip
        if not names:
            raise UnknownMapping(f"no mapping from {source_format} to {target_format}", rule="UNKNOWN_MAPPING")
        if len(names) > 1:
            raise UnknownMapping(
                f"ambiguous: {', '.join(names)} all map {source_format} to {target_format}", rule="UNKNOWN_MAPPING"
            )
        return self.get(names[0], version)

    def defaults(self) -> dict[str, str]:
        """Every mapping's default version: the one an unpinned party gets (latest live)."""
        out = {}
        for name in self.names():
            try:
                out[name] = self.get(name).spec.version
            except UnknownMapping:  # every version deprecated: no default
                continue
        return out

    def new_defaults(self, parties: Iterable[Party], previous: MappingOf[str, str]) -> list[NewDefault]:
        """Defaults that moved since ``previous`` (the defaults last seen), with the parties they now serve.

        A party is served by a mapping's default when it accepts the mapping's target format and does not
        pin a version of it (``mappings = {name = "1"}`` in its registry entry). A mapping never seen
        before (first start, or a new mapping) is not a move: nobody was on another version of it.
        """
        found = []
        party_list = list(parties)
        for name, version in sorted(self.defaults().items()):
            before = previous.get(name)
            if before is None or before == version:
                continue
            target = self.get(name, version).spec.target_format
            served = sorted(p.name for p in party_list
                            if target in p.accepts and p.mapping_version(name) is None)  # fmt: skip
            found.append(NewDefault(name, version, before, tuple(served)))
        return found


class SeenDefaults(Protocol):
    """Where the defaults last seen are kept (``hub.store.mapping_defaults.MappingDefaults``)."""

    def swap(self, defaults: MappingOf[str, str]) -> dict[str, str]: ...


def announce_new_defaults(registry: MappingRegistry | None, parties: Iterable[Party],
                          seen: SeenDefaults) -> list[NewDefault]:  # fmt: skip
    """At start-up: warn, naming the parties, about every version that just became a default."""
    if registry is None:
        return []
    found = registry.new_defaults(parties, seen.swap(registry.defaults()))
    for moved in found:
        log.warning("%s", moved.message())
    return found
