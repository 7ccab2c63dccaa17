"""``zorghub audit``: the auditor's commands.

verify and checkpoint guard the chain; search, who-has-seen, export and replay
read personal data and are open only to a party with the auditor role
(``--as PARTY``), each use and each refusal being an audit record itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.settings import Settings

DEFAULT_AS = "operator"


# ----- shared --------------------------------------------------------------------------------
class _Ctx:
    """The store, the key and the party registry: what every audit command needs (no broker)."""

    def __init__(self, settings: Settings) -> None:
        from hub.auditor.access import Gate
        from hub.auditor.search import ensure_indexes
        from hub.catalogue.parties import PartyRegistry
        from hub.store.audit import AuditLog
        from hub.store.db import Database

        self.settings = settings
        self.db = Database.open_existing(settings.effective_store_url)
        self.key = settings.key_bytes(create=False)
        self.log = AuditLog(self.db, self.key)
        ensure_indexes(self.db)
        self.parties = PartyRegistry.load(settings.parties_path)
        self.gate = Gate(self.log, self.parties)

    def close(self) -> None:
        self.db.close()


def _filter(args: argparse.Namespace, key: bytes) -> Any:
    from hub.auditor.search import AuditFilter, client_pseudonym

    actions: list[str] = []
    for a in args.action or []:
        actions += [x.strip() for x in a.split(",") if x.strip()]
    client = ""
    if args.client:
        client = client_pseudonym(sys.stdin.readline() if args.client == "-" else args.client, key)
    return AuditFilter(client=client, party=args.party or "", actor=args.actor or "", recipient=args.recipient or "",
                       role=args.role or "", kind=args.kind or "", actions=tuple(actions), outcome=args.outcome or "",
                       since=args.since or "", until=args.until or "", message_id=args.message_id or "",
                       first_seq=args.from_seq or 0, last_seq=args.to_seq or 0)


def _add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection (all optional, combined with AND)")
    g.add_argument("--client", help="the client's BSN (turned into the pseudonym, never shown) or pseudonym p-...; "
                                    "'-' reads it from stdin")
    g.add_argument("--party", help="a party that acted, received, or was acted for")
    g.add_argument("--actor", help="the acting party")
    g.add_argument("--recipient", help="the receiving party")
    g.add_argument("--role", help="the acting party's role")
    g.add_argument("--kind", help="message kind")
    g.add_argument("--action", "--event", action="append", help="event/action, repeatable or comma separated "
                                                                "(received, delivered, rejected, queried, ...)")
    g.add_argument("--outcome", help="success, failure, retry, allow or deny")
    g.add_argument("--since", help="from this date or ISO time (inclusive)")
    g.add_argument("--until", help="up to this date or ISO time (inclusive)")
    g.add_argument("--message-id")
    g.add_argument("--from-seq", type=int)
    g.add_argument("--to-seq", type=int)


def _add_as(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_party", default=os.environ.get("ZORGHUB_AUDIT_AS", DEFAULT_AS),
                   help="the party doing this; must hold the auditor role (default: $ZORGHUB_AUDIT_AS or "
                        f"{DEFAULT_AS!r})")


# ----- verify and checkpoints ----------------------------------------------------------------------
def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.checkpoints import Checkpoint, check_against, check_stored

    ctx = _Ctx(settings)
    try:
        from hub.store.integrity import verify_store

        # large logs are checked in slices on every core; the verdict is the single pass's
        result = verify_store(ctx.settings.effective_store_url, ctx.key, args.start, args.end,
                              workers=args.workers or (os.cpu_count() or 1))
        if not result.ok:
            print(f"BROKEN at record {result.first_bad_seq}: {result.problem}", file=sys.stderr)
            return 1
        print(f"ok: {result.checked} records verified in {result.seconds:.2f}s ({result.rate:,.0f} records/s)")
        stored = check_stored(ctx.log, ctx.key, args.start, args.end)
        if not stored.ok:
            print(f"BROKEN at record {stored.bad_seq}: {stored.problem}", file=sys.stderr)
            return 1
        if args.checkpoint:
            cp = Checkpoint.load(args.checkpoint)
            checked = check_against(ctx.log, ctx.key, cp)
            if not checked.ok:
                at = f" at record {checked.bad_seq}" if checked.bad_seq else ""
                print(f"BROKEN{at}: {checked.problem}", file=sys.stderr)
                return 1
            print(f"ok: the log still holds record {cp.seq} as signed by the checkpoint of {cp.ts}")
        return 0
    finally:
        ctx.close()


def cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.checkpoints import append_checkpoint, head_checkpoint

    ctx = _Ctx(settings)
    try:
        if args.no_record:
            cp = head_checkpoint(ctx.log, ctx.key)
        else:
            cp, rec = append_checkpoint(ctx.log, ctx.key)
            print(f"checkpoint record {rec.seq} signs record {cp.seq}")
        if args.export:
            cp.save(args.export)
            print(f"exported checkpoint of record {cp.seq} to {args.export}: keep it somewhere else")
        return 0
    finally:
        ctx.close()


# ----- search -------------------------------------------------------------------------------------
def cmd_audit_search(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.search import format_json, format_table, search, write_csv

    ctx = _Ctx(settings)
    try:
        flt = _filter(args, ctx.key)
        ctx.gate.require(args.as_party, "search", client=flt.client, detail=flt.describe())
        records = search(ctx.log, flt, limit=args.limit)
        ctx.gate.record("search", args.as_party, client=flt.client, reason=f"{len(records)} record(s) found",
                        detail=flt.describe())
        if args.format == "json":
            print(format_json(records))
        elif args.format == "csv":
            write_csv(records, sys.stdout)
        else:
            print(format_table(records))
            print(f"{len(records)} record(s)", file=sys.stderr)
        return 0
    finally:
        ctx.close()


def cmd_audit_who(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.search import client_pseudonym, who_has_seen

    ctx = _Ctx(settings)
    try:
        client = client_pseudonym(sys.stdin.readline() if args.client == "-" else args.client, ctx.key)
        ctx.gate.require(args.as_party, "who-has-seen", client=client)
        found = who_has_seen(ctx.log, client)
        seen, denied, audited = found.seen, found.denied, found.audited
        ctx.gate.record("who-has-seen", args.as_party, client=client, reason=f"{len(seen)} part(y/ies)")
        print(f"Parties that received or queried the data of client {client[:14]}…:")
        for s in seen:
            party = ctx.parties.find(s.party)
            label = party.label if party else s.party
            print(f"  {label:45s} {'+'.join(sorted(s.how)):16s} {s.count:4d}x  {s.first} .. {s.last}")
        if not seen:
            print("  (none)")
        if denied:
            print("Refused attempts (these parties did not get the data):")
            for s in denied:
                party = ctx.parties.find(s.party)
                label = party.label if party else s.party
                print(f"  {label:45s} {'denied':16s} {s.count:4d}x  {s.first} .. {s.last}")
        if audited and args.with_auditors:
            print("Auditors who looked the client up:")
            for s in audited:
                print(f"  {s.party:45s} {'+'.join(sorted(s.how)):16s} {s.count:4d}x  {s.first} .. {s.last}")
        return 0
    finally:
        ctx.close()


# ----- export -------------------------------------------------------------------------------------
def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.export import write_bundle
    from hub.auditor.search import iter_records, write_csv

    ctx = _Ctx(settings)
    try:
        flt = _filter(args, ctx.key)
        ctx.gate.require(args.as_party, "export", client=flt.client, detail=flt.describe())
        upto, _ = ctx.log.head()  # what existed when the export began: not its own record
        flt = dataclasses.replace(flt, last_seq=min(flt.last_seq or upto, upto))
        out_path = Path(args.output) if args.output and args.output != "-" else None
        if args.format == "csv":
            with (out_path.open("w", newline="", encoding="utf-8") if out_path else _stdout_text()) as fh:
                n = write_csv(iter_records(ctx.log, flt), fh)
        else:
            with (out_path.open("wb") if out_path else _stdout_bytes()) as fh:
                n = write_bundle(iter_records(ctx.log, flt), fh, ctx.parties)
        ctx.gate.record("export", args.as_party, client=flt.client,
                        reason=f"{n} record(s) as {'CSV' if args.format == 'csv' else 'FHIR AuditEvent Bundle'}",
                        detail={**flt.describe(), "format": args.format})
        print(f"exported {n} record(s)" + (f" to {out_path}" if out_path else ""), file=sys.stderr)
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


def _stdout_text() -> Any:
    return _NoClose(sys.stdout)


def _stdout_bytes() -> Any:
    return _NoClose(sys.stdout.buffer)


# ----- replay -------------------------------------------------------------------------------------
def cmd_audit_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run:
        return _dry_run(args, settings)
    from hub.auditor.progress import Cancel, Progress
    from hub.auditor.replay import Replayer, Target
    from hub.catalogue.topology import Topology
    from hub.transports import open_transport

    ctx = _Ctx(settings)
    try:
        flt = _filter(args, ctx.key)
        party = ctx.gate.require(args.as_party, "replay", client=flt.client,
                                 detail={**flt.describe(), "resume": args.resume or ""})
        if args.to_party:
            ctx.parties.get(args.to_party)
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        transport = open_transport(settings.broker_url)
        try:
            replayer = Replayer(ctx.log, transport, topology, args.as_party, actor_role=",".join(party.roles))
            if args.resume:
                job = replayer.cursors.get(args.resume)
            else:
                job = replayer.start(flt, Target(args.to_party or "", args.sandbox or ""))
            target = replayer.job_spec(job)[1]
            how = f"resumed after record {job.cursor_seq}" if args.resume else "started"
            ctx.gate.record("replay", args.as_party, client=flt.client, recipient=target.label,
                            reason=f"job {job.job_id}: {how}, {job.total} message(s) selected",
                            detail={**flt.describe(), "job": job.job_id, "target": target.label})
            if transport.embedded:
                print("note: memory:// lives in this process only; use --broker amqp://... to reach a running hub",
                      file=sys.stderr)
            progress = Progress(job.total, "replay ", done=job.done)
            with Cancel().on_sigint() as cancel:
                result = replayer.run(job, rate=args.rate or 0.0, cancel=cancel, progress=progress)
            progress.finish()
        finally:
            transport.close()
        for seq, message_id, why in result.skipped:
            print(f"record {seq} (message {message_id}): {why}", file=sys.stderr)
        state = "cancelled" if result.cancelled else "done"
        ctx.gate.record("replay", args.as_party, client=flt.client, recipient=target.label,
                        reason=f"job {job.job_id} {state}: {result.delivered} of {result.selected} delivered, "
                               f"{len(result.skipped)} skipped", detail={"job": job.job_id})
        print(f"replay job {job.job_id} {state}: {result.delivered} of {result.selected} message(s) delivered to "
              f"{target.label}, {len(result.skipped)} skipped, {result.seconds:.1f}s")
        if result.cancelled:
            print(f"resume with: zorghub audit replay --resume {job.job_id} --as {args.as_party}", file=sys.stderr)
            return 130
        return 1 if result.skipped else 0
    finally:
        ctx.close()


def _dry_run(args: argparse.Namespace, settings: Settings) -> int:
    from hub.app import _load_mappings
    from hub.auditor.progress import Cancel, Progress
    from hub.auditor.replay import dry_run
    from hub.auditor.search import count

    ctx = _Ctx(settings)
    try:
        flt = _filter(args, ctx.key)
        versions: dict[str, str] = {}
        for item in args.mapping_version or []:
            name, sep, version = item.partition("=")
            if not sep or not name or not version:
                raise ConfigError(f"--mapping-version takes NAME=VERSION, not {item!r}")
            versions[name] = version
        ctx.gate.require(args.as_party, "dry-run", client=flt.client, detail={**flt.describe(), **versions})
        registry = _load_mappings()
        if registry is None:
            raise ConfigError("no mapping registry is available for a dry run")
        flt = dataclasses.replace(flt, actions=("delivered",))
        progress = Progress(count(ctx.log, flt), "dry run ")
        with Cancel().on_sigint() as cancel:
            result = dry_run(ctx.log, registry, flt, versions=versions, progress=progress, cancel=cancel)
        progress.finish()
        for d in result.failures:
            print(f"FAIL record {d.seq} message {d.message_id} ({d.mapping} v{d.version}):\n{d.diff}")
        for d in result.changed[:args.diffs]:
            print(f"CHANGED record {d.seq} message {d.message_id} ({d.mapping} v{d.version}):\n{d.diff}\n")
        for seq, message_id, why in result.gone:
            print(f"record {seq} (message {message_id}): {why}", file=sys.stderr)
        summary = (f"dry run: {result.checked} delivered message(s); {result.identical} re-translated identically, "
                   f"{result.passthrough} passed through untranslated, {result.generated} built by a handler, "
                   f"{len(result.failures)} failure(s), "
                   f"{len(result.gone)} without payload")
        if versions:
            summary += (f"; with {', '.join(f'{k} v{v}' for k, v in versions.items())}: "
                        f"{len(result.changed)} changed, {result.unchanged_other_version} unchanged")
        print(summary)
        ctx.gate.record("dry-run", args.as_party, client=flt.client, reason=summary, detail=flt.describe())
        return 0 if result.ok else 1
    finally:
        ctx.close()


def cmd_audit_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor.progress import Cursors

    ctx = _Ctx(settings)
    try:
        for job in Cursors(ctx.db).list():
            print(f"{job.job_id}  {job.kind:7s} {job.status:9s} {job.done}/{job.total}  after record "
                  f"{job.cursor_seq}  by {job.actor}  {job.created_at}")
        return 0
    finally:
        ctx.close()


# ----- retention ----------------------------------------------------------------------------------
def cmd_audit_retention(args: argparse.Namespace, settings: Settings) -> int:
    from hub.auditor import retention as r

    ctx = _Ctx(settings)
    try:
        path = r.policy_path(settings.home_path)
        policy = r.load_policy(path)
        if args.retention_cmd == "set":
            policy = r.RetentionPolicy(
                payload_days=args.payload_days if args.payload_days is not None else policy.payload_days,
                metadata_years=args.metadata_years if args.metadata_years is not None else policy.metadata_years)
            ctx.gate.require(args.as_party, "retention", roles=("auditor", "operator"))
            r.save_policy(path, policy, force=args.force)
            ctx.gate.record("retention", args.as_party, reason=f"policy set: {policy}")
        if args.retention_cmd == "prune":
            ctx.gate.require(args.as_party, "prune", roles=("auditor", "operator"))
            result = r.prune_payloads(ctx.log, policy, dry_run=args.dry_run)
            verb = "would prune" if args.dry_run else "pruned"
            ctx.gate.record("prune", args.as_party, reason=f"{verb} {result.pruned} payload(s) stored before "
                                                           f"{result.cutoff or '(no payload retention set)'}")
            print(f"{verb} {result.pruned} payload(s) ({result.bytes_freed:,} bytes) older than "
                  f"{result.cutoff or '(no payload retention set)'}; metadata and hashes kept")
        payload = f"{policy.payload_days} days" if policy.payload_days is not None else "kept with the metadata"
        print(f"retention: payloads {payload}; metadata {policy.metadata_years} years "
              f"({r.metadata_due(ctx.log, policy)} record(s) past it, never deleted by this tool)")
        return 0
    finally:
        ctx.close()


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    p = audit.add_parser("verify", help="verify the hash chain (all of it, or a range)")
    p.add_argument("--from", dest="start", type=int, default=1)
    p.add_argument("--to", dest="end", type=int)
    p.add_argument("--checkpoint", help="an exported checkpoint file: also detects a truncated tail")
    p.add_argument("--workers", type=int, help="processes for a large log (default: one per core)")
    p.set_defaults(func=cmd_audit_verify)

    p = audit.add_parser("checkpoint", help="sign the chain head (and export the checkpoint to keep elsewhere)")
    p.add_argument("--export", metavar="FILE", help="write the signed checkpoint to FILE")
    p.add_argument("--no-record", action="store_true", help="do not append a checkpoint record to the log")
    p.set_defaults(func=cmd_audit_checkpoint)

    p = audit.add_parser("search", help="search the audit trail (auditors only)")
    _add_filters(p)
    _add_as(p)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=cmd_audit_search)

    p = audit.add_parser("who-has-seen", help="the parties that received or queried a client's data (auditors only)")
    p.add_argument("client", help="the client's BSN (never shown) or pseudonym; '-' reads it from stdin")
    p.add_argument("--with-auditors", action="store_true", help="also list auditors who looked the client up")
    _add_as(p)
    p.set_defaults(func=cmd_audit_who)

    p = audit.add_parser("export", help="export as a FHIR R4 AuditEvent Bundle or CSV (auditors only)")
    _add_filters(p)
    _add_as(p)
    p.add_argument("--format", choices=("fhir", "csv"), default="fhir")
    p.add_argument("--output", "-o", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_audit_export)

    p = audit.add_parser("replay", help="re-deliver recorded messages exactly, or --dry-run re-translate them "
                                        "(auditors only)")
    _add_filters(p)
    _add_as(p)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--to-party", help="deliver into this party's inbox")
    target.add_argument("--sandbox", metavar="QUEUE", help="deliver into this sandbox queue")
    target.add_argument("--resume", metavar="JOB", help="continue a cancelled replay job where it stopped")
    target.add_argument("--dry-run", action="store_true", help="re-translate 'delivered' messages, deliver nothing")
    p.add_argument("--rate", type=float, help="at most this many messages per second")
    p.add_argument("--mapping-version", action="append", metavar="NAME=VERSION",
                   help="dry run: re-translate with this mapping version instead of the recorded one")
    p.add_argument("--diffs", type=int, default=20, help="dry run: show at most this many diffs")
    p.set_defaults(func=cmd_audit_replay)

    p = audit.add_parser("jobs", help="list replay jobs and their cursors")
    p.set_defaults(func=cmd_audit_jobs)

    p = audit.add_parser("retention", help="the retention policy: show, set, prune payloads")
    p.add_argument("retention_cmd", choices=("show", "set", "prune"))
    p.add_argument("--payload-days", type=int)
    p.add_argument("--metadata-years", type=int)
    p.add_argument("--force", action="store_true", help="allow metadata retention under 5 years")
    p.add_argument("--dry-run", action="store_true", help="prune: only count")
    _add_as(p)
    p.set_defaults(func=cmd_audit_retention)
