"""``zorghub audit``: the auditor's commands.

verify and checkpoint guard the chain; search, who-has-seen, export and replay
read personal data and are open only to a party with the auditor role
(``--as PARTY``, or ``$ZORGHUB_AUDIT_AS``; there is no default party), each use
and each refusal being an audit record itself. Message ids are shown in full and
may be given by a unique prefix.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.cli import audit_tree
from hub.cli.kit import ISO_TIME, current_state, refuse_embedded
from hub.errors import ConfigError
from hub.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

AS_ENV = "ZORGHUB_AUDIT_AS"


# ----- shared --------------------------------------------------------------------------------
class _Ctx:
    """The store, the key and the party registry: what every audit command needs (no broker)."""

    def __init__(self, settings: Settings) -> None:
        from hub.auditor.access import Gate
        from hub.auditor.search import ensure_indexes
        from hub.catalogue.parties import PartyRegistry
        from hub.store import payloads
        from hub.store.audit import AuditLog
        from hub.store.db import Database

        self.settings = settings
        self.db = Database.open_existing(settings.effective_store_url)
        try:
            self.key = settings.key_bytes(create=False)
            self.log = AuditLog(self.db, self.key)
            payloads.attach(self.db, settings.kek_source)
            ensure_indexes(self.db)
            self.parties = PartyRegistry.load(settings.parties_path)
        except BaseException:
            self.db.close()
            raise
        self.gate = Gate(self.log, self.parties)

    def require(self, as_party: str, what: str, **kw: Any) -> Any:
        """The acting party, or a refusal (recorded); a party that does not exist is a usage error."""
        from hub.auditor.access import UnknownParty

        try:
            return self.gate.require(as_party, what, **kw)
        except UnknownParty as exc:
            raise click.BadParameter(exc.reason.removeprefix("refused: "), param_hint="'--as'") from None

    def close(self) -> None:
        self.db.close()


def _open() -> _Ctx:
    return _Ctx(current_state().settings())


def _filter(ctx: _Ctx, opts: dict[str, Any]) -> Any:
    """The selection as given; ``--message-id`` is resolved by ``_resolve``, once the party is let in."""
    from hub.auditor.search import AuditFilter

    actions: list[str] = []
    for a in opts["action"] or ():
        actions += [x.strip() for x in a.split(",") if x.strip()]
    client = ""
    if opts["client"]:
        client = _client(opts["client"], ctx.key, "'--client'")
    return AuditFilter(client=client, party=opts["party"] or "", actor=opts["actor"] or "",
                       recipient=opts["recipient"] or "", role=opts["role"] or "", kind=opts["kind"] or "",
                       actions=tuple(actions), outcome=opts["outcome"] or "", since=opts["since"] or "",
                       until=opts["until"] or "", message_id=opts["message_id"] or "", first_seq=opts["from_seq"] or 0,
                       last_seq=opts["to_seq"] or 0)


def _resolve(ctx: _Ctx, flt: Any) -> Any:
    """The filter with its message id in full: a unique prefix is enough; a refused party learns nothing."""
    from hub.auditor.search import UnknownMessage, resolve_message_id

    if not flt.message_id:
        return flt
    try:
        return dataclasses.replace(flt, message_id=resolve_message_id(ctx.log, flt.message_id))
    except UnknownMessage as exc:
        raise click.BadParameter(exc.reason, param_hint="'--message-id'") from None


def _client(value: str, key: bytes, hint: str) -> str:
    """The pseudonym of a BSN (read from stdin for '-'); an invalid one is a usage error, never echoed."""
    from hub.auditor.search import client_pseudonym

    try:
        return str(client_pseudonym(sys.stdin.readline() if value == "-" else value, key))
    except ConfigError as exc:
        raise click.BadParameter(exc.reason, param_hint=hint) from None


FILTERS = ("client", "party", "actor", "recipient", "role", "kind", "action", "outcome", "since", "until",
           "message_id", "from_seq", "to_seq")


def filter_options(fn: F) -> F:
    """The selection options (all optional, combined with AND), handed on as one ``selection`` dict."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        selection = {name: kwargs.pop(name) for name in FILTERS}
        return fn(*args, selection=selection, **kwargs)

    options = [
        click.option("--client", help="the client's BSN (turned into the pseudonym, never shown) or pseudonym "
                                      "p-...; '-' reads it from stdin"),
        click.option("--party", help="a party that acted, received, or was acted for"),
        click.option("--actor", help="the acting party"),
        click.option("--recipient", help="the receiving party"),
        click.option("--role", help="the acting party's role"),
        click.option("--kind", help="message kind"),
        click.option("--action", "--event", "action", multiple=True,
                     help="event/action, repeatable or comma separated (received, delivered, rejected, ...)"),
        click.option("--outcome", type=click.Choice(["success", "failure", "retry", "allow", "deny"])),
        click.option("--since", type=ISO_TIME, help="from this date or ISO time (inclusive)"),
        click.option("--until", type=ISO_TIME, help="up to this date or ISO time (inclusive)"),
        click.option("--message-id", help="a message id, or a unique prefix of one"),
        click.option("--from-seq", type=click.IntRange(min=1)),
        click.option("--to-seq", type=click.IntRange(min=1)),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def as_option(fn: F) -> F:
    return click.option("--as", "as_party", envvar=AS_ENV, show_envvar=True, required=True, metavar="PARTY",
                        help="the party doing this; must hold the auditor role (no default)")(fn)


@click.group("audit")
def cli() -> None:
    """The audit log: verify the chain; search, export and replay (auditors only)."""


# ----- verify and checkpoints ----------------------------------------------------------------------
@cli.command("verify")
@click.option("--from", "start", type=click.IntRange(min=1), default=1, help="first record (default 1)")
@click.option("--to", "end", type=click.IntRange(min=1), help="last record (default: the head)")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="an exported checkpoint file: also detects a truncated tail")
@click.option("--workers", type=click.IntRange(min=1), help="processes for a large log (default: one per core)")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False),
              help="the key the tree heads are checked with (default: the signing key's public half)")
