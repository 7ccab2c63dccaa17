"""CPU per message per stage of the hub's hot path, and the disk's fsync latency.

``stages`` runs one hub worker in this process over a queue filled beforehand (passthrough: echo
JSON to one recipient), under ``cProfile`` with a per-thread CPU clock, and adds up the CPU time
spent inside each stage's entry points. The profiler's own cost inflates every stage alike, so the
table is for proportions; ``cpu_us_per_msg`` beside it is the worker process's CPU time per message
without a profiler, from ``/proc``. ``fsync_latency`` times a 4 KiB write and ``os.fsync`` on the
disk the store lives on: quorum queues and the store's commits wait for it.

``python -m bench.stages [--messages N]`` prints the table on its own (the profile of the hot path).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: stage -> the functions whose cumulative CPU time is that stage (file suffix, function name)
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "consume (pika: read, parse frames)": (("pika/adapters/blocking_connection.py", "process_data_events"),),
    "check (schema, BSN, kind)": (("hub/pipeline/check.py", "check"),),
    "route": (("hub/pipeline/route.py", "route"),),
    "translate": (("hub/pipeline/translate.py", "translate"),),
    "build messages and records": (("hub/pipeline/worker.py", "_deliver"), ("hub/pipeline/worker.py", "_emit")),
    "idempotency lookup": (("hub/store/idempotency.py", "states"),),
    "audit append (HMAC chain, rows)": (("hub/store/audit.py", "append_in_tx"),),
    "outbox write and sent marks": (("hub/store/outbox.py", "add_in_tx"), ("hub/store/outbox.py", "mark_sent_in_tx")),
    "database commit": (("hub/store/db.py", "transaction"),),
    "publish (a batch's frames, one write)": (("hub/transports/amqp.py", "publish_pipelined"),),
    "ack": (("hub/transports/amqp.py", "ack"),),
}


def _cumulative(stats: pstats.Stats, wanted: tuple[tuple[str, str], ...]) -> float:
    total = 0.0
    for (path, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if any(path.endswith(suffix) and name == fn for suffix, fn in wanted):
            total += row[3]  # cumulative time
    return total


def profile_passthrough(url: str, settings: Any, count: int, publish: Any) -> dict[str, Any]:
    """Fill the shard queues with ``count`` echo messages, then drain them in this process under cProfile."""
    from hub.ops.runner import run_worker

    publish(count)
    stop = threading.Event()
    profiler = cProfile.Profile(time.thread_time)
    done: list[int] = []

    def setup(app: Any, worker: Any) -> None:
        from hub.pipeline.hooks import OnMessage

        def seen(event: str, env: Any, extra: Any) -> None:
            done.append(1)
            if len(done) >= count:
                stop.set()

        worker.observers.append(OnMessage(seen))

    began_cpu = time.thread_time()
    began = time.perf_counter()
    profiler.enable()
    watchdog = threading.Timer(300, stop.set)
    watchdog.start()
    try:
        run_worker(settings, 0, 1, stop, setup=setup)
    finally:
        profiler.disable()
        watchdog.cancel()
    cpu = time.thread_time() - began_cpu
    wall = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    n = max(len(done), 1)
    table = {stage: round(_cumulative(stats, fns) / n * 1e6, 1) for stage, fns in STAGES.items()}
    return {"messages": len(done), "profiled_cpu_us_per_msg": round(cpu / n * 1e6, 1),
            "profiled_wall_us_per_msg": round(wall / n * 1e6, 1), "stages_cpu_us_per_msg": table}


def fsync_latency(directory: Path, rounds: int = 200) -> dict[str, Any]:
    """p50 and p99 of a 4 KiB write followed by ``os.fsync``, in ms, on ``directory``'s disk."""
    block = os.urandom(4096)
    times: list[float] = []
    with tempfile.NamedTemporaryFile(dir=directory, prefix="fsync-") as fh:
        for _ in range(rounds):
            t0 = time.perf_counter()
            fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"fsync_p50_ms": round(statistics.median(times), 3),
            "fsync_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3), "fsync_rounds": rounds}


def markdown_table(stages: dict[str, float]) -> list[str]:
    lines = ["| stage | CPU µs per message (profiled) |", "| --- | --- |"]
    lines += [f"| {name} | {value:,.1f} |" for name, value in stages.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--messages", type=int, default=5000)
    args = ap.parse_args(argv)
    from bench import broker, scenarios
    from hub.catalogue.parties import PartyRegistry
    from hub.settings import Settings

    broker.ensure_rabbitmq()
    base = Settings.load()
    parties = PartyRegistry.load(base.parties_path)
    with broker.fresh_vhost(parties) as vh:
        bench = scenarios.Bench(vh, scenarios.MODES["quick"], base, parties, print)
        try:
            res = scenarios.stages(bench, count=args.messages)
        finally:
            bench.close()
    print("\n".join(markdown_table(res["stages_cpu_us_per_msg"])))
    print({k: v for k, v in res.items() if k != "stages_cpu_us_per_msg"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
