"""The party registry: who connects, under which identifier, in which roles.

Loaded from a TOML file and validated against ``schemas/parties.schema.json``.
A party's ``name`` is its AMQP user name and the suffix of its inbox queue.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from hub.catalogue.schemas import load_json_schema
from hub.errors import ConfigError, NoRoute
from hub.formats import bsn as bsnlib

ID_TYPES = ("AGB", "UZOVI", "KVK", "OIN", "BSN", "COD001", "URA", "HUB")


@dataclass(frozen=True)
class Party:
    name: str
    id_type: str
    id: str
    roles: tuple[str, ...]
    display: str = ""
    accepts: tuple[str, ...] = ("json",)
    mappings: tuple[tuple[str, str], ...] = ()
    region: str = ""
    password: str = ""
    #: deliveries go to the party's RabbitMQ stream (``Topology.stream_inbox``) instead of its inbox queue
    stream_inbox: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=())

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def label(self) -> str:
        """Safe to print: never the BSN of a client party."""
        if self.id_type == "BSN":
            return f"{self.name} (client PGO)"
        return f"{self.name} ({self.id_type} {self.id})"

    def mapping_version(self, mapping: str) -> str | None:
        return dict(self.mappings).get(mapping)


class PartyRegistry:
    def __init__(self, parties: Iterable[Party]) -> None:
        self._by_name: dict[str, Party] = {}
        self._by_ident: dict[tuple[str, str], Party] = {}
        for p in parties:
            if p.name in self._by_name:
                raise ConfigError(f"party {p.name!r} is defined twice")
            self._by_name[p.name] = p
            self._by_ident[(p.id_type, p.id)] = p

    def __iter__(self) -> Iterator[Party]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Party:
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._by_name), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise NoRoute(f"unknown party {name!r}{hint}") from None

    def find(self, name: str) -> Party | None:
        return self._by_name.get(name)

    def by_identifier(self, id_type: str, ident: str) -> Party | None:
        return self._by_ident.get((id_type, ident))

    def with_role(self, role: str) -> list[Party]:
        return [p for p in self._by_name.values() if role in p.roles]

    @classmethod
    def load(cls, path: Path) -> PartyRegistry:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read parties file {path}: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "parties") -> PartyRegistry:
        validator = jsonschema.Draft202012Validator(load_json_schema("parties.schema.json"))
        err = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path)
            raise ConfigError(f"{source}: {where}: {err.message}")
        parties = []
        for raw in data.get("party", []):
            if raw["id_type"] == "BSN" and not bsnlib.is_valid(raw["id"]):
                raise ConfigError(f"{source}: party {raw['name']!r} has a BSN that fails the elfproef")
            parties.append(
                Party(
                    name=raw["name"],
                    id_type=raw["id_type"],
                    id=str(raw["id"]),
                    roles=tuple(raw["roles"]),
                    display=raw.get("display", ""),
                    accepts=tuple(raw.get("accepts", ["json"])),
                    mappings=tuple(sorted(raw.get("mappings", {}).items())),
                    region=raw.get("region", ""),
                    password=raw.get("password", ""),
                    stream_inbox=bool(raw.get("stream_inbox", False)),
                )
            )
        return cls(parties)
