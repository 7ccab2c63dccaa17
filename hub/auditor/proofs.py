"""The proof request (``zorghub.prove``): a party gets the inclusion proof of the records about itself.

A party asks for ``{"message_id": X}`` (a message it sent, or the ``x-origin-message-id`` of one
delivered to it: every record of X that is about the party) or ``{"record": N}`` (one record by its
seq). The answer (``zorghub.inclusion-proofs``) goes to its inbox: one ``zorghub-inclusion-proof/1``
per record against the latest signed tree head (one is signed first when none covers the records
yet), bundled as ``zorghub-inclusion-proofs/1``, which ``zorghub_verify.py`` checks with the hub's
public key alone.

"About itself" means the party is the record's actor (it sent the message, or took the decision),
its recipient, or the one the actor acted on behalf of. A record about a client (the BSN's pseudonym)
is not thereby about the client's PGO: a proof carries the whole record, so a PGO would learn who
else handled its client's data; that is the "who has seen" question, answered under its own rules.
A request for a record, or a message, with nothing about the requester is refused with
``PROOF_NOT_YOURS`` (the receipt does not tell whether such a record exists), and that decision is an
audit record of its own, like a refused resend.
"""

from __future__ import annotations

from typing import Any

import orjson

from hub.auditor import treehead
from hub.envelope import Delivery
from hub.errors import Rejected
from hub.pipeline import outbox, record
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.store import auditqueries, merkle
from hub.store.audit import COLUMNS, AuditLog
from zorghub_verify import BUNDLE_FORMAT

PROVE_KIND = "zorghub.prove"
PROOFS_KIND = "zorghub.inclusion-proofs"
ACTION = "prove"
NOT_YOURS = "PROOF_NOT_YOURS"
#: the most records one request is answered with
LIMIT = 1000
_PARTY_COLUMNS = tuple(COLUMNS.index(c) for c in auditqueries.PARTY_COLUMNS)


def about(row: Any, party: str) -> bool:
    return any(row[i] == party for i in _PARTY_COLUMNS)


def _seqs(log: AuditLog, doc: dict[str, Any], party: str) -> list[int]:
    """The seqs the request names that are about ``party``."""
    if "record" in doc:
        seq = int(doc["record"])
        return [seq for row in log.iter_rows(seq, seq) if about(row, party)]
    return auditqueries.seqs_about(log.db, str(doc["message_id"]), party, LIMIT)


def covering_head(ctx: HandlerContext, upto: int) -> int:
    """The size of a signed head that holds record ``upto``: the latest, or one signed now."""
    log = ctx.app.audit
    head = treehead.latest(log)
    if head is not None and head.tree_size >= upto:
        return head.tree_size
    merkle.hold_lock(ctx.db)  # the batch's transaction: the tree advances under its own lock as well
    return treehead.sign_head(log, treehead.load_signing_key(ctx.app.settings.signing_key_path, create=True)).tree_size


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env = checked.envelope
    doc = orjson.loads(env.payload)
    asked = f"record {int(doc['record'])}" if "record" in doc else f"message {doc['message_id']}"
    role = ",".join(ctx.app.parties.get(env.sender).roles)
    log = ctx.app.audit
    seqs = _seqs(log, doc, env.sender)
    if not seqs:
        ctx.records.append(record.about(env, role, ACTION, outcome="deny", recipient=env.sender,
                                        reason=f"{NOT_YOURS}: {asked} holds no record about the requester"))
        raise Rejected(f"{asked}: no record about you; a party may ask for proofs of its own records only",
                       rule=NOT_YOURS)
    size = covering_head(ctx, max(seqs))
    proofs = [treehead.inclusion_proof(log, seq, size) for seq in seqs]
    body = {"format": BUNDLE_FORMAT, "request": doc, "proofs": proofs}
    ctx.records.append(record.about(env, role, ACTION, outcome="allow", recipient=env.sender,
                                    reason=f"{asked}: {len(proofs)} inclusion proof(s) against the head of {size}"))
    answer = outbox.reply(ctx.app.topology, env, PROOFS_KIND, body)
    ctx.outgoing.append((answer, record.by_hub(env, "answered", env.sender, f"prove: {len(proofs)} proof(s)")))
    return []


def install(app: Any) -> None:
    app.handlers.setdefault(PROVE_KIND, handle)
