"""Seed 004, ketenzorg: chain-care claims through a care group, checked against its contracts.

The handlers are ``handlers.py``; ``settings.toml`` holds the contracts and each insurer's format.
"""

from __future__ import annotations

from pathlib import Path

from hub.flows.base import Flow
from hub.flows.ketenzorg import handlers

FLOW = Flow.at(
    Path(__file__), "ketenzorg", "ketenzorg: chain-care claims checked against contracts, to the client's insurer",
    install=handlers.install,
    cli="hub.flows.ketenzorg.cli:cli",
    demos={4: "hub.flows.ketenzorg.demo:seed004"},
)
