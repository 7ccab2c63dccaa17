"""Measure ``AuditLog.verify`` throughput over a large chain (default 1,000,000 records).

    python bench/audit_verify.py [--records N] [--store sqlite:///file] [--keep]

Builds the chain once (realistic 'delivered'-shaped records) and reuses it when
the store already holds at least N records.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import orjson

from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database

KEY = b"bench-key-0123456789abcdef"


def build(log: AuditLog, n: int, batch: int = 20000) -> None:
    have = log.count()
    started = time.perf_counter()
    while have < n:
        size = min(batch, n - have)
        recs = []
        for i in range(have, have + size):
            detail = orjson.dumps({"x": "zorghub.out", "rk": f"party-{i % 7}",
                                   "p": {"message_id": f"m-{i // 3:09d}", "type": "indicatiebesluit",
                                         "content_type": "application/json"},
                                   "h": {"x-sender": "ciz"}}).decode()
            recs.append(AuditRecord(action=("received", "routed", "delivered")[i % 3], actor="ciz",
                                    actor_role="indicatieorgaan", recipient=f"party-{i % 7}",
                                    kind="indicatiebesluit", message_id=f"m-{i // 3:09d}",
                                    client=f"p-{i % 1000:032x}", payload_sha256=f"{i:064x}",
                                    source="bench/memory", trace_id="", detail=detail))
        log.append(recs)
        have += size
    print(f"built {n:,} records in {time.perf_counter() - started:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--store", default="")
    args = parser.parse_args()
    url = args.store or f"sqlite:///{os.path.join(tempfile.gettempdir(), 'zorghub-bench-audit.sqlite3')}"
    log = AuditLog(Database(url), KEY, source="bench")
    if log.count() < args.records:
        build(log, args.records)
    for _ in range(2):
        result = log.verify(1, args.records)
        print(f"verify: ok={result.ok} checked={result.checked:,} in {result.seconds:.2f}s "
              f"= {result.rate:,.0f} records/s")


if __name__ == "__main__":
    main()
