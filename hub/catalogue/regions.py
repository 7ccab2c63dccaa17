"""The region table: a client's municipality or postcode to its zorgkantoor.

Codes are the real COD001 zorgkantoor regions. The table is data (CSV): an
integrator updates it when municipalities merge, without touching code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RegionTable:
    by_gemeente: dict[str, str]
    by_postcode: list[tuple[int, int, str]]

    @classmethod
    def load(cls, path: Path) -> RegionTable:
        by_gemeente: dict[str, str] = {}
        ranges: list[tuple[int, int, str]] = []
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                code = row["zorgkantoor"].strip()
                by_gemeente[row["gemeentecode"].strip()] = code
                lo, _, hi = row["postcodes"].partition("-")
                if lo.strip():
                    ranges.append((int(lo), int(hi or lo), code))
        return cls(by_gemeente, sorted(ranges))

    def zorgkantoor(self, gemeentecode: str | None = None, postcode: str | None = None) -> str | None:
        """COD001 code for a municipality (CBS code) or, failing that, a postcode."""
        if gemeentecode and gemeentecode in self.by_gemeente:
            return self.by_gemeente[gemeentecode]
        if postcode:
            digits = postcode.strip()[:4]
            if digits.isdigit():
                number = int(digits)
                for lo, hi, code in self.by_postcode:
                    if lo <= number <= hi:
                        return code
        return None
