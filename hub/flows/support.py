"""What the four flows share: their configuration, a clock, replies and audit records.

Each flow module is configuration (``hub/data/flows/<flow>.toml``, kinds in
``hub/data/kinds.d/flows.toml``, schemas in ``schemas/flows/``) plus handlers
that run inside the batch transaction (see ``hub.app.HandlerContext``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hub.app import HubApp
from hub.errors import ConfigError
from hub.formats import bsn as bsnlib
from hub.pipeline import outbox
from hub.pipeline import record as pipeline_record
from hub.pipeline.context import HandlerContext
from hub.store.audit import AuditRecord

DATA = Path(__file__).resolve().parent.parent / "data" / "flows"

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


def load_config(name: str) -> dict[str, Any]:
    path = DATA / f"{name}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read flow settings {path.name}: {exc}") from exc


@dataclass
class FlowConfig:
    """All flow settings, loaded once per app; tests may change values in place."""

    nza: dict[str, Any] = field(default_factory=lambda: load_config("nza"))
    zorgbeeld: dict[str, Any] = field(default_factory=lambda: load_config("zorgbeeld"))
    ketenzorg: dict[str, Any] = field(default_factory=lambda: load_config("ketenzorg"))
    jobs: dict[str, Any] = field(default_factory=lambda: load_config("jobs"))


def config(app: HubApp) -> FlowConfig:
    cfg = app.extensions.get("flows")
    if cfg is None:
        cfg = app.extensions["flows"] = FlowConfig()
    return cfg  # type: ignore[no-any-return]


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
