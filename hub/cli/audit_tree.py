"""``zorghub audit tree-head | prove | consistency | key export | witness``: the Merkle tree's commands.

tree-head signs (it writes); prove, consistency and key export only read; witness is the program a
third party runs on its own machine, with the hub's public key and its own state file, no store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hub.cli.kit import current_state
from hub.settings import Settings


class _Ctx:
    """The store and the chain key (no party registry, no broker): what the tree's commands need."""

    def __init__(self) -> None:
        from hub.store.audit import AuditLog
        from hub.store.db import Database

        self.settings: Settings = current_state().settings()
        self.db = Database.open_existing(self.settings.effective_store_url)
        try:
            self.log = AuditLog(self.db, self.settings.key_bytes(create=False))
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()


def _open() -> _Ctx:
    return _Ctx()


@click.group("tree")
def cli() -> None:
    """Holds the tree's commands until ``hub.cli.audit`` adds them to its group."""


def _write(document: dict[str, Any], output: str | None) -> None:
    """Compact JSON: every byte of a proof means something, so a changed byte fails."""
    text = json.dumps(document, separators=(",", ":"))
    if output and output != "-":
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"written to {output}", err=True)
    else:
        click.echo(text)


def check_tree(settings: Settings, log: Any, public_key: str | None) -> int:
    """``audit verify``'s last part: every signed head (their roots were recomputed with the chain)."""
    from hub.auditor.treehead import check_heads, load_signing_key, read_public_key

    if public_key:
        pub = read_public_key(public_key)
    elif settings.signing_key_path.exists():
        pub = load_signing_key(settings.signing_key_path).public_key()
    else:
        pub = None
    result = check_heads(log, pub)
    if not result.ok:
        at = f" at record {result.first_bad_seq}" if result.first_bad_seq else ""
        click.echo(f"BROKEN{at}: {result.problem}", err=True)
        return 1
    click.echo(f"ok: Merkle tree over {result.checked} records and {result.payloads} signed tree head(s) verified")
    return 0


@cli.command("tree-head")
@click.option("--export", "output", metavar="FILE", help="also write the signed head to FILE")
def tree_head(output: str | None) -> int:
    """Advance the Merkle tree to the last record and sign its head (Ed25519)."""
    from hub.auditor.treehead import load_signing_key, sign_head

    ctx = _open()
    try:
        key = load_signing_key(ctx.settings.signing_key_path, create=True)
        head = sign_head(ctx.log, key)
        click.echo(f"signed tree head: {head.tree_size} records, root {head.root_hash}", err=True)
        _write(head.to_dict(), output)
        return 0
    finally:
        ctx.close()


@cli.command("prove")
@click.option("--record", "seq", type=click.IntRange(min=1), required=True, help="the record's seq")
@click.option("--head", "head_size", type=click.IntRange(min=1), help="the signed head's size (default: latest)")
@click.option("--output", "-o", metavar="FILE", help="file to write (default: stdout)")
def prove(seq: int, head_size: int | None, output: str | None) -> int:
    """An inclusion proof of one record against a signed tree head."""
    from hub.auditor.treehead import inclusion_proof

    ctx = _open()
    try:
        _write(inclusion_proof(ctx.log, seq, head_size), output)
        return 0
    finally:
        ctx.close()


@cli.command("consistency")
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1), required=False)
@click.option("--output", "-o", metavar="FILE", help="file to write (default: stdout)")
def consistency(old: int, new: int | None, output: str | None) -> int:
    """A consistency proof: the signed tree of NEW records (default: latest) extends the one of OLD."""
    from hub.auditor.treehead import consistency_proof

    ctx = _open()
    try:
        _write(consistency_proof(ctx.log, old, new), output)
        return 0
    finally:
        ctx.close()


@cli.group("key")
def key() -> None:
    """The tree-head signing key."""


@key.command("export")
@click.option("--output", "-o", metavar="FILE", help="file to write (default: stdout)")
def key_export(output: str | None) -> int:
    """Export the public key that verifies the signed tree heads (PEM)."""
    from hub.auditor.treehead import load_signing_key, public_pem

    pem = public_pem(load_signing_key(current_state().settings().signing_key_path))
    if output and output != "-":
        Path(output).write_bytes(pem)
        click.echo(f"public key written to {output}", err=True)
    else:
        click.echo(pem.decode(), nl=False)
    return 0


@cli.command("witness")
@click.option("--public-key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the hub's public key (from 'zorghub audit key export')")
@click.option("--state", required=True, metavar="FILE", help="where this witness keeps the latest head it verified")
@click.option("--inbox", metavar="QUEUE", help="read the heads the hub publishes from this inbox queue (AMQP)")
@click.option("--amqp-url", envvar="ZORGHUB_WITNESS_AMQP_URL", metavar="URL",
              help="the broker, logged in as the witness party (env ZORGHUB_WITNESS_AMQP_URL)")
@click.option("--follow", is_flag=True, help="with --inbox: keep waiting for new heads (till an alarm)")
@click.argument("document", type=click.File("rb"), required=False)
def witness(public_key: str, state: str, inbox: str | None, amqp_url: str | None, follow: bool,
            document: Any) -> int:
    """Check a new tree head or consistency proof ('-' reads stdin), or those in --inbox, against the kept head.

    Exit 0 and keep the new head when it extends the kept one; exit 1 with one ALARM line on a fork or
    rollback (the kept head stays).
    """
    from hub.auditor.treehead import read_public_key
    from hub.auditor.witness import Alarm, follow_inbox, load_state, observe, save_state
    from zorghub_verify import ProofError

    pub = read_public_key(public_key)
    path = Path(state)
    if (inbox is None) == (document is None):
        raise click.UsageError("give either a DOCUMENT or --inbox QUEUE")
    if inbox is not None:
        if not amqp_url:
            raise click.UsageError("--inbox needs --amqp-url (or ZORGHUB_WITNESS_AMQP_URL)")

        def report(line: str) -> None:
            click.echo(line, err=line.startswith(("ALARM", "not checked")))
            sys.stdout.flush()

        return follow_inbox(amqp_url, inbox, pub, path, follow=follow, report=report)
    if follow:
        raise click.UsageError("--follow is for --inbox")
    kept = load_state(path)
    try:
        data = json.loads(document.read())
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="'DOCUMENT'") from None
    try:
        new, what = observe(data, pub, kept)
    except Alarm as exc:
        click.echo(f"ALARM: {exc}", err=True)
        return 1
    except ProofError as exc:
        click.echo(f"zorghub: not checked: {exc}", err=True)
        return 1
    if new != kept:
        save_state(path, new)
    click.echo(f"ok: {what}")
    sys.stdout.flush()
    return 0
