"""Targets, the human-readable report and the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (scenario, metric, comparison, threshold, label). Thresholds are for the 2-core reference machine.
TARGETS: list[tuple[str, str, str, float, str]] = [
    ("passthrough", "ratio_vs_ceiling", ">=", 0.5, "passthrough >= 0.5x ceiling"),
    ("translate", "ratio_vs_ceiling", ">=", 0.35, "translate >= 0.35x ceiling"),
    ("fanout", "ratio_vs_ceiling", ">=", 0.2, "fanout-4 >= 0.2x ceiling (inbound msgs/s)"),
    ("query", "p99_ms", "<=", 10.0, "query p99 at light load <= 10 ms"),
    ("http", "submit_ratio_vs_bare", ">=", 0.3, "HTTP submit >= 0.3x bare uvicorn"),
    ("http", "p99_ms", "<=", 15.0, "GraphQL query p99 at light load <= 15 ms"),
    ("passthrough", "tree_sealed_vs_plain", ">=", 0.9,
     "passthrough audit appends with the tree and sealing >= 0.9x without (same run)"),
    ("audit", "verify_records_per_s", ">=", 200_000, "audit verify >= 200,000 records/s"),
    ("audit", "replay_msgs_per_s", ">=", 5_000, "dry-run replay >= 5,000 msgs/s"),
    ("proof", "p99_ms", "<=", 5.0, "inclusion proof at 10M records <= 5 ms (p99)"),
    ("backlog", "total_peak_rss_mb", "<=", 300, "backlog peak RSS <= 300 MB (all workers)"),
    ("backlog", "lost", "<=", 0, "backlog: no message lost"),
    ("scaling", "speedup", ">=", 1.3, "scaling: 2 workers >= 1.3x one"),
    ("console", "p99_ms", "<=", 300, "console page load p99 <= 300 ms (dashboard and message view)"),
]


def evaluate(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, metric, op, threshold, label in TARGETS:
        value = scenarios.get(name, {}).get(metric)
        if value is None:
            status = "not measured"
        elif op == ">=":
            status = "pass" if value >= threshold else "miss"
        else:
            status = "pass" if value <= threshold else "miss"
        out.append({"scenario": name, "metric": metric, "op": op, "threshold": threshold, "value": value,
                    "status": status, "label": label})
    return out


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(doc: dict[str, Any], chart_name: str) -> str:
    m = doc["machine"]
    lines = [
        f"# zorghub benchmark ({doc['mode']} mode)",
        "",
        f"Started {doc['started_at']}, took {doc.get('seconds', 0):.0f}s. Commit `{doc['git_commit'][:12]}`. "
        f"RabbitMQ {doc['rabbitmq_version']}, {m['cores']} cores ({m['cpu_model']}), Python {m['python']}.",
        "Every hub figure is measured in the same run as the ceiling: a bare pika relay on the same broker and "
        "vhost (quorum A -> quorum B, publisher confirms, ack A).",
        "",
        "## Targets",
        "",
        "| target | value | result |",
        "| --- | --- | --- |",
    ]
    for t in doc["targets"]:
        lines.append(f"| {t['label']} | {_fmt(t['value'], 3)} | {t['status']} |")
    lines += ["", "## Scenarios", "",
              "| scenario | msgs/s | x ceiling | p50 ms | p99 ms | p99.9 ms | peak RSS MB | worker CPU µs/msg "
              "| worker writes KB/msg |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in doc["scenarios"].values():
        lines.append(f"| {s['scenario']} | {_fmt(s['msgs_per_s'])} | {_fmt(s['ratio_vs_ceiling'], 3)} | "
                     f"{_fmt(s['p50_ms'], 2)} | {_fmt(s['p99_ms'], 2)} | {_fmt(s.get('p999_ms'), 2)} | "
                     f"{_fmt(s['peak_rss_mb'])} | {_fmt(s.get('drain_cpu_us_per_msg'))} | "
                     f"{_fmt(s.get('drain_written_kb_per_msg'))} |")
    staged = doc["scenarios"].get("stages", {})
    if staged.get("stages_cpu_us_per_msg"):
        from bench.stages import markdown_table

        table = markdown_table(staged["stages_cpu_us_per_msg"])
        lines += ["", "## CPU per message per stage (passthrough)", "", *table,
                  "", f"Profiled total {_fmt(staged.get('profiled_cpu_us_per_msg'))} µs CPU per message; unprofiled "
                  f"worker {_fmt(staged.get('cpu_us_per_msg_unprofiled'))} µs. Disk fsync (4 KiB): p50 "
                  f"{_fmt(staged.get('fsync_p50_ms'), 3)} ms, p99 {_fmt(staged.get('fsync_p99_ms'), 3)} ms."]
    lines += ["", "Worker CPU is the hub workers' CPU time over the drain window, divided by the messages drained "
              "in it (`drain_cpu_us_per_msg`); `cpu_us_per_msg` in the notes divides all of it, the workers' "
              "start-up included (`startup_cpu_seconds`), by all the messages. Worker writes are the bytes the "
              "workers handed to write(2) over the same window, a message (`drain_written_kb_per_msg`, from "
              "`wchar` in /proc; socket sends do not count): the store's log and the checkpoint's copies of its "
              "pages. Each table or index keyed by a random value (a message id, a digest) dirties about one page a "
              "message in every commit, which the log and then the checkpoint write whole.",
              "", "Latencies are publish-to-inbox times under a light paced load (see each scenario's "
              "`latency_load_msgs_per_s`); throughput is the drain rate of a queue filled before the consumer "
              "started. Each scenario starts once the last one's dirty pages are on disk and the machine is idle "
              "(`quiesce_seconds`).", "", "## Notes", ""]
    for s in doc["scenarios"].values():
        extras = {k: v for k, v in s.items() if k not in {"scenario", "title", "available", "note", "msgs_per_s",
                                                           "p50_ms", "p99_ms", "p999_ms", "peak_rss_mb",
                                                           "ratio_vs_ceiling", "stages_cpu_us_per_msg",
                                                           "drain_cpu_us_per_msg", "drain_written_kb_per_msg"}}
        lines.append(f"- **{s['scenario']}** ({s['title']}): {s['note'] or ''}")
        if extras:
            lines.append("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in extras.items()))
    lines += ["", f"![throughput against the ceiling]({chart_name})", ""]
    return "\n".join(lines)


def chart(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = [s for s in doc["scenarios"].values() if s.get("msgs_per_s")]
    names = [s["scenario"] for s in scen]
    rates = [float(s["msgs_per_s"]) for s in scen]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    colors = ["#777777" if n == "ceiling" else "#2a7ab0" for n in names]
    bars = ax1.barh(names[::-1], rates[::-1], color=colors[::-1])
    for bar, s in zip(bars, scen[::-1], strict=True):
        r = s.get("ratio_vs_ceiling")
        label = f"{s['msgs_per_s']:,.0f}" + (f"  ({r:.2f}x)" if r is not None and s["scenario"] != "ceiling" else "")
        ax1.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + label, va="center", fontsize=8)
    ax1.set_xlabel("messages/s (inbound)")
    ax1.set_title("Throughput against the bare relay ceiling")
    ax1.set_xlim(0, max(rates or [1]) * 1.35)
    lat = [s for s in doc["scenarios"].values() if s.get("p50_ms") is not None]
    x = range(len(lat))
    ax2.bar([i - 0.2 for i in x], [s["p50_ms"] for s in lat], width=0.4, label="p50")
    ax2.bar([i + 0.2 for i in x], [s["p99_ms"] or 0 for s in lat], width=0.4, label="p99")
    ax2.set_xticks(list(x), [s["scenario"] for s in lat], rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("ms, publish to inbox")
    ax2.set_title("Latency at light load")
    ax2.legend(fontsize=8)
    fig.suptitle(f"zorghub bench, {doc['mode']} mode, RabbitMQ {doc['rabbitmq_version']}, "
                 f"{doc['machine']['cores']} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
