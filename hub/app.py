"""Assembles the hub from its settings: stores, catalogues and stages.

Built once per process, after the settings are validated; nothing here runs at
import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.catalogue.kinds import KindCatalogue
from hub.catalogue.parties import PartyRegistry
from hub.catalogue.regions import RegionTable
from hub.catalogue.topology import Topology
from hub.envelope import Delivery
from hub.pipeline.check import Checked, Checker
from hub.pipeline.route import Router
from hub.pipeline.translate import Translator
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.store.db import Database
from hub.store.deadletters import DeadLetterStore
from hub.store.idempotency import ProcessedIds

if TYPE_CHECKING:
    from hub.flows.base import Flow

log = logging.getLogger("zorghub")

Handler = Callable[[Checked, "HandlerContext"], list[Delivery]]


@dataclass
class HandlerContext:
    """What a kind's handler may do beyond returning deliveries.

    Handlers run inside the batch's database transaction (``db``), so their
    register writes commit together with the audit records and the
    idempotency marks: the transactional outbox. ``records`` are extra audit
    records (queries, authorisation decisions); ``outgoing`` are extra
    messages such as query replies, published in the batch's transport commit.
    """

    app: HubApp
    db: Database
    envelope: Any
    records: list[Any] = field(default_factory=list)
    outgoing: list[Any] = field(default_factory=list)


@dataclass
class HubApp:
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
    extensions: dict[str, Any] = field(default_factory=dict)
    # called by a worker after each committed batch with the number of audit records it appended
    batch_hooks: list[Callable[[int], None]] = field(default_factory=list)
    # the installed flows (``zorghub.flows`` entry points) and each one's settings, by flow name
    flows: tuple[Flow, ...] = ()
    flow_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, db: Database | None = None, mappings: Any = None,
              extra_kinds: tuple[Any, ...] = (), flows: Sequence[Flow] | None = None) -> HubApp:
        """The hub with the given flows (default: every installed one) and their kinds, settings and handlers."""
        from hub.flows.registry import load_flows, read_settings

        settings.home_path.mkdir(parents=True, exist_ok=True)
        key = settings.key_bytes()
        installed = load_flows() if flows is None else tuple(flows)
        flow_settings = {f.name: read_settings(f) for f in installed}
        database = db or Database(settings.effective_store_url)
        parties = PartyRegistry.load(settings.parties_path)
        kinds = KindCatalogue.from_files([(settings.kinds_path, None),
                                          *((path, f.schema_dir) for f in installed for path in f.kinds),
                                          *((path, None) for path in extra_kinds)])
        regions = RegionTable.load(settings.regions_path)
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        if mappings is None:
            mappings = _load_mappings()
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
                            max_payload_bytes=settings.max_payload_bytes),
            router=Router(parties, regions),
            translator=Translator(mappings),
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


def _load_mappings() -> Any:
    try:
        from hub.catalogue.mappings import MappingRegistry
    except ImportError:  # the mapping registry is optional for the core
        return None
    return MappingRegistry.from_entry_points()
