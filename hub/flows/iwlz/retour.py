"""A retourbericht from a party that speaks only XML, matched to the message the hub wrote for it.

The hub writes an IO31, AW33, CA317... for an XML-only party (``speak``) and keeps its
BerichtIdentificatie (``iwlz_sent``). That party's retour repeats the header of the message it
answers, so its ``BerichtIdentificatie/Identificatie`` finds the original. A retour whose codes
are all ``0200`` closes the exchange (audited ``iwlz.retour``); one with any other code is
dead-lettered with every code it carries (rule ``RETOUR_REJECTED``), so an operator sees which
record the party refused and why. A retour that fails its XSD, or answers no message the hub
sent that party, is refused (``XSD``, ``RETOUR_UNKNOWN``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.envelope import Delivery
from hub.errors import Rejected, SchemaViolation
from hub.flows.iwlz.xmltree import BASE_NS
from hub.formats.iwlz import Validator, safe_parse
from hub.pipeline import record
from hub.store.flows import iwlz as store

if TYPE_CHECKING:
    from hub.pipeline.check import Checked
    from hub.pipeline.context import HandlerContext

#: Each retour and the message it answers.
ANSWERS = {"IO32": "IO31", "AW34": "AW33", "AW36": "AW35", "AW310": "AW39", "CA318": "CA317", "CA320": "CA319"}
NO_REMARK = "0200"


def handle(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    env = checked.envelope
    msg = checked.kind.name.split(".", 1)[1]
    schema_dir = ctx.app.checker.schema_dir
    if schema_dir is not None:
        issues = Validator(schema_dir).validate(msg, env.payload)
        if issues:
            raise SchemaViolation(f"{msg} violates its XSD: {issues[0][1]}", rule="XSD")
    root = safe_parse(env.payload).getroot()
    ident = root.findtext(f"./{{*}}Header/{{*}}BerichtIdentificatie/{{{BASE_NS}}}Identificatie") or ""
    row = store.sent(ctx.db, env.sender, ident)
    if row is None or str(row[1]) != ANSWERS.get(msg):
        raise Rejected(f"this {msg} answers no {ANSWERS.get(msg)} the hub sent you (Identificatie {ident!r})",
                       rule="RETOUR_UNKNOWN")
    original, heen, subject, record_id = str(row[0]), str(row[1]), str(row[2]), str(row[3])
    codes = list(dict.fromkeys(el.text or "" for el in root.iter("{*}RetourCode")))
    rejecting = [c for c in codes if c != NO_REMARK]
    party = ctx.app.parties.get(env.sender)
    verdict = f"rejects it: retourcodes {', '.join(rejecting)}" if rejecting else "accepts it (0200)"
    ctx.records.append(record.about(env, ",".join(party.roles), "iwlz.retour", record_type=subject,
                                    record_id=record_id,
                                    reason=f"{msg} answers {heen} {original} ({subject} {record_id}); {verdict}"))
    if rejecting:
        ctx.refuse(Rejected(f"{env.sender} rejected {heen} {original} ({subject} {record_id}) with retourcodes "
                            f"{', '.join(rejecting)}", rule="RETOUR_REJECTED"))
    return []