def verify(start: int, end: int | None, checkpoint: str | None, workers: int | None, public_key: str | None) -> int:
    """Verify the hash chain (all of it, or a range)."""
    from hub.auditor.checkpoints import Checkpoint, check_against, check_stored
    from hub.store.integrity import verify_store

    ctx = _open()
    try:
        # large logs are checked in slices on every core; the verdict is the single pass's
        result = verify_store(ctx.settings.effective_store_url, ctx.key, start, end,
                              workers=workers or (os.cpu_count() or 1), kek_source=ctx.settings.kek_source)
        if not result.ok:
            click.echo(f"BROKEN at record {result.first_bad_seq}: {result.problem}", err=True)
            return 1
        click.echo(f"ok: {result.checked} records verified in {result.seconds:.2f}s "
                   f"({result.rate:,.0f} records/s)")
        stored = check_stored(ctx.log, ctx.key, start, end)
        if not stored.ok:
            click.echo(f"BROKEN at record {stored.bad_seq}: {stored.problem}", err=True)
            return 1
        if checkpoint:
            cp = Checkpoint.load(checkpoint)
            checked = check_against(ctx.log, ctx.key, cp)
            if not checked.ok:
                at = f" at record {checked.bad_seq}" if checked.bad_seq else ""
                click.echo(f"BROKEN{at}: {checked.problem}", err=True)
                return 1
            click.echo(f"ok: the log still holds record {cp.seq} as signed by the checkpoint of {cp.ts}")
        if start == 1 and end is None:
            return audit_tree.check_tree(ctx.settings, ctx.log, public_key)
        return 0
    finally:
        ctx.close()


@cli.command("checkpoint")
@click.option("--export", metavar="FILE", help="write the signed checkpoint to FILE")
@click.option("--no-record", is_flag=True, help="do not append a checkpoint record to the log (needs --export)")
def checkpoint(export: str | None, no_record: bool) -> int:
    """Sign the chain head (and export the checkpoint to keep elsewhere)."""
    from hub.auditor.checkpoints import append_checkpoint, head_checkpoint

    if no_record and not export:
        raise click.UsageError("--no-record without --export would sign the head and keep the signature nowhere")
    ctx = _open()
    try:
        if no_record:
            cp = head_checkpoint(ctx.log, ctx.key)
        else:
            cp, rec = append_checkpoint(ctx.log, ctx.key)
            click.echo(f"checkpoint record {rec.seq} signs record {cp.seq}")
        if export:
            cp.save(export)
            click.echo(f"exported checkpoint of record {cp.seq} to {export}: keep it somewhere else")
        return 0
    finally:
        ctx.close()


