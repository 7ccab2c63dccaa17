"""``python -m bench.run [--quick | --smoke] [--out DIR] [--only NAME ...]``: run the benchmark.

Starts the local RabbitMQ when nothing listens on 5672 (``rabbitmq-server
-detached``), makes a fresh vhost for the run (deleted afterwards), runs every
scenario against the hub's real topology with hub workers in their own
processes, each once the one before has settled (``broker.quiesce``), and
writes ``latest.json``, ``latest.md`` and ``latest.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import broker, console, http, report, scenarios
from bench.scenarios import MODES, Bench

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("ceiling", "passthrough", "translate", "fanout", "query", "http", "audit", "proof", "backlog",
         "scaling", "stages", "console")
TITLES = {
    "ceiling": "Bare pika relay (quorum A -> quorum B, publisher confirms, ack A)",
    "passthrough": "Hub passthrough: echo JSON to one recipient",
    "translate": "Translate: FHIR Bundle -> iWlz AW33 XML to one recipient",
    "fanout": "Fanout: indicatiebesluit to 4 recipients",
    "query": "Query: bevragen round trips, light and saturating load",
    "http": "HTTP: POST /messages and GraphQL query beside bare uvicorn",
    "audit": "Audit: appends under passthrough, verify, dry-run replay",
    "proof": "Proofs: inclusion and consistency at 10M records",
    "backlog": "Backlog: drain a queue filled before the hub starts",
    "scaling": "Scaling: passthrough with 1 and 2 worker processes",
    "console": "Console: dashboard and message page loads over the audit records",
    "stages": "Stages: CPU per message per stage of passthrough, disk fsync latency",
}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def scenario_functions() -> dict[str, Callable[[Bench], dict[str, Any]]]:
    return {
        "ceiling": scenarios.ceiling,
        "passthrough": scenarios.passthrough,
        "translate": scenarios.translate,
        "fanout": scenarios.fanout,
        "query": scenarios.query,
        "http": http.http,
        "audit": scenarios.audit,
        "proof": scenarios.proof,
        "backlog": scenarios.backlog,
        "scaling": scenarios.scaling,
        "console": console.console,
        "stages": scenarios.stages,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else "")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="far fewer messages (under 2 minutes)")
    size.add_argument("--smoke", action="store_true", help="a few hundred messages: checks the harness, not speed")
    ap.add_argument("--out", default=str(RESULTS), help="where latest.json, latest.md and latest.png go")
    ap.add_argument("--only", nargs="*", choices=ORDER, help="run only these scenarios (others: not measured)")
    args = ap.parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "default"]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    # SIGTERM (a timeout, Ctrl-C's cousin) unwinds normally: workers stop and the vhost is deleted
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    broker.ensure_rabbitmq(log=log)
    from hub.catalogue.parties import PartyRegistry
    from hub.settings import Settings

    base = Settings.load()
    parties = PartyRegistry.load(base.parties_path)
    started = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    doc: dict[str, Any] = {
        "mode": mode.name,
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": git_commit(),
        "rabbitmq_version": broker.rabbitmq_version(),
        "machine": {"cores": broker.cores(), "cpu_model": broker.cpu_model(), "python": platform.python_version()},
        "sizes": {k: v for k, v in vars(mode).items() if k != "name"},
        "scenarios": {},
    }
    funcs = scenario_functions()
    with broker.fresh_vhost(parties) as vh:
        log(f"vhost {vh.name}, mode {mode.name}")
        bench = Bench(vh, mode, base, parties, log)
        try:
            for name in ORDER:
                if args.only and name not in args.only and name != "ceiling":
                    doc["scenarios"][name] = scenarios.result(name, TITLES[name], available=False,
                                                              note="not measured in this run (--only)")
                    continue
                settled = broker.quiesce()
                t0 = time.perf_counter()
                log(f"{name} ... (machine quiet after {settled:.1f}s)")
                try:
                    res = funcs[name](bench)
                except Exception as exc:
                    traceback.print_exc()
                    res = scenarios.result(name, TITLES[name], available=False,
                                           note=f"failed: {exc.__class__.__name__}: {exc}")
                res["seconds"] = round(time.perf_counter() - t0, 1)
                res["quiesce_seconds"] = settled
                doc["scenarios"][name] = res
                log(f"{name}: {res.get('msgs_per_s')} msgs/s, x{res.get('ratio_vs_ceiling')}, "
                    f"p99 {res.get('p99_ms')} ms, rss {res.get('peak_rss_mb')} MB ({res['seconds']}s)")
        finally:
            bench.close()
    doc["seconds"] = round(time.perf_counter() - began, 1)
    doc["targets"] = report.evaluate(doc["scenarios"])
    (out_dir / "latest.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    report.chart(doc, out_dir / "latest.png")
    (out_dir / "latest.md").write_text(report.markdown(doc, "latest.png"), encoding="utf-8")
    log(f"done in {doc['seconds']:.0f}s: {out_dir / 'latest.json'}")
    for t in doc["targets"]:
        log(f"  {t['status']:>12}  {t['label']}: {t['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
