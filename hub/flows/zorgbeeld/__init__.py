"""Seed 002, Zorgbeeld: capacity reports, their subscribers and the region-scoped picture.

The handlers are ``handlers.py``; ``settings.toml`` holds the rhythm, the ROAZ regions and the subscribers.
"""

from __future__ import annotations

from pathlib import Path

from hub.flows.base import Flow
from hub.flows.zorgbeeld import handlers

FLOW = Flow.at(
    Path(__file__), "zorgbeeld", "Zorgbeeld: capacity reports, stale checks and the picture per ROAZ region",
    install=handlers.install,
    jobs={"stale-check": handlers.job_stale, "retention": handlers.job_retention},
    cli="hub.flows.zorgbeeld.cli:cli",
    demos={2: "hub.flows.zorgbeeld.demo:seed002"},
    pages="hub.flows.zorgbeeld.pages:PAGES",
)