# ----- search -------------------------------------------------------------------------------------
@cli.command("search")
@filter_options
@as_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
def search(selection: dict[str, Any], as_party: str, fmt: str, limit: int) -> int:
    """Search the audit trail (auditors only)."""
    from hub.auditor.search import format_json, format_table, write_csv
    from hub.auditor.search import search as run

    ctx = _open()
    try:
        flt = _filter(ctx, selection)
        ctx.require(as_party, "search", client=flt.client, detail=flt.describe())
        flt = _resolve(ctx, flt)
        records = run(ctx.log, flt, limit=limit)
        ctx.gate.record("search", as_party, client=flt.client, reason=f"{len(records)} record(s) found",
                        detail=flt.describe())
        if fmt == "json":
            click.echo(format_json(records))
        elif fmt == "csv":
            write_csv(records, sys.stdout)
        else:
            click.echo(format_table(records))
            click.echo(f"{len(records)} record(s)", err=True)
        return 0
    finally:
        ctx.close()


@cli.command("who-has-seen")
@click.argument("client")
@click.option("--with-auditors", is_flag=True, help="also list auditors who looked the client up")
@as_option
def who_has_seen(client: str, with_auditors: bool, as_party: str) -> int:
    """The parties that received or queried a client's data (auditors only).

    CLIENT is the client's BSN (never shown) or pseudonym; '-' reads it from stdin.
    """
    from hub.auditor.search import who_has_seen as run

    ctx = _open()
    try:
        pseudonym = _client(client, ctx.key, "'CLIENT'")
        ctx.require(as_party, "who-has-seen", client=pseudonym)
        found = run(ctx.log, pseudonym)
        seen, denied, audited = found.seen, found.denied, found.audited
        ctx.gate.record("who-has-seen", as_party, client=pseudonym, reason=f"{len(seen)} part(y/ies)")
        click.echo(f"Parties that received or queried the data of client {pseudonym[:14]}…:")
        for s in seen:
            party = ctx.parties.find(s.party)
            label = party.label if party else s.party
            click.echo(f"  {label:45s} {'+'.join(sorted(s.how)):16s} {s.count:4d}x  {s.first} .. {s.last}")
        if not seen:
            click.echo("  (none)")
        if denied:
            click.echo("Refused attempts (these parties did not get the data):")
            for s in denied:
                party = ctx.parties.find(s.party)
                label = party.label if party else s.party
                click.echo(f"  {label:45s} {'denied':16s} {s.count:4d}x  {s.first} .. {s.last}")
        if audited and with_auditors:
            click.echo("Auditors who looked the client up:")
            for s in audited:
                click.echo(f"  {s.party:45s} {'+'.join(sorted(s.how)):16s} {s.count:4d}x  {s.first} .. {s.last}")
        return 0
    finally:
        ctx.close()


# ----- export -------------------------------------------------------------------------------------
@cli.command("export")
@filter_options
@as_option
@click.option("--format", "fmt", type=click.Choice(["fhir", "csv"]), default="fhir", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="file to write (default: stdout)")
def export(selection: dict[str, Any], as_party: str, fmt: str, output: str | None) -> int:
    """Export as a FHIR R4 AuditEvent Bundle or CSV (auditors only)."""
    from hub.auditor.export import write_bundle
    from hub.auditor.search import iter_records, write_csv

    ctx = _open()
    try:
        flt = _filter(ctx, selection)
        ctx.require(as_party, "export", client=flt.client, detail=flt.describe())
        flt = _resolve(ctx, flt)
        upto, _ = ctx.log.head()  # what existed when the export began: not its own record
        flt = dataclasses.replace(flt, last_seq=min(flt.last_seq or upto, upto))
        out_path = Path(output) if output and output != "-" else None
        if fmt == "csv":
            with (out_path.open("w", newline="", encoding="utf-8") if out_path else _NoClose(sys.stdout)) as fh:
                n = write_csv(iter_records(ctx.log, flt), fh)
        else:
            with (out_path.open("wb") if out_path else _NoClose(sys.stdout.buffer)) as fh:
                n = write_bundle(iter_records(ctx.log, flt), fh, ctx.parties)
        ctx.gate.record("export", as_party, client=flt.client,
                        reason=f"{n} record(s) as {'CSV' if fmt == 'csv' else 'FHIR AuditEvent Bundle'}",
                        detail={**flt.describe(), "format": fmt})
        click.echo(f"exported {n} record(s)" + (f" to {out_path}" if out_path else ""), err=True)
        return 0
    finally:
        ctx.close()


