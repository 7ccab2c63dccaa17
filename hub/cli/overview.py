"""``zorghub status``: what an operator checks first: the store, the dead letters and every queue."""

from __future__ import annotations

import click

from hub.cli.kit import pass_settings
from hub.settings import Settings


@click.command("status")
@pass_settings
def cli(settings: Settings) -> int:
    """Operator overview: store, audit head, dead letters and, on RabbitMQ, queue depths."""
    from hub.store.audit import AuditLog
    from hub.store.db import Database, redact_url
    from hub.store.deadletters import DeadLetterStore
    from hub.store.idempotency import ProcessedIds, outcome_counts

    db = Database.open_existing(settings.effective_store_url)
    try:
        audit = AuditLog(db, settings.key_bytes(create=False))
        ProcessedIds(db)
        seq, head = audit.head()
        processed = outcome_counts(db)
        open_dead = DeadLetterStore(db).count()
    finally:
        db.close()
    click.echo(f"store      {redact_url(settings.effective_store_url)}")
    click.echo(f"audit      {seq} records, head {head[:16]}")
    click.echo("processed  " + (", ".join(f"{k} {v}" for k, v in sorted(processed.items())) or "none"))
    click.echo(f"dead       {open_dead} open dead letter(s) (zorghub dlq list)")
    from hub.transports import has_management

    if not has_management(settings.broker_url):
        click.echo(f"broker     {redact_url(settings.broker_url)} (in-process: queues live only inside a running hub)")
        return 0
    from hub.demo import _vhost
    from hub.transports import open_transport
    from hub.transports.management import Management

    # the management API answers for the node, not for this URL: first reach the broker itself
    open_transport(settings.broker_url).close()
    mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
    click.echo(f"broker     {redact_url(settings.broker_url)}")
    for row in sorted(mgmt.queues(_vhost(settings.broker_url), settings.prefix + "."), key=lambda r: r["name"]):
        click.echo(f"  {row['name']:36s} {row.get('type', ''):8s} ready {row.get('messages_ready', 0):>8} "
                   f"unacked {row.get('messages_unacknowledged', 0):>6} consumers {row.get('consumers', 0)}")
    return 0
