"""Stage 1, the validator: is this message one the hub will carry?

Each failure names its reason precisely, and never quotes a BSN back. Kind-specific checks
(such as the iWlz XSD and rules) are the flows' validators, run after the schema check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from lxml import etree

from hub.catalogue.kinds import Kind, KindCatalogue
from hub.catalogue.parties import PartyRegistry
from hub.catalogue.schemas import load_json_schema
from hub.envelope import Envelope
from hub.errors import BadContentType, ConfigError, Forbidden, InvalidBSN, SchemaViolation, TooLarge
from hub.formats import bsn as bsnlib
from hub.formats.document import Document
from hub.pipeline.hooks import Validator

# content types carried as a file, for kinds that take a whole batch delivery
FILE_TYPES = ("application/zip", "text/csv")


@dataclass(frozen=True)
class Checked:
    """A message the checker accepted: its envelope (with the client's pseudonym), kind and parsed document."""

    envelope: Envelope
    kind: Kind
    document: Document


class Checker:
    """Size, kind, sender role, content type, safe parse, schema, the flows' validators, BSN."""

    def __init__(
        self,
        kinds: KindCatalogue,
        parties: PartyRegistry,
        *,
        key: bytes,
        schema_dir: str,
        max_payload_bytes: int,
        validators: dict[str, list[Validator]] | None = None,
    ) -> None:
        self.kinds = kinds
        self.parties = parties
        self.key = key
        self.schema_dir = Path(schema_dir) if schema_dir else None
        self.max_payload_bytes = max_payload_bytes
        #: kind name -> the flows' checks, run after the schema check (``HubApp.validators``)
        self.validators: dict[str, list[Validator]] = validators if validators is not None else {}

    def check(self, env: Envelope) -> Checked:
        if len(env.payload) > self.max_payload_bytes:
            raise TooLarge(f"payload is {len(env.payload)} bytes; the limit is {self.max_payload_bytes}")
        kind = self.kinds.get(env.kind)
        sender = self.parties.get(env.sender)
        if not kind.sender_allowed(sender.roles):
            raise Forbidden(f"party {sender.name!r} may not send {kind.name!r}", rule="SENDER_ROLE")
        base = env.content_type.split(";")[0].strip().lower()
        if base not in kind.content_types:
            raise BadContentType(
                f"content type {env.content_type!r} is not accepted for {kind.name!r}; "
                f"use {' or '.join(kind.content_types)}"
            )
        if base in FILE_TYPES:
            # a file (ZIP, CSV) is not parsed here: the kind's handler validates its rows (hub.formats.csvbatch);
            # routing sees its metadata, which travels in headers
            meta = {"filename": str(env.headers.get("x-filename", "")), "size": len(env.payload)}
            return Checked(env, kind, Document(json=meta, whole=False))
        doc = Document.parse(base, env.payload)
        if kind.schema:
            self._check_json_schema(kind, doc)
        if kind.xsd:
            self._check_xsd(kind, doc)
        for validate in self.validators.get(kind.name, ()):
            validate(kind, env.payload)
        client_key = None
        if kind.bsn:
            value = doc.get(kind.bsn)
            if value is not None:
                if not bsnlib.is_valid(value):
                    raise InvalidBSN(f"the client's BSN at {kind.bsn} fails the elfproef")
                client_key = bsnlib.pseudonym(value, self.key)
        return Checked(env if client_key is None else env.evolve(client_key=client_key), kind, doc)

    def _check_json_schema(self, kind: Kind, doc: Document) -> None:
        if _fast_validator(kind.schema)(doc.json):
            return
        # the reference validator names the precise failure (and has the last word)
        validator = _json_validator(kind.schema)
        err = jsonschema.exceptions.best_match(validator.iter_errors(doc.json))
        if err is not None:
            where = "/" + "/".join(str(p) for p in err.absolute_path)
            message = bsnlib.redact(err.message)
            raise SchemaViolation(f"{kind.name}: {where}: {message}", rule=f"SCHEMA:{err.validator}")

    def _check_xsd(self, kind: Kind, doc: Document) -> None:
        if self.schema_dir is None:
            raise ConfigError(f"kind {kind.name!r} needs an XSD but no schema_dir is configured")
        schema = _xsd(str(self.schema_dir / kind.xsd))
        assert doc.xml is not None
        if not schema.validate(doc.xml):
            first = schema.error_log[0]  # type: ignore[index]  # lxml-stubs lacks __getitem__
            raise SchemaViolation(
                f"{kind.name}: XSD line {first.line}: {bsnlib.redact(first.message)}", rule="XSD"
            )


@functools.cache
def _fast_validator(name: str) -> Callable[[Any], bool]:
    """The schema compiled to Python by fastjsonschema: the happy path costs microseconds, not tens of them.

    Our schemas use only keywords that mean the same in draft 7 and 2020-12 (a test holds them to that), and
    formats are not asserted, as the reference validator does not assert them either.
    """
    schema = dict(load_json_schema(name))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    compiled = fastjsonschema.compile(schema, use_formats=False)

    def is_valid(instance: Any) -> bool:
        try:
            compiled(instance)
            return True
        except fastjsonschema.JsonSchemaException:
            return False

    return is_valid


@functools.cache
def _json_validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_json_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@functools.cache
def _xsd(path: str) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(etree.parse(path))
    except (OSError, etree.XMLSchemaParseError) as exc:
        raise ConfigError(f"cannot load XSD {path}: {exc}") from exc