class _NoClose:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()


# ----- replay -------------------------------------------------------------------------------------
@cli.command("replay")
@filter_options
@as_option
@click.option("--to-party", metavar="PARTY", help="deliver into this party's inbox")
@click.option("--sandbox", metavar="QUEUE", help="deliver into this sandbox queue")
@click.option("--resume", metavar="JOB", help="continue a cancelled replay job where it stopped")
@click.option("--dry-run", is_flag=True, help="re-translate 'delivered' messages, deliver nothing")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="at most this many messages per second")
@click.option("--mapping-version", multiple=True, metavar="NAME=VERSION",
              help="dry run: re-translate with this mapping version instead of the recorded one")
@click.option("--diffs", type=click.IntRange(min=0), default=20, show_default=True,
              help="dry run: show at most this many diffs")
def replay(selection: dict[str, Any], as_party: str, to_party: str | None, sandbox: str | None,
           resume: str | None, dry_run: bool, rate: float | None, mapping_version: tuple[str, ...],
           diffs: int) -> int:
    """Re-deliver recorded messages exactly, or --dry-run re-translate them (auditors only)."""
    chosen = [name for name, on in (("--to-party", to_party), ("--sandbox", sandbox), ("--resume", resume),
                                    ("--dry-run", dry_run)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other")
    if mapping_version and not dry_run:
        raise click.UsageError("--mapping-version is for --dry-run only")
    if dry_run:
        return _dry_run(selection, as_party, mapping_version, diffs)
    if not chosen:
        raise click.UsageError("say where to: --to-party PARTY, --sandbox QUEUE, --resume JOB, or --dry-run")
    return _replay(selection, as_party, to_party, sandbox, resume, rate)


def _replay(selection: dict[str, Any], as_party: str, to_party: str | None, sandbox: str | None,
            resume: str | None, rate: float | None) -> int:
    from hub.auditor.progress import Cancel, Progress
    from hub.auditor.replay import Replayer, Target
    from hub.catalogue.topology import Topology
    from hub.cli.kit import did_you_mean
    from hub.transports import open_transport

    ctx = _open()
    try:
        settings = ctx.settings
        flt = _filter(ctx, selection)
        party = ctx.require(as_party, "replay", client=flt.client, detail={**flt.describe(), "resume": resume or ""})
        flt = _resolve(ctx, flt)
        if to_party and ctx.parties.find(to_party) is None:
            raise click.BadParameter(f"unknown party {to_party!r}"
                                     f"{did_you_mean(to_party, (p.name for p in ctx.parties))}",
                                     param_hint="'--to-party'")
        refuse_embedded(settings, "replay")
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        transport = open_transport(settings.broker_url)
        try:
            replayer = Replayer(ctx.log, transport, topology, as_party, actor_role=",".join(party.roles))
            job = replayer.cursors.get(resume) if resume else \
                replayer.start(flt, Target(to_party or "", sandbox or ""))
            target = replayer.job_spec(job)[1]
            how = f"resumed after record {job.cursor_seq}" if resume else "started"
            ctx.gate.record("replay", as_party, client=flt.client, recipient=target.label,
                            reason=f"job {job.job_id}: {how}, {job.total} message(s) selected",
                            detail={**flt.describe(), "job": job.job_id, "target": target.label})
            progress = Progress(job.total, "replay ", done=job.done)
            with Cancel().on_sigint() as cancel:
                result = replayer.run(job, rate=rate or 0.0, cancel=cancel, progress=progress)
            progress.finish()
        finally:
            transport.close()
        for seq, message_id, why in result.skipped:
            click.echo(f"record {seq} (message {message_id}): {why}", err=True)
        state = "cancelled" if result.cancelled else "done"
        ctx.gate.record("replay", as_party, client=flt.client, recipient=target.label,
                        reason=f"job {job.job_id} {state}: {result.delivered} of {result.selected} delivered, "
                               f"{len(result.skipped)} skipped", detail={"job": job.job_id})
        click.echo(f"replay job {job.job_id} {state}: {result.delivered} of {result.selected} message(s) delivered "
                   f"to {target.label}, {len(result.skipped)} skipped, {result.seconds:.1f}s")
        if result.cancelled:
            click.echo(f"resume with: zorghub audit replay --resume {job.job_id} --as {as_party}", err=True)
            return 130
        if not result.selected:
            click.echo("zorghub: no recorded message matches the selection: nothing was replayed", err=True)
            return 1
        return 1 if result.skipped else 0
    finally:
        ctx.close()


def _dry_run(selection: dict[str, Any], as_party: str, mapping_version: tuple[str, ...], diffs: int) -> int:
    from hub.app import _load_mappings
    from hub.auditor.progress import Cancel, Progress
    from hub.auditor.replay import dry_run, mapping_versions
    from hub.auditor.search import count
    from hub.errors import UnknownMapping

    registry = _load_mappings()
    if registry is None:
        raise ConfigError("no mapping registry is available for a dry run")
    try:
        versions = mapping_versions(registry, mapping_version)
    except UnknownMapping as exc:
        raise click.BadParameter(exc.reason, param_hint="'--mapping-version'") from None
    ctx = _open()
    try:
        flt = _filter(ctx, selection)
        ctx.require(as_party, "dry-run", client=flt.client, detail={**flt.describe(), **versions})
        flt = _resolve(ctx, flt)
        flt = dataclasses.replace(flt, actions=("delivered",))
        progress = Progress(count(ctx.log, flt), "dry run ")
        with Cancel().on_sigint() as cancel:
            result = dry_run(ctx.log, registry, flt, versions=versions, progress=progress, cancel=cancel)
        progress.finish()
        for d in result.failures:
            click.echo(f"FAIL record {d.seq} message {d.message_id} ({d.mapping} v{d.version}):\n{d.diff}")
        for d in result.changed[:diffs]:
            click.echo(f"CHANGED record {d.seq} message {d.message_id} ({d.mapping} v{d.version}):\n{d.diff}\n")
        for seq, message_id, why in result.gone:
            click.echo(f"record {seq} (message {message_id}): {why}", err=True)
        summary = (f"dry run: {result.checked} delivered message(s); {result.identical} re-translated identically, "
                   f"{result.passthrough} passed through untranslated, {result.generated} built by a handler, "
                   f"{len(result.failures)} failure(s), "
                   f"{len(result.gone)} without payload")
        if versions:
            summary += (f"; with {', '.join(f'{k} v{v}' for k, v in versions.items())}: "
                        f"{len(result.changed)} changed, {result.unchanged_other_version} unchanged")
        click.echo(summary)
        ctx.gate.record("dry-run", as_party, client=flt.client, reason=summary, detail=flt.describe())
        unused = sorted(set(versions) - result.mappings)
        if unused:
            click.echo(f"zorghub: no selected message was translated by {', '.join(unused)}: "
                       "the other version was not tried", err=True)
            return 1
        if not result.checked:
            click.echo("zorghub: no delivered message matches the selection: nothing was re-translated", err=True)
            return 1
        return 0 if result.ok else 1
    finally:
        ctx.close()


@cli.command("jobs")
def jobs() -> int:
    """List replay jobs and their cursors."""
    from hub.auditor.progress import Cursors

    ctx = _open()
    try:
        found = Cursors(ctx.db).list()
        for job in found:
            click.echo(f"{job.job_id}  {job.kind:7s} {job.status:9s} {job.done}/{job.total}  after record "
                       f"{job.cursor_seq}  by {job.actor}  {job.created_at}")
        click.echo(f"{len(found)} replay job(s)", err=True)
        return 0
    finally:
        ctx.close()


# ----- retention ----------------------------------------------------------------------------------
@cli.command("retention")
@click.argument("action", type=click.Choice(["show", "set", "prune"]), default="show")
@click.option("--payload-days", type=int, help="set: keep payloads this many days")
@click.option("--metadata-years", type=int, help="set: keep the metadata this many years (at least 5)")
@click.option("--force", is_flag=True, help="allow metadata retention under 5 years")
@click.option("--dry-run", is_flag=True, help="prune: only count")
@click.option("--as", "as_party", envvar=AS_ENV, show_envvar=True, metavar="PARTY",
              help="set, prune: the party doing this; an auditor or operator (no default)")
def retention(action: str, payload_days: int | None, metadata_years: int | None, force: bool, dry_run: bool,
              as_party: str | None) -> int:
    """The retention policy: show, set, prune payloads."""
    from hub.auditor import retention as r

    if action != "show" and not as_party:
        raise click.UsageError(f"retention {action}: say who does it with --as PARTY (or ${AS_ENV})")
    who = as_party or ""
    if action == "set" and payload_days is None and metadata_years is None:
        raise click.UsageError("retention set: give --payload-days and/or --metadata-years")
    if action != "set" and (payload_days is not None or metadata_years is not None or force):
        raise click.UsageError(f"retention {action}: --payload-days, --metadata-years and --force are for 'set'")
    if action != "prune" and dry_run:
        raise click.UsageError(f"retention {action}: --dry-run is for 'prune'")
    ctx = _open()
    try:
        path = r.policy_path(ctx.settings.home_path)
        policy = r.load_policy(path)
        if action == "set":
            policy = r.RetentionPolicy(
                payload_days=payload_days if payload_days is not None else policy.payload_days,
                metadata_years=metadata_years if metadata_years is not None else policy.metadata_years)
            ctx.require(who, "retention", roles=("auditor", "operator"))
            try:
                r.save_policy(path, policy, force=force)
            except ConfigError as exc:  # a value given on this command line
                raise click.UsageError(exc.reason) from None
            ctx.gate.record("retention", who, reason=f"policy set: {policy}")
        if action == "prune":
            ctx.require(who, "prune", roles=("auditor", "operator"))
            result = r.prune_payloads(ctx.log, policy, dry_run=dry_run)
            verb = "would prune" if dry_run else "pruned"
            ctx.gate.record("prune", who, reason=f"{verb} {result.pruned} payload(s) stored before "
                                                      f"{result.cutoff or '(no payload retention set)'}")
            click.echo(f"{verb} {result.pruned} payload(s) ({result.bytes_freed:,} bytes) older than "
                       f"{result.cutoff or '(no payload retention set)'}; metadata and hashes kept")
        payload = f"{policy.payload_days} days" if policy.payload_days is not None else "kept with the metadata"
        click.echo(f"retention: payloads {payload}; metadata {policy.metadata_years} years "
                   f"({r.metadata_due(ctx.log, policy)} record(s) past it, never deleted by this tool)")
        return 0
    finally:
        ctx.close()


@cli.group("payload-keys")
def payload_keys() -> None:
    """The data keys that seal the stored payloads."""


@payload_keys.command("rotate")
@click.option("--to", "target", required=True, metavar="SOURCE",
              help="the new key-encryption key: file:PATH (made if absent) or env:NAME")
@click.option("--as", "as_party", envvar=AS_ENV, show_envvar=True, required=True, metavar="PARTY",
              help="the party doing this; an auditor or operator (no default)")
def rotate(target: str, as_party: str) -> int:
    """Re-wrap every live data key under a new key-encryption key; the sealed payloads are not touched."""
    from hub.store import payloads

    ctx = _open()
    try:
        ctx.require(as_party, "rotate-kek", roles=("auditor", "operator"))
        old = payloads.kek_provider(ctx.settings.kek_source)
        new = payloads.kek_provider(target, create=True)
        n = payloads.rewrap(ctx.db, old, new)
        ctx.gate.record("rotate-kek", as_party, reason=f"{n} data key(s) re-wrapped under KEK {new.kek_id}")
        click.echo(f"re-wrapped {n} data key(s) under the new key-encryption key ({new.kek_id}); "
                   f"set payload_kek = {target!r} from now on")
        return 0
    finally:
        ctx.close()


# the Merkle tree's commands (tree-head, prove, consistency, key export, witness) join this group
for _command in audit_tree.cli.commands.values():
    cli.add_command(_command)
