"""Seeds 001-004 on the hub: NZa, Zorgbeeld, Zorginkoopportaal and ketenzorg.

Each flow is a module with ``install(app)`` (its tables and handlers), its kinds in
``hub/data/kinds.d/flows.toml``, its settings in ``hub/data/flows/<flow>.toml`` and its schemas
in ``schemas/flows/``. ``docs/flows.md`` shows how to add another.
"""

from __future__ import annotations

from hub.app import HubApp
from hub.checker import Checked, Checker
from hub.document import Document
from hub.envelope import Envelope
from hub.errors import BadContentType, Forbidden, TooLarge
from hub.flows import inkoop, jobs, ketenzorg, nza, zorgbeeld

FLOWS = (nza, zorgbeeld, inkoop, ketenzorg, jobs)

# Content types carried as a file: the checker does not parse them; the kind's handler validates
# the rows (hub.csvbatch). Their metadata (file name) travels in headers.
FILE_TYPES = ("application/zip", "text/csv")


class FileAwareChecker(Checker):
    """The core checker, plus file payloads (ZIP, CSV) for kinds that accept only such types."""

    def __init__(self, inner: Checker) -> None:
        self.__dict__.update(inner.__dict__)
        self.inner = inner

    def check(self, env: Envelope) -> Checked:
        base = env.content_type.split(";")[0].strip().lower()
        if base not in FILE_TYPES:
            return self.inner.check(env)
        if len(env.payload) > self.max_payload_bytes:
            raise TooLarge(f"payload is {len(env.payload)} bytes; the limit is {self.max_payload_bytes}")
        kind = self.kinds.get(env.kind)
        sender = self.parties.get(env.sender)
        if not kind.sender_allowed(sender.roles):
            raise Forbidden(f"party {sender.name!r} may not send {kind.name!r}", rule="SENDER_ROLE")
        if base not in kind.content_types:
            raise BadContentType(f"content type {env.content_type!r} is not accepted for {kind.name!r}; "
                                 f"use {' or '.join(kind.content_types)}")
        meta = {"filename": str(env.headers.get("x-filename", "")), "size": len(env.payload)}
        return Checked(env, kind, Document(json=meta))


def install(app: HubApp) -> None:
    if not isinstance(app.checker, FileAwareChecker):
        app.checker = FileAwareChecker(app.checker)
    for flow in FLOWS:
        flow.install(app)
