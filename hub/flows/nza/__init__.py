"""Seed 001, NZa: DIS onderhanden-werk deliveries with a delivery calendar, and care-cluster results.

The handlers and the calendar are ``handlers.py``; ``settings.toml`` holds the calendar's rhythm.
"""

from __future__ import annotations

from pathlib import Path

from hub.flows.base import Flow
from hub.flows.nza import handlers

FLOW = Flow.at(
    Path(__file__), "nza", "NZa: OHW deliveries (ZIP with row-level receipts), delivery calendar, care clusters",
    install=handlers.install,
    jobs={"delivery-calendar": handlers.job_calendar},
    cli="hub.flows.nza.cli:cli",
    demos={1: "hub.flows.nza.demo:seed001"},
    pages="hub.flows.nza.pages:PAGES",
    receipts=(handlers.RECEIPT,),
)
