"""Which message headers only the hub may set.

Recipients trust ``x-sender``, ``x-network-sequence`` and the like because the
hub sets them; the hub's own retry and requeue path trusts ``x-original-sender``
and ``x-retries``. A sender's own copies are dropped when a message is
received, before anything reads them. The hub's own re-injections (published
as the hub's broker user) keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: header names the hub sets, matched as prefixes (``x-sender`` covers ``x-sender-id`` too)
HUB_PREFIXES = (
    "x-network-", "x-sender", "x-original-", "x-origin-", "x-mapping", "x-retries", "x-retry-", "x-delay", "x-reason",
    "x-rule", "x-status", "x-error-", "x-requeued", "x-period", "x-reply-to", "x-zorghub",
    # the broker's own dead-lettering and routing headers: never a sender's to give
    "x-death", "x-first-death-", "x-last-death-", "x-received-from", "x-match", "x-consistent-hash",
)


def is_hub_header(name: str) -> bool:
    return name.lower().startswith(HUB_PREFIXES)


def strip_hub_headers(headers: Mapping[str, Any], from_hub: bool) -> dict[str, Any]:
    """The headers a message may carry in: all of them from the hub itself, none of the hub's from a sender."""
    if from_hub:
        return dict(headers)
    return {k: v for k, v in headers.items() if not is_hub_header(str(k))}
