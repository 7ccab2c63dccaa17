"""The typed seams a flow plugs into the pipeline: validators, guards, answer hooks and observers.

The core defines them and never names a flow: a flow's ``install(app)`` registers its validators
and answer hooks per kind (``HubApp.validators``, ``HubApp.answers``), its guards (``HubApp.guards``),
and may add observers (``HubApp.observers``), which every worker calls after each message and each committed batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hub.catalogue.kinds import Kind
    from hub.envelope import Envelope
    from hub.errors import HubError
    from hub.pipeline.check import Checked
    from hub.store.audit import AuditRecord
    from hub.store.db import Database
    from hub.transports.base import Outgoing


@dataclass(frozen=True)
class Answer:
    """A message the hub sends back to a sender in the sender's own standard (an iWlz retourbericht)."""

    kind: str
    body: bytes
    content_type: str = "application/xml"


class AnswerHook(Protocol):
    """Answers a sender per kind: on acceptance, and on rejection instead of the JSON receipt.

    Returning ``None`` from ``rejected`` means: send the JSON receipt as for any other kind.
    """

    def accepted(self, checked: Checked) -> Answer | None: ...

    def rejected(self, kind: str, payload: bytes, error: HubError) -> Answer | None: ...


#: a kind-specific check run by the checker after the schema check; raises a ``Rejected`` to refuse
Validator = Callable[["Kind", bytes], None]

#: a kind-specific check of a checked message against what the hub holds (its message history), run
#: before routing inside the batch's database transaction; raises a ``Rejected`` to refuse
Guard = Callable[["Checked", "Database"], None]

#: what a message came to, as observers see it
Event = str  # "delivered", "rejected", "dead_lettered", "deferred" or "duplicate"


class Observer:
    """Named hooks a worker calls, dramatiq-middleware style; override the ones you need.

    Both run after the batch is committed and acked, so an observer cannot change what was done;
    an exception from one propagates (observers are part of the process, not fire-and-forget).
    """

    def after_process_message(self, event: Event, envelope: Envelope, extra: object) -> None:
        """One message is done and the broker holds what it sent: ``extra`` is its deliveries, or the error
        that stopped it. Called once its batch's outbox entries are confirmed (while the next batch runs)."""

    def after_batch(self, records: Sequence[AuditRecord]) -> None:
        """One batch is committed: ``records`` are the audit records it appended."""


class Publisher(Protocol):
    """Messages the hub sends of its own accord when they are due, not in answer to a message (the signed
    tree heads to the witnesses). ``due`` commits their outbox entries itself and returns them numbered,
    ((stream, seq), message), for the worker's relay to publish; it is called after each batch and when idle."""

    def due(self) -> list[tuple[tuple[str, int], Outgoing]]: ...


class OnMessage(Observer):
    """An observer from a plain function of (event, envelope, extra)."""

    def __init__(self, fn: Callable[[Event, Envelope, object], None]) -> None:
        self.fn = fn

    def after_process_message(self, event: Event, envelope: Envelope, extra: object) -> None:
        self.fn(event, envelope, extra)
