"""``zorghub communication``: beheer, per party the messages sent and received through the hub."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.command(name="communication", help="beheer: messages per party (sent, failed, received, rejections)")
@click.option("--party", help="only this party")
@pass_settings
def cli(settings: Settings, party: str | None) -> None:
    from hub.store import auditqueries
    from hub.store.audit import AuditLog
    from hub.store.db import Database

    db = Database.open_existing(settings.effective_store_url)
    try:
        log = AuditLog(db, settings.key_bytes(create=False))
        stats = auditqueries.communication(log.db, party)
        click.echo(f"{'party':16s} {'sent':>6s} {'failed':>6s} {'received':>8s} {'rejections':>10s}")
        for name in sorted(stats):
            if party and name != party:
                continue
            s = stats[name]
            click.echo(f"{name:16s} {s.get('sent', 0):6d} {s.get('sent_failed', 0):6d} {s.get('received', 0):8d} "
                       f"{s.get('rejections', 0):10d}")
    finally:
        db.close()
