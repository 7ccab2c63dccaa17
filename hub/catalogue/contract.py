"""The vendor contract as data: the replies the hub sends, and one example of each kind.

Each flow keeps a ``contract.toml`` beside its ``kinds.toml`` (the core keeps one beside
``hub/data/kinds.toml``), with example payloads in ``examples/``. The AsyncAPI document
(``hub.catalogue.asyncapi``) is built from these and the kind catalogue, and a test sends every
example through the hub, expecting what its entry says comes back: so the document cannot drift
from the code.

    [reply."network.antwoord"]
    description = "The answer to a query"
    schema = "antwoord.schema.json"        # optional, in the flow's schemas/ folder

    [[example]]
    kind = "network.bevragen"
    sender = "zk-utrecht"                   # a party of the shipped registry
    file = "examples/bevragen.json"
    reply = "network.antwoord"              # what the sender gets back ("" = nothing)
    status = "ok"                           # optional: the reply's status field
    deliver = ["bos-en-duin"]               # optional: parties that get something because of it

Examples run in file order, flow by flow, on a fresh hub: an example may rely on an earlier one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.catalogue.schemas import schema_path
from hub.errors import ConfigError

CONTRACT_FILE = "contract.toml"


@dataclass(frozen=True)
class Reply:
    """A kind the hub sends (never received from a party): receipts, answers, notifications."""

    name: str
    description: str
    content_type: str = "application/json"
    schema: str = ""
    flow: str = ""


@dataclass(frozen=True)
class Example:
    """One message a party sends, and what the contract says comes back."""

    flow: str
    kind: str
    sender: str
    body: bytes
    content_type: str
    name: str
    reply: str = ""
    status: str = ""
    deliver: tuple[str, ...] = ()
    client_key: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Contract:
    replies: tuple[Reply, ...]
    examples: tuple[Example, ...]

    def examples_of(self, kind: str) -> list[Example]:
        return [e for e in self.examples if e.kind == kind]

    @classmethod
    def load(cls, files: Iterable[tuple[str, Path, Path | None]]) -> Contract:
        """``files``: (flow name, contract.toml, the flow's schema folder) for the core and each flow."""
        replies: dict[str, Reply] = {}
        examples: list[Example] = []
        for flow, path, schema_dir in files:
            data = _read(path)
            for name, raw in data.get("reply", {}).items():
                if name in replies:
                    raise ConfigError(f"{path}: reply kind {name!r} is declared twice")
                replies[name] = Reply(name, str(raw.get("description", "")),
                                      str(raw.get("content_type", "application/json")),
                                      schema_path(str(raw.get("schema", "")), schema_dir), flow)
            for n, raw in enumerate(data.get("example", [])):
                examples.append(_example(flow, path, n, raw))
        return cls(tuple(replies.values()), tuple(examples))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read contract file {path}: {exc}") from exc


def _example(flow: str, path: Path, n: int, raw: dict[str, Any]) -> Example:
    try:
        file = path.parent / str(raw["file"])
        kind, sender = str(raw["kind"]), str(raw["sender"])
    except KeyError as exc:
        raise ConfigError(f"{path}: example {n + 1} lacks {exc.args[0]!r}") from None
    try:
        body = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: example {n + 1}: cannot read {file.name}: {exc.strerror}") from None
    return Example(
        flow=flow, kind=kind, sender=sender, body=body,
        content_type=str(raw.get("content_type", _content_type(file))),
        name=str(raw.get("name", file.stem)),
        reply=str(raw.get("reply", "")), status=str(raw.get("status", "")),
        deliver=tuple(raw.get("deliver", ())), client_key=str(raw.get("client_key", "")),
        headers=tuple(sorted((str(k), str(v)) for k, v in raw.get("headers", {}).items())),
    )


def _content_type(file: Path) -> str:
    return {".json": "application/json", ".xml": "application/xml", ".csv": "text/csv",
            ".zip": "application/zip"}.get(file.suffix, "application/octet-stream")
