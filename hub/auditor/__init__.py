"""The auditor's toolkit: checkpoints, search, export, verified replay, retention and access control.

``install(app)`` (called by ``HubApp.build``) adds the search indexes and the job
table, and puts an :class:`Auditor` on ``app.extensions["auditor"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hub.auditor.access import AUDITOR_ROLE, AccessDenied, Gate
from hub.auditor.checkpoints import append_checkpoint, maybe_checkpoint
from hub.auditor.search import ensure_indexes
from hub.errors import HubError
from hub.pipeline.hooks import Observer
from hub.store import auditjobs
from hub.store.audit import AuditRecord

__all__ = ["AUDITOR_ROLE", "AccessDenied", "Auditor", "Gate", "install"]


class Auditor:
    """The toolkit bound to one running hub."""

    def __init__(self, app: Any, checkpoint_every: int = 10_000) -> None:
        self.app = app
        self.gate = Gate(app.audit, app.parties)
        self.checkpoint_every = checkpoint_every

    def checkpoint(self) -> Any:
        return append_checkpoint(self.app.audit, self.app.settings.key_bytes())[0]

    def maybe_checkpoint(self) -> Any:
        """Call periodically (e.g. from a worker observer): signs the head every ``checkpoint_every`` records."""
        return maybe_checkpoint(self.app.audit, self.app.settings.key_bytes(), self.checkpoint_every)


class CheckpointEvery(Observer):
    """A worker observer: sign the chain's head once ``every`` records were appended since the last
    checkpoint, so a rewritten history is caught against the log's own signatures without a cron job."""

    def __init__(self, auditor: Auditor, every: int) -> None:
        self.auditor = auditor
        self.every = every
        self.pending = 0

    def after_batch(self, records: Sequence[AuditRecord]) -> None:
        self.pending += len(records)
        if self.pending < self.every:
            return
        try:
            self.auditor.maybe_checkpoint()  # another worker may have signed a head meanwhile: then nothing
        except HubError as exc:  # the batch is done and acked; try again after the next one
            logging.getLogger("zorghub.audit").warning("audit checkpoint postponed: %s", exc.reason)
            return
        self.pending = 0


def install(app: Any) -> None:
    ensure_indexes(app.db)
    auditjobs.create(app.db)
    every = app.settings.audit_checkpoint_every
    auditor = app.extensions["auditor"] = Auditor(app, every or 10_000)
    if every:
        app.observers.append(CheckpointEvery(auditor, every))
    from hub.auditor import proofs, publish

    publish.install(app)
    proofs.install(app)
