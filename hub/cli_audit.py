"""``zorghub audit``: the auditor's commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.settings import Settings


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from hub.store.audit import AuditLog
    from hub.store.db import Database

    log = AuditLog(Database(settings.effective_store_url), settings.key_bytes())
    result = log.verify(args.start, args.end)
    if result.ok:
        print(f"ok: {result.checked} records verified in {result.seconds:.2f}s "
              f"({result.rate:,.0f} records/s)")
        return 0
    print(f"BROKEN at record {result.first_bad_seq}: {result.problem}", file=sys.stderr)
    return 1



def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    p = audit.add_parser("verify", help="verify the hash chain (all of it, or a range)")
    p.add_argument("--from", dest="start", type=int, default=1)
    p.add_argument("--to", dest="end", type=int)
    p.set_defaults(func=cmd_audit_verify)
