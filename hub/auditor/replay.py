"""Verified replay: re-deliver recorded messages exactly, or re-translate them without delivering.

Delivering replay publishes the stored bytes of the selected records (by default
the ``delivered`` ones) with their recorded properties and headers, to one
party's inbox or to a sandbox queue, in log order (so each client's messages
keep their original order), throttled, with a stored cursor: a cancelled job
resumes after the last message it published, so every selected message arrives
exactly once. Each replayed message is itself an audit record (``replayed``).

Dry-run replay re-translates each recorded ``delivered`` message from the
``received`` payload of the same message: with the recorded mapping version the
bytes must equal what was delivered (SHA-256); with another version the
differences are shown.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.auditor.progress import Cancel, Cursors, Job, Progress
from hub.auditor.search import AuditFilter, count, iter_records
from hub.catalogue.topology import Topology
from hub.errors import ConfigError, HubError, UnknownMapping
from hub.formats import bsn as bsnlib
from hub.store import auditqueries, payloads
from hub.store.audit import AuditLog, AuditRecord, sha256
from hub.transports.base import Outgoing, Transport

DEFAULT_ACTIONS = ("delivered",)
JOB_KIND = "replay"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def fetch_payloads(log: AuditLog, digests: set[str]) -> dict[str, tuple[bytes | None, str, str]]:
    """sha256 -> (body or None, content_type, how it went: 'pruned on ...', 'shredded on ...') of stored digests."""
    out: dict[str, tuple[bytes | None, str, str]] = {}
    for part in _chunks(sorted(digests), 500):
        for digest, body, content_type, how in payloads.stored(log.db, part):
            out[str(digest)] = (bytes(body) if body is not None else None, str(content_type), str(how))
    return out


def missing_reason(digest: str, stored: dict[str, tuple[bytes | None, str, str]]) -> str:
    if digest not in stored:
        return "the payload is gone: it was never stored"
    body, _, how = stored[digest]
    if body is None:
        return f"the payload is gone: {how} under the retention policy; it cannot be replayed"
    if sha256(body) != digest:  # what the chain does not vouch for is never sent
        return "the stored payload was altered: its body no longer has the SHA-256 the chain signs; not replayed"
    return ""


# ----- delivering replay --------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    party: str = ""
    sandbox: str = ""

    def __post_init__(self) -> None:
        if bool(self.party) == bool(self.sandbox):
            raise ConfigError("replay needs exactly one target: a party's inbox or a sandbox queue")

    @property
    def label(self) -> str:
        return self.party or f"sandbox:{self.sandbox}"

    def route(self, topology: Topology) -> tuple[str, str]:
        if self.party:
            return topology.outbound, self.party
        return "", self.sandbox  # the default exchange routes by queue name


@dataclass
class ReplayResult:
    job_id: str
    selected: int
    delivered: int = 0
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, message_id, why)
    cancelled: bool = False
    seconds: float = 0.0
    resumed_from: int = 0


def declare_sandbox(transport: Transport, queue: str) -> None:
    declare = getattr(transport, "declare_queue", None)
    if declare is not None:
        declare(queue)
        return
    conn = getattr(transport, "_conn", None)  # pika: a durable classic queue for the sandbox
    if conn is None:
        raise ConfigError(f"this transport cannot declare the sandbox queue {queue!r}; declare it first")
    ch = conn.channel()
    try:
        ch.queue_declare(queue, durable=True)
    finally:
        ch.close()


def replay_outgoing(rec: AuditRecord, body: bytes, content_type: str, target: Target, topology: Topology,
                    job_id: str) -> Outgoing:
    """The recorded message again, byte for byte, with its recorded properties and headers."""
    if rec.detail:
        d = rec.detail_json()
        props = dict(d.get("p", {}))
        headers = dict(d.get("h", {}))
        original = str(d.get("rk", ""))
    else:  # an inbound record: its envelope from the record itself
        props = {"message_id": rec.message_id, "correlation_id": rec.correlation_id or None, "type": rec.kind,
                 "content_type": content_type}
        headers = {}
        original = rec.recipient
    props = {k: v for k, v in props.items() if k != "user_id"}
    headers.update({"x-replay-id": job_id, "x-replay-of-seq": rec.seq, "x-replay-original-recipient": original})
    exchange, routing_key = target.route(topology)
    return Outgoing(exchange, routing_key, body, props, headers)


class Replayer:
    """Delivering replay of a selection; ``start`` makes a job, ``resume`` continues one."""

    def __init__(self, log: AuditLog, transport: Transport, topology: Topology, actor: str, *,
                 actor_role: str = "auditor", batch: int = 200) -> None:
        self.log = log
        self.transport = transport
        self.topology = topology
        self.actor = actor
        self.actor_role = actor_role
        self.batch = batch
        self.cursors = Cursors(log.db)

    def start(self, flt: AuditFilter, target: Target) -> Job:
        if not flt.actions:
            flt = dataclasses.replace(flt, actions=DEFAULT_ACTIONS)
        upto, _ = self.log.head()
        flt = dataclasses.replace(flt, last_seq=min(flt.last_seq, upto) if flt.last_seq else upto)
        total = count(self.log, flt)
        spec = orjson.dumps({"filter": orjson.loads(flt.to_json()), "party": target.party,
                             "sandbox": target.sandbox}).decode()
        return self.cursors.create(JOB_KIND, self.actor, spec, upto, total)

    def job_spec(self, job: Job) -> tuple[AuditFilter, Target]:
        spec = orjson.loads(job.spec)
        return AuditFilter.from_json(orjson.dumps(spec["filter"]).decode()), Target(spec["party"], spec["sandbox"])

    def run(self, job: Job, *, rate: float = 0.0, cancel: Cancel | None = None, progress: Progress | None = None,
            on_batch: Callable[[int], None] | None = None) -> ReplayResult:
        """Publish the job's remaining messages in log order; stop cleanly when ``cancel`` is set."""
        if job.kind != JOB_KIND:
            raise ConfigError(f"job {job.job_id} is not a replay job")
        if job.status == "done":
            raise ConfigError(f"replay job {job.job_id} is already complete")
        if job.actor != self.actor:
            raise ConfigError(f"replay job {job.job_id} belongs to {job.actor!r}")
        flt, target = self.job_spec(job)
        if target.sandbox:
            declare_sandbox(self.transport, target.sandbox)
        self.cursors.set_status(job.job_id, "running")
        cancel = cancel or Cancel()
        result = ReplayResult(job.job_id, job.total, delivered=job.done, resumed_from=job.cursor_seq)
        began = time.monotonic()
        done_before = job.done
        size = self.batch if rate <= 0 else max(1, min(self.batch, int(rate / 10) or 1))
        flt = dataclasses.replace(flt, first_seq=max(flt.first_seq, job.cursor_seq + 1))
        pending: list[AuditRecord] = []
        for rec in iter_records(self.log, flt, chunk=max(size, 1000)):
            pending.append(rec)
            if len(pending) >= size:
                self._publish(job, pending, target, result, progress)
                pending = []
                if on_batch:
                    on_batch(result.delivered)
                if rate > 0:
                    ahead = (result.delivered - done_before) / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
                if cancel.requested:
                    result.cancelled = True
                    break
        if pending and not result.cancelled:
            self._publish(job, pending, target, result, progress)
        result.seconds = time.monotonic() - began
        self.cursors.set_status(job.job_id, "cancelled" if result.cancelled else "done")
        return result

    def _publish(self, job: Job, records: list[AuditRecord], target: Target, result: ReplayResult,
                 progress: Progress | None) -> None:
        stored = fetch_payloads(self.log, {r.payload_sha256 for r in records if r.payload_sha256})
        outgoing: list[Outgoing] = []
        audit: list[AuditRecord] = []
        for rec in records:
            why = missing_reason(rec.payload_sha256, stored) if rec.payload_sha256 else "the record has no payload"
            if why:
                result.skipped.append((rec.seq, rec.message_id, why))
                audit.append(self._record(rec, target, job, outcome="failure", reason=f"not replayed: {why}"))
                continue
            body, content_type, _ = stored[rec.payload_sha256]
            assert body is not None
            o = replay_outgoing(rec, body, content_type, target, self.topology, job.job_id)
            outgoing.append(o)
            audit.append(self._record(rec, target, job, detail=o))
        self.transport.publish(outgoing)  # confirmed by the broker before the cursor moves
        result.delivered += len(outgoing)
        with self.log.db.transaction(lock=self.log.LOCK):
            self.log.append_in_tx(audit)
            self.cursors.advance(job.job_id, records[-1].seq, result.delivered)
        if progress is not None:
            progress.update(len(records))

    def _record(self, rec: AuditRecord, target: Target, job: Job, *, outcome: str = "success", reason: str = "",
                detail: Outgoing | None = None) -> AuditRecord:
        return AuditRecord(
            action="replayed", actor=self.actor, actor_role=self.actor_role, outcome=outcome,
            on_behalf_of=rec.actor, recipient=target.label, kind=rec.kind, message_id=rec.message_id,
            correlation_id=rec.correlation_id, client=rec.client, record_type=rec.record_type,
            record_id=rec.record_id, mapping=rec.mapping, mapping_version=rec.mapping_version,
            payload_sha256=rec.payload_sha256, trace_id=rec.trace_id,
            reason=reason or f"replay of record {rec.seq} (job {job.job_id})",
            detail=orjson.dumps({"x": detail.exchange, "rk": detail.routing_key, "p": dict(detail.properties),
                                 "h": dict(detail.headers)}).decode() if detail else "",
        )


