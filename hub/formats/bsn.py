"""The BSN: validation (elfproef), pseudonymisation and redaction.

A BSN is personal data. The hub keys everything on a keyed pseudonym
(HMAC-SHA256) and scrubs nine-digit runs out of any text that leaves it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")


def is_valid(bsn: str) -> bool:
    """The elfproef: 9 digits, weighted 9..2 and -1, sum divisible by 11, not all zeros."""
    if len(bsn) != 9 or not bsn.isdigit() or bsn == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True)) - int(bsn[8])
    return total % 11 == 0


def pseudonym(bsn: str, key: bytes) -> str:
    """A stable, keyed pseudonym: the same client always maps to the same value."""
    return "p-" + hmac.new(key, bsn.encode(), hashlib.sha256).hexdigest()[:32]


def redact(text: str) -> str:
    """Replace every nine-digit run by a placeholder: for logs and receipts."""
    return _NINE_DIGITS.sub("*********", text)


def find(text: str) -> list[str]:
    """Every nine-digit run in ``text``: each could be a BSN (exactly what ``redact`` scrubs)."""
    return _NINE_DIGITS.findall(text)
