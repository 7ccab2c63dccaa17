"""Seeds 001-004 on the hub: NZa, Zorgbeeld, Zorginkoopportaal and ketenzorg.

Each flow is a module with ``install(app)`` (its tables and handlers), its kinds in
``hub/data/kinds.d/flows.toml``, its settings in ``hub/data/flows/<flow>.toml`` and its schemas
in ``schemas/flows/``. ``docs/flows.md`` shows how to add another.
"""

from __future__ import annotations

from hub.app import HubApp
from hub.flows import inkoop, jobs, ketenzorg, nza, zorgbeeld

FLOWS = (nza, zorgbeeld, inkoop, ketenzorg, jobs)

def install(app: HubApp) -> None:
    for flow in FLOWS:
        flow.install(app)
