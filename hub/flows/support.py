"""What the shipped flows share: their settings, a clock, replies, audit records and walk-through helpers.

Each flow folder is configuration (``settings.toml``, ``kinds.toml``, ``schemas/``) plus handlers
that run inside the batch transaction (see ``hub.app.HandlerContext``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson

from hub.app import HubApp
from hub.errors import ConfigError
from hub.formats import bsn as bsnlib
from hub.pipeline import outbox
from hub.pipeline import record as pipeline_record
from hub.pipeline.context import HandlerContext
from hub.store.audit import AuditRecord

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The flows' clock (UTC); tests and the CLI's ``--today`` move it."""
    return _clock()


def today() -> date:
    return now().date()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    global _clock
    _clock = fn or (lambda: datetime.now(UTC))


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def flow_settings(app: HubApp, flow: str) -> dict[str, Any]:
    """The flow's settings (its ``settings.toml``, checked at start-up); tests may change values in place."""
    try:
        return app.flow_settings[flow]
    except KeyError:
        raise ConfigError(f"flow {flow!r} is not installed") from None


def roles_of(app: HubApp, party: str) -> str:
    p = app.parties.find(party)
    return ",".join(p.roles) if p else ""


def record(ctx: HandlerContext, action: str, *, kind: str = "", recipient: str = "", outcome: str = "success",
           record_type: str = "", record_id: str = "", reason: str = "") -> AuditRecord:
    """An audit record about the message being handled (actor: its sender)."""
    env = ctx.envelope
    return pipeline_record.about(env, roles_of(ctx.app, env.sender), action, outcome=outcome, recipient=recipient,
                                 kind=kind or env.kind, record_type=record_type, record_id=record_id,
                                 reason=bsnlib.redact(reason))


def send(ctx: HandlerContext, to: str, kind: str, body: Any, *, action: str = "notified",
         content_type: str = "application/json", record_type: str = "", record_id: str = "",
         reason: str = "", outcome: str = "success", headers: dict[str, Any] | None = None) -> None:
    """A message the hub itself sends (reply, receipt, notice) to a party's inbox, audited."""
    o = outbox.notice(ctx.app.topology, ctx.envelope, to, kind, body, n=len(ctx.outgoing),
                      content_type=content_type, headers=headers)
    ctx.outgoing.append((o, record(ctx, action, kind=kind, recipient=to, record_type=record_type,
                                   record_id=record_id, reason=reason, outcome=outcome)))


def reply(ctx: HandlerContext, kind: str, body: Any, **kw: Any) -> None:
    send(ctx, ctx.envelope.sender, kind, body, action=kw.pop("action", "replied"), **kw)


# ----- walk-through helpers (the flows' demo.py modules and their tests) -------------------------
def at(text: str) -> Callable[[], datetime]:
    """A clock standing still at ``text`` (ISO, UTC)."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return lambda: moment


def bsns(start: int = 10000000) -> Iterator[str]:
    """Valid (elfproef) test BSNs."""
    n = start
    while True:
        digits = f"{n:08d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        n += 1
        if check < 10 and digits != "00000000":
            yield digits + str(check)


def kinds_of(msgs: Iterable[Any]) -> list[str]:
    return [str(m.properties.get("type")) for m in msgs]


def rules_of(msgs: Iterable[Any]) -> list[str]:
    """The rules of the hub's receipts among ``msgs``."""
    return [orjson.loads(m.body)["rule"] for m in msgs if m.properties.get("type") == "zorghub.receipt"]


def show(hub: Any, parties: Iterable[str], describe: Callable[[Any], str] | None = None) -> dict[str, list[Any]]:
    """Every party's new inbox messages, printed one a line."""
    from hub.testing import describe as one_line

    line = describe or one_line
    got: dict[str, list[Any]] = {}
    for name in parties:
        msgs = hub.inbox(name)
        got[name] = msgs
        for m in msgs:
            hub.out(f"  -> {name:12s} {line(m)}")
    return got


def reported(seed: int, walk: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A walk-through that ends with its verdict line."""
    def run(hub: Any) -> bool:
        ok = walk(hub)
        hub.out(f"Seed {seed:03d} {'passed every check' if ok else 'FAILED a check'}.")
        return ok

    run.__doc__ = walk.__doc__
    return run


# ----- the flows' command groups ----------------------------------------------------------------
def hub_on(settings: Any, day: str | None = None) -> HubApp:
    """The hub for a command, on the day ``day`` names (if given): the calendars are read against it.

    A flow's command works on the store a running hub made: it never creates a store, home or key.
    """
    if day:
        try:
            moment = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(hour=12)
        except ValueError:  # a value on the command line: a usage error (exit 2), as for any other option
            import click

            raise click.BadParameter(f"not a date (YYYY-MM-DD): {day!r}", param_hint="'--today'") from None
        set_clock(lambda: moment)
    return HubApp.build(settings, create=False)
