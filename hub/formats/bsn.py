"""The BSN: validation (elfproef), pseudonymisation and redaction.

A BSN is personal data. The hub keys everything on a keyed pseudonym
(HMAC-SHA256) and scrubs BSNs out of any text that leaves it.

Validation takes ASCII digits only: ``str.isdigit()`` and ``\\d`` also accept
full-width and other Unicode digits, which ``int()`` reads happily, so a BSN
in full-width digits would pass the elfproef and travel on as a different
string than the one every other system keys on.

Redaction is deliberately wider than validation (see ``redact``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator

_ASCII_BSN = re.compile(r"[0-9]{9}")
# any nine-digit run, Unicode digits included: redaction errs on the side of hiding
_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")
# digit groups joined by single separators (space, no-break space, dot, dash and the Unicode dashes)
_SEPARATOR = "[ .\u00a0\u2009\u202f\\-\u2010-\u2015]"
_GROUPED = re.compile(rf"\d+(?:{_SEPARATOR}\d+)+")
_GROUP = re.compile(r"\d+")
_MASK = "*********"
# a UUID as the hub and most senders write message ids; nine digits inside one are a BSN only if they pass
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
                   r"(?![0-9A-Za-z])")


def is_valid(bsn: str) -> bool:
    """The elfproef: 9 ASCII digits, weighted 9..2 and -1, sum divisible by 11, not all zeros."""
    if _ASCII_BSN.fullmatch(bsn) is None or bsn == "000000000":
        return False
    return _elfproef(bsn)


def _elfproef(digits: str) -> bool:
    """The weighted sum on nine digits (any script: ``int`` reads them), for redaction and validation."""
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0 and any(d != "0" for d in digits)


def pseudonym(bsn: str, key: bytes) -> str:
    """A stable, keyed pseudonym: the same client always maps to the same value."""
    return "p-" + hmac.new(key, bsn.encode(), hashlib.sha256).hexdigest()[:32]


def _grouped(match: re.Match[str]) -> str:
    """Mask every run of whole digit groups with nine digits in all that passes the elfproef."""
    text = match.group(0)
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text)]
    spans: list[tuple[int, int]] = []
    lo, count = 0, 0
    for hi, (start, end) in enumerate(groups):  # a sliding window over whole groups: sizes are all positive
        count += end - start
        while count > 9:
            count -= groups[lo][1] - groups[lo][0]
            lo += 1
        if count == 9:
            first, last = groups[lo][0], end
            if _elfproef("".join(text[a:b] for a, b in groups[lo:hi + 1])):
                spans.append((first, last))
    if not spans:
        return text
    merged: list[list[int]] = []
    for first, last in spans:  # windows can overlap: one mask per merged stretch
        if merged and first < merged[-1][1]:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    out, pos = [], 0
    for first, last in merged:
        out += [text[pos:first], _MASK]
        pos = last
    out.append(text[pos:])
    return "".join(out)


def redact(text: str) -> str:
    """Hide every BSN in ``text``: for logs, receipts, dead-letter reasons and metric labels.

    Two rules, chosen for how they fail:

    - any run of exactly nine digits is masked, elfproef or not (a mistyped BSN is still
      someone's number, and nine bare digits are rarely anything else in the hub's texts),
      except inside a UUID, where it is masked when it passes the elfproef: about one random
      UUID in sixty-five holds nine digits in a row in its last group, and a message id so masked could no
      longer be looked up (``534a4369-7b8b-5af0-9d34-*********ceb``). Every issued BSN passes,
      so one written into a UUID is masked still;
    - nine digits written in groups with single spaces, dots or dashes between them
      (``999.990.019``, ``9999 90019``, ``999-99-0019``) are masked when the nine pass the
      elfproef. Every issued BSN passes it, so no real BSN slips through; the check keeps
      dates, periods, AGB codes next to a count (``2026-03-10 3``, ``06220011 1``) and
      other grouped numbers readable, of which only one in eleven would pass by chance.
      Whole groups are tried inside longer runs too (``line 4 999 990 019``).
    """
    uuids = _uuid_spans(text)
    return "".join(part if inside else _GROUPED.sub(_grouped, part)
                   for part, inside in _stretches(_nine_masked(text, uuids), uuids))


def _uuid_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _UUID.finditer(text)] if "-" in text else []


def _stretches(text: str, uuids: list[tuple[int, int]]) -> Iterator[tuple[str, bool]]:
    """``text`` cut at its UUIDs: (stretch, whether it is a UUID), in order.

    The grouped rule runs between UUIDs only: it must not join digits before a UUID to the digit run it
    starts with. A reason ``rejected IO31 7457007a-39cb-...`` held ``31 7457007``, which passed the
    elfproef, and so the id it named lost its first seven digits. A UUID has no separators a BSN is
    written with.
    """
    pos = 0
    for lo, hi in uuids:
        yield text[pos:lo], False
        yield text[lo:hi], True
        pos = hi
    yield text[pos:], False


def _nine_masked(text: str, uuids: list[tuple[int, int]]) -> str:
    """``text`` with its nine-digit runs masked, but those inside a UUID (``uuids``) that fail the elfproef."""
    if not uuids:
        return _NINE_DIGITS.sub(_MASK, text)
    return _NINE_DIGITS.sub(lambda m: _MASK if _is_masked(m, uuids) else m.group(0), text)


def _is_masked(run: re.Match[str], uuids: list[tuple[int, int]]) -> bool:
    inside = any(lo <= run.start() and run.end() <= hi for lo, hi in uuids)
    return not inside or _elfproef(run.group(0))


def find(text: str) -> list[str]:
    """Every possible BSN in ``text`` that ``redact`` would scrub: nine-digit runs and grouped elfproef ones."""
    uuids = _uuid_spans(text)
    found = [m.group(0) for m in _NINE_DIGITS.finditer(text) if _is_masked(m, uuids)]
    for part, inside in _stretches(_nine_masked(text, uuids), uuids):
        if not inside:
            found.extend(g.group(0) for g in _GROUPED.finditer(part) if _grouped(g) != g.group(0))
    return found