# ----- dry run --------------------------------------------------------------------------------
@dataclass
class Difference:
    seq: int
    message_id: str
    mapping: str
    version: str
    diff: str


@dataclass
class DryRunResult:
    checked: int = 0
    identical: int = 0  # re-translated with the recorded version, same bytes
    passthrough: int = 0  # delivered untranslated, same bytes as received
    generated: int = 0  # built by a kind's handler (e.g. a network-model notification), no mapping involved
    changed: list[Difference] = field(default_factory=list)  # another version: different bytes
    unchanged_other_version: int = 0
    failures: list[Difference] = field(default_factory=list)  # recorded version, different bytes or error
    gone: list[tuple[int, str, str]] = field(default_factory=list)  # payload pruned or missing
    mappings: set[str] = field(default_factory=set)  # the mappings of the delivered messages checked

    @property
    def ok(self) -> bool:
        return not self.failures


def _pretty(data: bytes) -> list[str]:
    """JSON and XML one element per line, so a diff shows what changed; BSNs masked."""
    try:
        text = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", errors="replace")
        if text.lstrip().startswith("<"):
            try:
                from lxml import etree

                parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
                text = etree.tostring(etree.fromstring(data, parser), pretty_print=True).decode()
            except Exception:  # not well-formed: diff the text as it is
                pass
    return bsnlib.redact(text).splitlines()


