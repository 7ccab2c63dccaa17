"""The scheduled jobs: runs every flow's ``Flow.jobs`` when due, records and audits each run.

The runner is ``schedule.py``; ``settings.toml`` says how often each job runs.
"""

from __future__ import annotations

from pathlib import Path

from hub.flows.base import Flow
from hub.flows.jobs import schedule

FLOW = Flow.at(
    Path(__file__), "jobs", "Scheduled jobs of every flow: due times, runs and their results (beheer)",
    install=schedule.install,
    cli="hub.flows.jobs.cli:cli",
)
