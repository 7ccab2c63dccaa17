"""Assembles the hub from its settings: stores, catalogues and stages.

Built once per process, after the settings are validated; nothing here runs at
import time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.catalogue.kinds import KindCatalogue
from hub.catalogue.parties import PartyRegistry
from hub.catalogue.regions import RegionTable
from hub.catalogue.topology import Topology
from hub.errors import ConfigError, HubError
from hub.pipeline.check import Checker
from hub.pipeline.context import Handler
from hub.pipeline.hooks import AnswerHook, Guard, Observer, Publisher, Validator
from hub.pipeline.route import Router
from hub.pipeline.translate import Translator
from hub.settings import Settings
from hub.store import payloads
from hub.store.audit import AuditLog
from hub.store.db import Database
from hub.store.deadletters import DeadLetterStore
from hub.store.idempotency import ProcessedIds

if TYPE_CHECKING:
    from hub.plugins.flow import Flow

log = logging.getLogger("zorghub")



@dataclass
class HubApp:
    """The hub's parts, and the slots flows fill at install: handlers, validators, answer hooks, observers."""

    settings: Settings
    db: Database
    parties: PartyRegistry
    kinds: KindCatalogue
    regions: RegionTable
    topology: Topology
    audit: AuditLog
    processed: ProcessedIds
    dead_letters: DeadLetterStore
    checker: Checker
    router: Router
    translator: Translator
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: kind name -> checks the checker runs after the schema check (the same dict as ``checker.validators``)
    validators: dict[str, list[Validator]] = field(default_factory=dict)
    #: kind name -> the hook that answers the sender on acceptance and on refusal (an iWlz retour)
    answers: dict[str, AnswerHook] = field(default_factory=dict)
    #: kind name -> checks against the hub's own history, run before routing in the batch's transaction
    guards: dict[str, list[Guard]] = field(default_factory=dict)
    #: every worker of this app calls these after each message and each committed batch
    observers: list[Observer] = field(default_factory=list)
    #: every worker of this app asks these for hub-made messages that are due (tree heads to witnesses)
    publishers: list[Publisher] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    #: the installed flows (``zorghub.flows`` entry points) and each one's settings, by flow name
    flows: tuple[Flow, ...] = ()
    flow_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, db: Database | None = None, mappings: Any = None,
              extra_kinds: tuple[Any, ...] = (), flows: Sequence[Flow] | None = None,
              create: bool = True) -> HubApp:
        """The hub with the given flows (default: every installed one) and their kinds, settings and handlers.

        ``create=False``: a command that only reads; no home, key or store is made (``StoreMissing``).
        """
        from hub.plugins.registry import kind_catalogue, load_flows, read_settings

        installed = load_flows() if flows is None else tuple(flows)
        flow_settings = {f.name: read_settings(f) for f in installed}
        if create:
            settings.ensure_home()
        database = db or Database(settings.effective_store_url, create=create)
        try:
            key = settings.key_bytes(create=create)
            payloads.attach(database, settings.kek_source, create=create)  # payloads sealed at rest
        except BaseException:
            if db is None:
                database.close()
            raise
        parties = PartyRegistry.load(settings.parties_path)
        kinds = kind_catalogue(settings.kinds_path, installed, extra_kinds)
        regions = RegionTable.load(settings.regions_path)
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        if mappings is None:
            mappings = _load_mappings()
        try:
            check_pins(parties, mappings, source=str(settings.parties_path))
        except ConfigError:
            if db is None:
                database.close()
            raise
        validators: dict[str, list[Validator]] = {}
        app = cls(
            settings=settings,
            db=database,
            parties=parties,
            kinds=kinds,
            regions=regions,
            topology=topology,
            audit=AuditLog(database, key),
            processed=ProcessedIds(database),
            dead_letters=DeadLetterStore(database),
            checker=Checker(kinds, parties, key=key, schema_dir=settings.schema_dir,
                            max_payload_bytes=settings.max_payload_bytes, validators=validators),
            router=Router(parties, regions),
            translator=Translator(mappings),
            validators=validators,
            flows=installed,
            flow_settings=flow_settings,
        )
        from hub import auditor  # part of the core: the audit indexes, jobs table and checkpoints

        auditor.install(app)
        for flow in installed:
            if flow.install is not None:
                flow.install(app)
        return app

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> HubApp:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def check_pins(parties: PartyRegistry, mappings: Any, *, source: str = "parties") -> None:
    """Every version a party pins (``mappings = {name = "version"}``) is installed: else the hub refuses to start."""
    if mappings is None:
        return
    for party in parties:
        for name, version in party.mappings:
            try:
                mappings.get(name, version)
            except HubError as exc:
                raise ConfigError(f"{source}: party {party.name!r} pins {exc.reason}") from None


def preflight(settings: Settings) -> None:
    """What start-up refuses before any worker runs: an unreadable registry, a pin to a missing mapping version."""
    parties = PartyRegistry.load(settings.parties_path)
    check_pins(parties, _load_mappings(), source=str(settings.parties_path))


def _load_mappings() -> Any:
    try:
        from hub.catalogue.mappings import MappingRegistry
    except ImportError:  # the mapping registry is optional for the core
        return None
    return MappingRegistry.from_entry_points()