def diff_text(before: bytes, after: bytes, label: str, max_lines: int = 60) -> str:
    lines = list(difflib.unified_diff(_pretty(before), _pretty(after), f"{label} (delivered)",
                                      f"{label} (re-translated)", lineterm="", n=1))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... {len(lines) - max_lines} more diff line(s)"]
    return "\n".join(lines)


def mapping_versions(registry: Any, items: Sequence[str]) -> dict[str, str]:
    """``NAME=VERSION`` options, checked against the registry: a mistyped one is refused, with a hint.

    ``v2`` and ``2`` are the same version. A version that does not exist would otherwise match no
    recorded message and report "0 changed, 0 unchanged", which reads as a clean result.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, version = (part.strip() for part in item.partition("="))
        if not sep or not name or not version:
            raise UnknownMapping(f"give NAME=VERSION, not {item!r}")
        version = version[1:] if version[:1] in ("v", "V") and version[1:].isdigit() else version
        known = registry.versions(name)
        if not known:
            close = difflib.get_close_matches(name, registry.names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (zorghub mappings list shows them)"
            raise UnknownMapping(f"no mapping named {name!r}{hint}")
        if version not in known:
            close = difflib.get_close_matches(version, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UnknownMapping(f"mapping {name!r} has no version {version!r}; {hint}"
                                 f"its versions are {', '.join(known)}")
        out[name] = version
    return out


def dry_run(log: AuditLog, registry: Any, flt: AuditFilter, *, versions: dict[str, str] | None = None,
            progress: Progress | None = None, cancel: Cancel | None = None, chunk: int = 2000) -> DryRunResult:
    """Re-translate the selected ``delivered`` records; ``versions`` maps mapping name -> version to use instead."""
    versions = versions or {}
    flt = dataclasses.replace(flt, actions=("delivered",))
    result = DryRunResult()
    batch: list[AuditRecord] = []
    for rec in iter_records(log, flt, chunk=chunk):
        batch.append(rec)
        if len(batch) >= chunk:
            _dry_batch(log, registry, batch, versions, result)
            if progress is not None:
                progress.update(len(batch))
            batch = []
            if cancel is not None and cancel.requested:
                return result
    if batch:
        _dry_batch(log, registry, batch, versions, result)
        if progress is not None:
            progress.update(len(batch))
    return result


def _dry_batch(log: AuditLog, registry: Any, records: list[AuditRecord], versions: dict[str, str],
               result: DryRunResult) -> None:
    ids = sorted({r.message_id for r in records if r.message_id})
    received: dict[str, str] = {}
    for part in _chunks(ids, 500):
        for message_id, digest in auditqueries.received_payloads(log.db, part):
            received.setdefault(str(message_id), str(digest))
    digests = {d for d in received.values() if d} | {r.payload_sha256 for r in records if r.payload_sha256}
    stored = fetch_payloads(log, digests)
    translators: dict[tuple[str, str], Any] = {}
    for rec in records:
        result.checked += 1
        source_digest = received.get(rec.message_id, "")
        if not source_digest:
            result.failures.append(Difference(rec.seq, rec.message_id, rec.mapping, rec.mapping_version,
                                              "no 'received' record with a payload for this message"))
            continue
        why = missing_reason(source_digest, stored)
        if why:
            result.gone.append((rec.seq, rec.message_id, why))
            continue
        source = stored[source_digest][0]
        assert source is not None
        if not rec.mapping:
            if sha256(source) == rec.payload_sha256:
                result.passthrough += 1
            else:  # built by a handler (a notification, a reply), not translated: nothing to re-translate
                result.generated += 1
            continue
        result.mappings.add(rec.mapping)
        version = versions.get(rec.mapping, rec.mapping_version)
        key = (rec.mapping, version)
        try:
            if key not in translators:
                translators[key] = registry.get(rec.mapping, version)
            output = translators[key].translate(source)
        except HubError as exc:
            result.failures.append(Difference(rec.seq, rec.message_id, rec.mapping, version,
                                              f"translation failed: {exc.reason}"))
            continue
        except Exception as exc:  # a mapping bug is a finding, not a crash of the audit
            result.failures.append(Difference(rec.seq, rec.message_id, rec.mapping, version,
                                              f"translation failed: {exc.__class__.__name__}: {exc}"))
            continue
        same = sha256(output) == rec.payload_sha256
        original = version == rec.mapping_version
        if same:
            if original:
                result.identical += 1
            else:
                result.unchanged_other_version += 1
            continue
        delivered = stored.get(rec.payload_sha256, (None, "", ""))[0]
        label = f"message {rec.message_id} to {rec.recipient} via {rec.mapping} v{version}"
        diff = diff_text(delivered, output, label) if delivered is not None else \
            f"delivered payload {missing_reason(rec.payload_sha256, stored)}; re-translated sha256 {sha256(output)}"
        (result.failures if original else result.changed).append(
            Difference(rec.seq, rec.message_id, rec.mapping, version, diff))
