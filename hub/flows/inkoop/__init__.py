"""Seed 003, Zorginkoopportaal: uitvraag, contracteer, onderhandel and naleving between insurers and providers.

The handlers are ``handlers.py``; the flow has no settings of its own.
"""

from __future__ import annotations

from pathlib import Path

from hub.flows.base import Flow
from hub.flows.inkoop import handlers

FLOW = Flow.at(
    Path(__file__), "inkoop", "Zorginkoopportaal: questionnaires, contracts, negotiation and delivery requests",
    install=handlers.install,
    cli="hub.flows.inkoop.cli:cli",
    demos={3: "hub.flows.inkoop.demo:seed003"},
    pages="hub.flows.inkoop.pages:PAGES",
)
