"""What an operator may see of a payload: every BSN replaced by the client's pseudonym.

Operators work with pseudonyms (``p-...``), which the audit log and the registers use too, so a
message can be followed without the citizen's number. Anything else that could be a BSN (grouped
digits, a nine-digit number failing the elfproef) is masked as in logs (``hub.formats.bsn.redact``).
"""

from __future__ import annotations

import re

from hub.formats import bsn as bsnlib

_NINE = re.compile(r"(?<!\d)\d{9}(?!\d)")


def pseudonymise(text: str, key: bytes) -> str:
    def swap(m: re.Match[str]) -> str:
        value = m.group(0)
        return bsnlib.pseudonym(value, key)[:14] if bsnlib.is_valid(value) else value

    return bsnlib.redact(_NINE.sub(swap, text))


def payload_text(body: bytes | None, key: bytes, *, reveal: bool = False) -> str:
    """A stored payload for a page: decoded, pretty where it is JSON, and pseudonymised unless revealed."""
    if body is None:
        return "(no payload stored: pruned, shredded or never kept)"
    text = body.decode("utf-8", "replace")
    try:
        import orjson

        text = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        pass
    return text if reveal else pseudonymise(text, key)
