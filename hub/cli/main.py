"""The ``zorghub`` command. Every error exits non-zero with a one-line reason."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hub import logs
from hub.errors import ConfigError, HubError
from hub.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]

# Command groups that live in their own modules; each exposes register(subparsers).
PLUGINS = ("hub.cli.audit",)
# click commands in their own modules (each exposes ``cli``), beside every installed flow's ``Flow.cli``
CLICK_COMMANDS = ("hub.cli.dlq:cli", "hub.cli.communication:cli", "hub.cli.watch:cli")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load(config_file=getattr(args, "config", None))
    if getattr(args, "broker", None):
        settings = settings.replace(broker_url=args.broker)
    if getattr(args, "store", None):
        settings = settings.replace(store_url=args.store)
    return settings


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hub.demo import load_demos, run_demo_command

    seeds = [args.seed] if args.seed is not None else sorted(load_demos())
    return run_demo_command(settings, seeds, reset=args.reset)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hub.ops.runner import serve

    logs.setup(logging.INFO)
    if args.metrics_port:
        from hub.ops import metrics

        metrics.start(settings, args.metrics_port, args.metrics_bind, create=True)
        logging.getLogger("zorghub").info("metrics on http://%s:%d/metrics", args.metrics_bind, args.metrics_port)
    return serve(settings, args.workers or settings.workers)


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    """The exporter on its own, beside workers run by a supervisor (``zorghub worker``)."""
    import signal
    import threading

    from hub.ops import metrics

    server, db = metrics.start(settings, args.port, args.bind)
    print(f"zorghub: metrics on http://{args.bind}:{server.server_port}/metrics", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    db.close()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """One worker in the foreground: for process supervisors (and crash tests)."""
    from hub.ops.runner import worker_main

    logs.setup(logging.INFO)
    return worker_main(settings, args.index, args.of)


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.client import HubClient
    from hub.transports import open_transport

    path = Path(args.file)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    parties = PartyRegistry.load(settings.parties_path)
    parties.get(args.as_party)
    content_type = args.content_type or ("application/xml" if path.suffix == ".xml" else "application/json")
    url = settings.broker_url
    if args.password:
        from hub.transports import with_credentials

        url = with_credentials(url, args.as_party, args.password)
    transport = open_transport(url)
    try:
        topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
        if transport.embedded:
            print("note: memory:// lives in this process only; use --broker amqp://... to reach a running hub",
                  file=sys.stderr)
        message_id = HubClient(transport, topology, args.as_party).send(
            args.kind, body, content_type=content_type, client_key=args.client_key or "")
    finally:
        transport.close()
    print(message_id)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """What an operator checks first: the store, the dead letters and, on RabbitMQ, every queue."""
    from hub.store.audit import AuditLog
    from hub.store.db import Database, redact_url
    from hub.store.deadletters import DeadLetterStore
    from hub.store.idempotency import ProcessedIds

    db = Database.open_existing(settings.effective_store_url)
    audit = AuditLog(db, settings.key_bytes(create=False))
    ProcessedIds(db)
    seq, head = audit.head()
    processed = dict((str(k), int(n)) for k, n in
                     db.execute("SELECT outcome, COUNT(*) FROM processed GROUP BY outcome"))
    open_dead = DeadLetterStore(db).count()
    print(f"store      {redact_url(settings.effective_store_url)}")
    print(f"audit      {seq} records, head {head[:16]}")
    print("processed  " + (", ".join(f"{k} {v}" for k, v in sorted(processed.items())) or "none"))
    print(f"dead       {open_dead} open dead letter(s) (zorghub dlq list)")
    from hub.transports import has_management

    if has_management(settings.broker_url):
        from hub.demo import _vhost
        from hub.transports.management import Management

        mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
        print(f"broker     {redact_url(settings.broker_url)}")
        for row in sorted(mgmt.queues(_vhost(settings.broker_url), settings.prefix + "."), key=lambda r: r["name"]):
            print(f"  {row['name']:36s} {row.get('type', ''):8s} ready {row.get('messages_ready', 0):>8} "
                  f"unacked {row.get('messages_unacknowledged', 0):>6} consumers {row.get('consumers', 0)}")
    else:
        print("broker     memory:// (in-process: queues live only inside a running hub)")
    db.close()
    return 0


def cmd_parties_list(args: argparse.Namespace, settings: Settings) -> int:
    from hub.catalogue.parties import PartyRegistry

    for p in PartyRegistry.load(settings.parties_path):
        print(f"{p.name:16s} {p.id_type:7s} {'(BSN)' if p.id_type == 'BSN' else p.id:22s} "
              f"{','.join(p.roles):18s} accepts {','.join(p.accepts)}")
    return 0


def cmd_parties_sync(args: argparse.Namespace, settings: Settings) -> int:
    from hub.app import HubApp
    from hub.catalogue.parties import PartyRegistry
    from hub.catalogue.topology import Topology
    from hub.demo import _vhost
    from hub.transports.management import Management

    HubApp.build(settings).close()  # provisioning makes the store and the key too, for the readers after it
    parties = PartyRegistry.load(settings.parties_path)
    mgmt = Management(settings.management_url, settings.management_user, settings.management_password)
    topology = Topology(settings.prefix, settings.shards, settings.retry_delays_ms)
    done = mgmt.sync_parties(_vhost(settings.broker_url), parties, topology)
    from hub.transports import open_transport

    transport = open_transport(settings.broker_url)
    try:
        transport.declare(topology, parties)
    finally:
        transport.close()
    print(f"synced {len(done)} parties and declared the topology: {', '.join(done)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zorghub", description="Message hub for Dutch care-data exchange")
    parser.add_argument("--config", help="TOML settings file (default: $ZORGHUB_CONFIG)")
    parser.add_argument("--broker", help="broker URL: memory:// (default) or amqp://user:pass@host:5672/vhost")
    parser.add_argument("--store", help="store URL: sqlite:///path (default) or postgresql://host/db")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the walk-through(s) on the configured broker")
    p.add_argument("--seed", type=int, choices=range(0, 5), help="one seed (0-4); default: all")
    p.add_argument("--reset", action="store_true", help="empty a named home or store (ZORGHUB_HOME, --store) first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the hub workers")
    p.add_argument("--workers", type=int, help="worker processes (default: settings.workers)")
    p.add_argument("--metrics-port", type=int, help="also serve Prometheus metrics on this port")
    p.add_argument("--metrics-bind", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("metrics", help="serve Prometheus metrics (audit counts, dead letters, queue depths)")
    p.add_argument("--port", type=int, default=9108, help="default 9108; 0 picks a free port")
    p.add_argument("--bind", default="127.0.0.1")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("worker", help="run one worker in the foreground (shards index of N)")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--of", type=int, default=1)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("send", help="publish a file to the hub as a party")
    p.add_argument("file")
    p.add_argument("--as", dest="as_party", required=True, help="the sending party's name")
    p.add_argument("--kind", required=True, help="message kind, e.g. indicatiebesluit")
    p.add_argument("--content-type")
    p.add_argument("--client-key", help="opaque per-client ordering key (never a BSN)")
    p.add_argument("--password", help="the party's broker password (amqp only)")
    p.set_defaults(func=cmd_send)


    sub.add_parser("status", help="operator overview: store, dead letters, queue depths").set_defaults(
        func=cmd_status)

    parties = sub.add_parser("parties", help="the party registry").add_subparsers(dest="parties_cmd",
                                                                                  required=True)
    parties.add_parser("list", help="list parties").set_defaults(func=cmd_parties_list)
    parties.add_parser("sync", help="provision parties in RabbitMQ").set_defaults(func=cmd_parties_sync)

    sub.add_parser("mappings", help="versioned mappings: list, run, test, lock, diff (a click group)")
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    _mount_click(sub)
    return parser


def _click_commands() -> list[Any]:
    """The click commands and every installed flow's command group, by name."""
    from hub.plugins.registry import load_flows, resolve

    refs = [(ref, "command") for ref in CLICK_COMMANDS]
    refs += [(f.cli, f"command group of flow {f.name!r}") for f in load_flows() if f.cli]
    return [resolve(ref, what) for ref, what in refs]


