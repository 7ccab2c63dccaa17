"""``zorghub serve``, ``worker`` and ``metrics``: the long-running processes."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from hub import logs
from hub.cli.kit import current_state, pass_settings
from hub.settings import Settings


def _logging() -> None:
    """Long-running processes log at INFO; the broker library's own chatter only with -v."""
    logs.setup(logging.INFO, verbose=current_state().verbose)


@click.command("serve")
@click.option("--workers", type=click.IntRange(min=1), help="worker processes (default: settings.workers)")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="also serve Prometheus metrics on this port")
@click.option("--metrics-bind", default="127.0.0.1", show_default=True, help="address for --metrics-port")
@click.option("--http-port", type=click.IntRange(0, 65535), help="also serve the HTTP front door on this port "
                                                                 "(default: settings.http_port; 0 there: none)")
@pass_settings
def serve(settings: Settings, workers: int | None, metrics_port: int | None, metrics_bind: str,
          http_port: int | None) -> int:
    """Run the hub workers (and, with --metrics-port, the metrics exporter; with http_port, the HTTP server)."""
    from hub.ops.runner import serve as run

    _logging()
    port = settings.http_port if http_port is None else http_port
    if port:
        from hub.plugins.registry import resolve

        # named, not imported: the HTTP part reads the flows' registers, and the flows use the CLI's kit
        running = resolve("hub.http.server:start_for", "the HTTP server")(settings, port=port)
        logging.getLogger("zorghub").info("http on %s", running.url)
    if metrics_port:
        from hub.ops import metrics

        metrics.start(settings, metrics_port, metrics_bind, create=True)
        logging.getLogger("zorghub").info("metrics on http://%s:%d/metrics", metrics_bind, metrics_port)
    return run(settings, workers or settings.workers)


@click.command("worker")
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="this worker's number")
@click.option("--of", "count", type=click.IntRange(min=1), default=1, show_default=True, help="workers in all")
@pass_settings
def worker(settings: Settings, index: int, count: int) -> int:
    """Run one worker in the foreground (shards INDEX of N): for process supervisors."""
    from hub.ops.runner import worker_main

    if index >= count:
        raise click.BadParameter(f"worker {index} of {count}: the index counts from 0 to {count - 1}",
                                 param_hint="'--index'")
    _logging()
    return worker_main(settings, index, count)


@click.command("metrics")
@click.option("--port", type=click.IntRange(0, 65535), default=9108, show_default=True,
              help="0 picks a free port")
@click.option("--bind", default="127.0.0.1", show_default=True)
@pass_settings
def metrics(settings: Settings, port: int, bind: str) -> int:
    """Serve Prometheus metrics (audit counts, dead letters, queue depths) beside supervised workers."""
    from hub.ops import metrics as exporter

    server, db = exporter.start(settings, port, bind)
    print(f"zorghub: metrics on http://{bind}:{server.server_port}/metrics", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    db.close()
    return 0
