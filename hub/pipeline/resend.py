"""The resend request (``zorghub.resend``): a party gets part of its own inbox stream again.

A receiver that sees a gap in ``x-zorghub-seq`` asks for ``{"stream": "<recipient>/<shard>",
"from": N, "to": M}`` (``to`` optional, inclusive). The hub publishes that stream's outbox entries
with N <= seq <= M again, byte for byte, to the requester's inbox, then an ``accepted`` receipt
that says how many (``resent``). A stream is only ever its recipient's: anyone else's request is
refused with ``RESEND_NOT_YOURS``, and that decision is an audit record of its own. The request is
idempotent per (sender, message id) like every message.
"""

from __future__ import annotations

import orjson

from hub.envelope import Delivery
from hub.errors import Rejected
from hub.pipeline import outbox, record
from hub.pipeline.check import Checked
from hub.pipeline.context import HandlerContext
from hub.pipeline.relay import rebuild
from hub.store.outbox import OutboxStore

ACTION = "resend"
NOT_YOURS = "RESEND_NOT_YOURS"
#: the most entries one request is answered with; a receiver asks again from where it got to
LIMIT = 10_000


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env = checked.envelope
    doc = orjson.loads(env.payload)
    stream, low, high = str(doc["stream"]), int(doc["from"]), doc.get("to")
    recipient = stream.rpartition("/")[0]
    role = ",".join(ctx.app.parties.get(env.sender).roles)
    span = f"{low}..{high if high is not None else ''}"
    if recipient != env.sender:
        ctx.records.append(record.about(env, role, ACTION, outcome="deny", recipient=env.sender,
                                        reason=f"{NOT_YOURS}: stream {stream} {span} is another party's"))
        raise Rejected(f"stream {stream} is not yours: a party may ask for its own deliveries only", rule=NOT_YOURS)
    entries = OutboxStore(ctx.db).stream_entries(stream, low, int(high) if high is not None else None, LIMIT)
    for e in entries:
        o = rebuild(e, lambda digest: ctx.app.audit.payload(digest, verify=True))
        if o is not None:
            ctx.again.append(((e.stream, e.seq), o))
    count = len(ctx.again)
    ctx.records.append(record.about(env, role, ACTION, outcome="allow", recipient=env.sender,
                                    reason=f"stream {stream} {span}: {count} sent again"))
    receipt = outbox.receipt(ctx.app.topology, env, "accepted", "OK", f"{count} message(s) of {stream} sent again",
                             resent=count)
    ctx.outgoing.append((receipt, record.by_hub(env, "answered", env.sender, f"resend: {count} sent again")))
    return []
