"""``zorghub demo``: the walk-throughs every installed flow declares (``Flow.demos``), seed by seed.

The same script runs on the embedded default (one process, kombu memory://,
SQLite) and on RabbitMQ, where every party connects with its own credentials
and the hub runs as a worker beside them (``hub.testing.TestHub``).
"""

from __future__ import annotations

from collections.abc import Callable

from hub.settings import Settings
from hub.testing import GEELHOED, Printer, TestHub, describe, vhost_of, with_credentials

# the harness's and the URL helpers' former names, for code written against them
DemoContext = TestHub
_vhost = vhost_of
_with_credentials = with_credentials

__all__ = ["GEELHOED", "DemoContext", "TestHub", "describe", "load_demos", "run_demo"]


def load_demos() -> dict[int, Callable[[TestHub], bool]]:
    """Every installed flow's walk-throughs by seed number."""
    from hub.plugins.registry import demos, load_flows

    return demos(load_flows())


def run_demo(settings: Settings, seeds: list[int], out: Printer = print) -> int:
    hub = TestHub(settings, out)
    try:
        ok = True
        demos = load_demos()
        for n in seeds:
            demo = demos.get(n)
            if demo is None:
                out(f"Seed {n:03d}: not available in this build")
                ok = False
                continue
            ok = demo(hub) and ok
            out("")
        result = hub.app.audit.verify()
        out(f"Audit chain: {result.checked} records verified "
            f"({'intact' if result.ok else 'BROKEN: ' + result.problem}).")
        return 0 if ok and result.ok else 1
    finally:
        hub.close()