def _mount_click(sub: Any) -> None:
    """A bridge until this parser is click too: each click command is a subcommand given the rest of argv."""
    for command in _click_commands():
        CLICK_NAMES.add(command.name)
        p = sub.add_parser(command.name, help=command.get_short_help_str(limit=100), add_help=False)
        p.add_argument("argv", nargs=argparse.REMAINDER)
        p.set_defaults(func=_run_click(command))


CLICK_NAMES: set[str] = set()


def _split_click(argv: list[str]) -> tuple[list[str], list[str]]:
    """The global options and a click command's name, and the rest of argv, which is the command's own."""
    i = 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if argv[i] in ("-v", "--verbose"):
            i += 1
        elif name in GLOBAL_OPTIONS:
            i += 1 if "=" in argv[i] else 2
        else:
            break
    if i < len(argv) and argv[i] in CLICK_NAMES:
        return argv[:i + 1], argv[i + 1:]
    return argv, []


def _run_click(command: Any) -> Command:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        import click

        from hub.cli.kit import CliState

        state = CliState(config=args.config, broker=args.broker, store=args.store, verbose=args.verbose,
                         _settings=settings)
        try:
            rv = command.main(args=list(args.argv), prog_name=f"zorghub {command.name}", standalone_mode=False,
                              obj=state)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.Abort:
            print("zorghub: aborted", file=sys.stderr)
            return 1
        return rv if isinstance(rv, int) else 0

    return run


GLOBAL_OPTIONS = ("--config", "--broker", "--store")


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Let --broker, --store and --config stand anywhere: `zorghub demo --broker URL` works too."""
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        name = item.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in item:
                front.append(item)
            elif i + 1 < len(items):
                front.extend(items[i:i + 2])
                i += 1
            else:
                rest.append(item)
        else:
            rest.append(item)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["mappings"]:  # click groups are mounted here until this module moves to click
        from hub.cli.mappings import main as mappings_main

        return mappings_main(argv[1:])
    parser = build_parser()
    own, rest = _split_click(hoist_global_options(argv))
    args = parser.parse_args(own)
    if rest:
        args.argv = rest
    logs.setup(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        settings = _settings(args)
        return int(args.func(args, settings))
    except HubError as exc:
        print(f"zorghub: {exc.reason}", file=sys.stderr)
        return 2 if exc.action == "fatal" else 1
    except KeyboardInterrupt:
        print("zorghub: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
