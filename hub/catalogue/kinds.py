"""The message-kind catalogue: what may be sent, by whom, checked how, routed where.

Kinds are data (``kinds.toml``): an integrator adds one without touching code.
Each flow brings its own kinds file; the catalogue merges them, and resolves a flow kind's
``schema`` against that flow's schema folder.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.catalogue.schemas import schema_path
from hub.errors import ConfigError, UnknownKind


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    content_types: tuple[str, ...]
    senders: tuple[str, ...]
    route: tuple[dict[str, Any], ...]
    schema: str = ""
    xsd: str = ""
    bsn: str = ""
    handler: str = ""
    iwlz: str = ""

    def sender_allowed(self, roles: Iterable[str]) -> bool:
        return "*" in self.senders or any(r in self.senders for r in roles)


class KindCatalogue:
    def __init__(self, kinds: Iterable[Kind]) -> None:
        self._kinds: dict[str, Kind] = {}
        for k in kinds:
            if k.name in self._kinds:
                raise ConfigError(f"message kind {k.name!r} is defined twice")
            self._kinds[k.name] = k

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._kinds.values())

    def get(self, name: str | None) -> Kind:
        if not name:
            raise UnknownKind("the message has no kind: set the AMQP 'type' property", rule="KIND_MISSING")
        try:
            return self._kinds[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._kinds), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownKind(f"unknown message kind {name!r}{hint}") from None

    def merged(self, other: KindCatalogue) -> KindCatalogue:
        return KindCatalogue([*self._kinds.values(), *other._kinds.values()])

    @classmethod
    def load(cls, *paths: Path) -> KindCatalogue:
        return cls.from_files((path, None) for path in paths)

    @classmethod
    def from_files(cls, files: Iterable[tuple[Path, Path | None]]) -> KindCatalogue:
        """Kinds files, each with the folder its schema names are relative to (``None``: ``schemas/``)."""
        kinds: list[Kind] = []
        for path, schema_dir in files:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read kinds file {path}: {exc}") from exc
            for name, raw in data.get("kind", {}).items():
                try:
                    kinds.append(
                        Kind(
                            name=name,
                            description=raw.get("description", ""),
                            content_types=tuple(raw["content_types"]),
                            senders=tuple(raw["senders"]),
                            route=tuple(raw.get("route", [])),
                            schema=schema_path(raw.get("schema", ""), schema_dir),
                            xsd=raw.get("xsd", ""),
                            bsn=raw.get("bsn", ""),
                            handler=raw.get("handler", ""),
                            iwlz=raw.get("iwlz", ""),
                        )
                    )
                except KeyError as exc:
                    raise ConfigError(f"{path}: kind {name!r} lacks {exc.args[0]!r}") from None
        return cls(kinds)
