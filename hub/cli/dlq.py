"""``zorghub dlq``: the dead letter channel for operators: list, show and requeue.

A requeue names its operator (``--as``, default ``$USER``) and a reason, and is
audited. On the embedded ``memory://`` broker no hub runs beside the command,
so a requeue there refuses and changes nothing.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Any

import click

from hub.cli.kit import pass_settings
from hub.formats import bsn as bsnlib
from hub.settings import Settings
from hub.store.deadletters import DeadLetterEntry


def _operator() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return ""


def _line(e: DeadLetterEntry) -> str:
    state = ""
    if e.requeued_at:
        state = f"  requeued {e.requeued_at} by {e.requeued_by} (generation {e.requeue_gen})"
    elif e.requeue_gen:
        state = f"  requeue pending (generation {e.requeue_gen} not confirmed: requeue it again)"
    return (f"{e.ts}  {e.message_id}  {e.sender or '-':14s} {e.kind or '-':18s} {e.error_class}/{e.rule}: "
            f"{e.reason}{state}")


@click.group(name="dlq", help="The dead letter channel: list, show and requeue dead letters.")
def cli() -> None:
    """The group the CLI's command table loads."""


def _filters(fn: Any) -> Any:
    fn = click.option("--kind", default="", help="only dead letters of this message kind")(fn)
    return click.option("--rule", default="", help="only dead letters with this rule (e.g. NO_ROUTE)")(fn)


@cli.command(name="list", help="List open dead letters (--all: requeued ones too).")
@click.option("--all", "include_requeued", is_flag=True, help="include requeued ones")
@_filters
@pass_settings
def list_cmd(settings: Settings, include_requeued: bool, rule: str, kind: str) -> None:
    from hub.store.db import Database
    from hub.store.deadletters import DeadLetterStore

    db = Database.open_existing(settings.effective_store_url)
    try:
        entries = [e for e in DeadLetterStore(db).list(include_requeued)
                   if (not rule or e.has_rule(rule)) and (not kind or e.kind == kind)]
    finally:
        db.close()
    for e in entries:
        click.echo(_line(e))
    click.echo(f"{len(entries)} dead letter(s)", err=True)


@cli.command(name="show", help="Show one dead letter (by id or a unique prefix): headers, reason, rule, "
                                "payload digest and its audit trail. --payload prints the payload, for auditors.")
@click.argument("message_id")
@click.option("--payload", "with_payload", is_flag=True, help="print the payload itself (auditor role only)")
@click.option("--as", "as_party", default=_operator, show_default="$USER",
              help="who is asking; --payload needs a party with the auditor role")
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of text")
@pass_settings
def show_cmd(settings: Settings, message_id: str, with_payload: bool, as_party: str, as_json: bool) -> None:
    from hub.auditor.access import Gate
    from hub.catalogue.parties import PartyRegistry
    from hub.store.audit import AuditLog
    from hub.store.db import Database
    from hub.store.deadletters import DeadLetterStore

    db = Database.open_existing(settings.effective_store_url)
    try:
        audit = AuditLog(db, settings.key_bytes(create=False))
        from hub.store import payloads

        payloads.attach(db, settings.kek_source)
        store = DeadLetterStore(db)
        resolved = store.resolve(message_id, include_requeued=True)
        entries = store.history(resolved)
        body: bytes | None = None
        if with_payload:
            gate = Gate(audit, PartyRegistry.load(settings.parties_path))
            gate.require(as_party, "dlq-payload", detail={"message_id": resolved})
            body = audit.payload(entries[-1].payload_sha256)
            gate.record("dlq-payload", as_party, message_id=resolved,
                        reason="pruned: nothing shown" if body is None else "payload shown")
        trail = [(r.seq, r.ts, r.action, r.actor, r.outcome, r.recipient, r.reason)
                 for r in audit.for_message(resolved)]
    finally:
        db.close()
    if as_json:
        doc: dict[str, Any] = {"message_id": resolved, "entries": [_entry_json(e) for e in entries],
                               "audit": [dict(zip(("seq", "ts", "action", "actor", "outcome", "recipient",
                                                   "reason"), t, strict=True)) for t in trail]}
        if body is not None:
            doc["payload"] = body.decode("utf-8", "replace")
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"message   {resolved}")
    for e in entries:
        click.echo(f"entry     {e.seq}  {e.state}")
        for label, value in (("dead at", e.ts), ("sender", e.sender or "(unknown)"), ("kind", e.kind or "-"),
                             ("content", e.content_type or "-"), ("routing", e.routing_key or "-"),
                             ("error", e.error_class), ("rule", e.rule), ("reason", e.reason),
                             ("payload", f"sha256 {e.payload_sha256}")):
            click.echo(f"  {label:9s} {value}")
        for key, value in sorted(_headers(e).items()):
            click.echo(f"  header    {key}: {bsnlib.redact(str(value))}")
        if e.requeue_gen:
            click.echo(f"  requeue   generation {e.requeue_gen} by {e.requeued_by} "
                       f"{'at ' + e.requeued_at if e.requeued_at else '(not confirmed)'}: {e.requeue_reason}")
    click.echo("audit")
    for seq, ts, action, actor, outcome, recipient, reason in trail:
        to = f" -> {recipient}" if recipient else ""
        click.echo(f"  {seq:>6} {ts}  {action:14s} {actor}{to} {outcome}{': ' + reason if reason else ''}")
    if body is not None:
        click.echo("payload")
        sys.stdout.flush()
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.flush()


@cli.command(name="requeue", help="Send dead letters through the hub again: by id (or unique prefix), "
                                   "--rule, --kind or --all. Audited; --reason is required.")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "all_entries", is_flag=True, help="every open dead letter")
@_filters
@click.option("--reason", default="", help="why (required unless --dry-run): it goes into the audit log")
@click.option("--as", "operator", default=_operator, show_default="$USER", help="the operator's name")
@click.option("--dry-run", is_flag=True, help="list what would be requeued and change nothing")
@pass_settings
def requeue_cmd(settings: Settings, message_ids: tuple[str, ...], all_entries: bool, rule: str, kind: str,
                reason: str, operator: str, dry_run: bool) -> None:
    from hub.ops.requeue import Selection, requeue

    if not dry_run and not reason.strip():
        raise click.UsageError("--reason is required: say why this is requeued (it is audited)")
    done = requeue(settings, Selection(tuple(message_ids), rule, kind, all_entries), operator=operator,
                   reason=reason, dry_run=dry_run)
    for r in done:
        click.echo(_line(r.entry) if dry_run else f"requeued {r.entry.message_id} (generation {r.generation})")
    if dry_run:
        click.echo(f"would requeue {len(done)} message(s); nothing was changed")
    else:
        click.echo(f"requeued {len(done)} message(s)")


def _headers(e: DeadLetterEntry) -> dict[str, Any]:
    try:
        value = json.loads(e.headers or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _entry_json(e: DeadLetterEntry) -> dict[str, Any]:
    return {"seq": e.seq, "state": e.state, "ts": e.ts, "sender": e.sender, "kind": e.kind,
            "content_type": e.content_type, "routing_key": e.routing_key, "error_class": e.error_class,
            "rule": e.rule, "reason": e.reason, "payload_sha256": e.payload_sha256, "headers": _headers(e),
            "requeue_generation": e.requeue_gen, "requeued_at": e.requeued_at, "requeued_by": e.requeued_by,
            "requeue_reason": e.requeue_reason}
