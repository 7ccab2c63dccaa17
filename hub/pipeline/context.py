"""What a kind's handler receives beyond the checked message: the batch's transaction and its outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.envelope import Delivery, Envelope
from hub.errors import Rejected
from hub.pipeline.check import Checked
from hub.store.audit import AuditRecord
from hub.store.db import Database
from hub.transports.base import Outgoing

if TYPE_CHECKING:
    from hub.app import HubApp

Handler = Callable[[Checked, "HandlerContext"], list[Delivery]]


@dataclass
class HandlerContext:
    """What a kind's handler may do beyond returning deliveries.

    Handlers run inside the batch's database transaction (``db``), so their
    register writes commit together with the audit records and the
    outbox entries: the transactional outbox. ``records`` are extra audit
    records (queries, authorisation decisions); ``outgoing`` are extra
    messages such as query replies, published in the batch's transport commit.
    """

    app: HubApp
    db: Database
    envelope: Envelope
    records: list[AuditRecord] = field(default_factory=list)
    #: each message with the audit record of its sending (None: not audited); the worker binds the record
    #: to the message's bytes and route (``hub.pipeline.record.sent``)
    outgoing: list[tuple[Outgoing, AuditRecord | None]] = field(default_factory=list)
    #: outbox entries sent before, published again byte for byte after the batch commits (a resend request)
    again: list[tuple[tuple[str, int], Outgoing]] = field(default_factory=list)
    #: set by ``refuse``: the message is parked as refused although the handler's own writes and answer stand
    refused: Rejected | None = None

    def refuse(self, error: Rejected) -> None:
        """Park the message as refused, keeping what the handler recorded and sent.

        For a flow that answers the sender in its own words (the NZa's ontvangstbevestiging listing
        the bad rows) and keeps its own record of the attempt: raising would roll both back. The hub
        dead-letters the message with ``error``'s rule and sends no receipt of its own.
        """
        self.refused = error
