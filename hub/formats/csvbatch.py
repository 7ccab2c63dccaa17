"""CSV batch deliveries: row-by-row validation with a report of every bad row.

Each format has a JSON Schema per row in ``schemas/csv/<name>.row.schema.json``
(the contract, readable by anyone). Running a general JSON Schema validator per
row is too slow for big files, so the row schema is compiled once into one check
per column; the subset of JSON Schema this understands is small on purpose
(string ``enum``, ``pattern``, ``format: date``, ``minLength``/``maxLength``)
and anything else makes compilation fail loudly. Extensions: ``x-columns`` (the
header, in order), ``x-bsn`` (elfproef; the value never appears in a reason)
and ``x-rules`` (``not-before``: one date column may not precede another).

``dis-ohw`` arrives as a ZIP with ``pakbon.json`` listing its CSV files; see
docs/csv-formats.md. A file that is itself broken (not UTF-8, a field over
128 KiB, an encrypted or corrupt member, a zip bomb: ``hub.formats.safezip``)
raises a ``Rejected`` with its rule instead of a report: nothing in it can be
trusted row by row. Rows are streamed, so memory stays flat however big a
member unpacks.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.formats.bsn import is_valid, redact
from hub.formats.safezip import Budget, MemberReader, TextLines, ZipLimits, csv_error, open_zip, read_small

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "csv"
FORMATS = ("dis-ohw", "zorgbeeld", "naleving", "ketenzorg")
DELIMITER = ";"
MAX_ERRORS = 1000  # a report lists at most this many rows; the count stays exact
MAX_PAKBON_BYTES = 1 << 20


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based physical line in the file; 0 = the file or the pakbon as a whole
    column: str
    reason: str
    file: str = ""


@dataclass
class Report:
    ok_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    pakbon: dict[str, Any] = field(default_factory=dict)  # dis-ohw: the manifest, when it could be read

    @property
    def ok(self) -> bool:
        return not self.errors


Check = Callable[[str], str | None]


def _date(value: str) -> str | None:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return "not a date (YYYY-MM-DD)"
    return None if len(value) == 10 else "not a date (YYYY-MM-DD)"


def _compile_column(name: str, spec: dict[str, object]) -> Check:
    allowed = {"type", "enum", "pattern", "format", "minLength", "maxLength", "x-bsn", "description"}
    unknown = set(spec) - allowed
    if unknown or spec.get("type", "string") != "string":
        raise ConfigError(f"CSV row schema: column {name} uses unsupported keywords {sorted(unknown)}")
    enum = spec.get("enum")
    pattern = re.compile(str(spec["pattern"])) if "pattern" in spec else None
    fmt = spec.get("format")
    lo, hi = int(spec.get("minLength", 0)), spec.get("maxLength")  # type: ignore[call-overload]
    bsn = bool(spec.get("x-bsn"))
    if fmt not in (None, "date"):
        raise ConfigError(f"CSV row schema: column {name} has unsupported format {fmt}")

    def check(value: str) -> str | None:
        if bsn:  # never echo a BSN
            return None if is_valid(value) else "not a valid BSN (elfproef)"  # ASCII digits only
        if len(value) < lo or (hi is not None and len(value) > int(hi)):  # type: ignore[call-overload]
            return f"length must be {lo}..{hi}"
        if enum is not None and value not in enum:  # type: ignore[operator]
            return f"{value!r} is not one of {', '.join(enum)}"  # type: ignore[arg-type]
        if pattern is not None and pattern.search(value) is None:
            return f"{value!r} does not match {pattern.pattern}"
        if fmt == "date":
            return _date(value)
        return None

    return check


@dataclass(frozen=True)
class RowSchema:
    name: str
    columns: tuple[str, ...]
    checks: tuple[Check, ...]
    required: frozenset[str]
    not_before: tuple[tuple[int, int], ...]


@cache
def row_schema(name: str, schemas_dir: str = str(SCHEMAS)) -> RowSchema:
    path = Path(schemas_dir) / f"{name}.row.schema.json"
    if not path.is_file():
        raise ConfigError(f"no CSV row schema for {name!r}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    columns = tuple(doc["x-columns"])
    props = doc["properties"]
    idx = {c: i for i, c in enumerate(columns)}
    rules = tuple((idx[r["not-before"][0]], idx[r["not-before"][1]]) for r in doc.get("x-rules", []))
    return RowSchema(name, columns, tuple(_compile_column(c, props[c]) for c in columns),
                     frozenset(doc.get("required", [])), rules)  # fmt: skip


def _lines(data: bytes) -> TextLines:
    """Decode lazily (UTF-8, BOM tolerated), a bounded line at a time, so a large file is never held twice."""
    return TextLines(io.BytesIO(data))


def check_rows(schema: RowSchema, lines: Iterable[str], report: Report, file: str = "") -> int:
    """Validate CSV lines into ``report``; returns the number of data rows seen.

    A file the CSV reader refuses (a field over the limit, a broken quote) raises ``CsvRejected``.
    """
    reader = csv.reader(lines, delimiter=DELIMITER)
    try:
        return _check_rows(schema, reader, report, file)
    except csv.Error as exc:
        raise csv_error(exc, file or "the file", reader.line_num + 1) from None


def _check_rows(schema: RowSchema, reader: Any, report: Report, file: str) -> int:
    header = next(reader, None)
    if header is None:
        report.errors.append(RowError(0, "", "empty file: no header row", file))
        return 0
    if tuple(h.strip() for h in header) != schema.columns:
        report.errors.append(RowError(1, "", f"header must be {DELIMITER.join(schema.columns)}", file))
        return 0
    width, rows = len(schema.columns), 0
    for row in reader:
        if not row:
            continue
        rows += 1
        line = reader.line_num
        problems: list[RowError] = []
        if len(row) != width:
            problems.append(RowError(line, "", f"expected {width} fields, found {len(row)}", file))
        else:
            for col, check, value in zip(schema.columns, schema.checks, row, strict=True):
                if value == "":
                    if col in schema.required:
                        problems.append(RowError(line, col, "missing", file))
                    continue
                why = check(value)
                if why:
                    problems.append(RowError(line, col, redact(why), file))
            for a, b in schema.not_before:
                if not problems and row[a] < row[b]:  # ISO dates compare as text
                    problems.append(RowError(line, schema.columns[a], f"before {schema.columns[b]}", file))
        if problems:
            report.bad_rows += 1
            room = MAX_ERRORS - len(report.errors)
            report.errors.extend(problems[: max(room, 0)])
        else:
            report.ok_rows += 1
    return rows


def validate_csv(name: str, data: bytes, *, schemas_dir: str | Path = SCHEMAS,
                 limits: ZipLimits | None = None) -> Report:
    """Validate a delivery of format ``name``; ``dis-ohw`` is a ZIP with a pakbon, the rest plain CSV.

    Raises a ``safezip.MalformedFile`` (a ``Rejected``) for a file that cannot be read safely.
    """
    if name not in FORMATS:
        raise ConfigError(f"unknown CSV format {name!r} (known: {', '.join(FORMATS)})")
    report = Report()
    if name == "dis-ohw":
        _validate_zip(name, data, report, str(schemas_dir), limits or ZipLimits())
    else:
        check_rows(row_schema(name, str(schemas_dir)), _lines(data), report)
    return report


def _validate_zip(name: str, data: bytes, report: Report, schemas_dir: str, limits: ZipLimits) -> None:
    try:
        zf = open_zip(data, limits)  # every member's header, sizes and ratio, before anything unpacks
    except zipfile.BadZipFile:
        report.errors.append(RowError(0, "", "not a ZIP file"))
        return
    budget = Budget(limits.max_unpacked)
    with zf:
        members = {i.filename: i for i in zf.infolist()}
        if "pakbon.json" not in members:
            report.errors.append(RowError(0, "pakbon", "pakbon.json is missing", "pakbon.json"))
            return
        try:
            pakbon = json.loads(read_small(zf, members["pakbon.json"], budget, MAX_PAKBON_BYTES))
        except ValueError:  # UnicodeDecodeError included
            report.errors.append(RowError(0, "pakbon", "pakbon.json is not valid JSON", "pakbon.json"))
            return
        if isinstance(pakbon, dict):
            report.pakbon = pakbon
        for err in _pakbon_errors(pakbon, schemas_dir):
            report.errors.append(RowError(0, "pakbon", err, "pakbon.json"))
        if report.errors:
            return
        listed = {f["naam"]: f for f in pakbon["bestanden"]}
        for extra in sorted(set(members) - set(listed) - {"pakbon.json"}):
            report.errors.append(RowError(0, "", "file not listed in the pakbon", extra))
        schema = row_schema(name, schemas_dir)
        for fname, entry in listed.items():
            if fname not in members:
                report.errors.append(RowError(0, "", "listed in the pakbon but missing", fname))
                continue
            with MemberReader(zf, members[fname], budget) as raw:
                # the wrappers are kept until the drain: collecting one closes the stream beneath it
                text = TextLines(io.BufferedReader(raw, 1 << 16), fname)
                rows = check_rows(schema, text, report, fname)
                raw.drain()
                digest = raw.sha256.hexdigest()
                text.detach()
            if digest != entry["sha256"]:
                report.errors.append(RowError(0, "sha256", "checksum differs from the pakbon", fname))
            if rows != entry["rijen"]:
                report.errors.append(RowError(0, "rijen", f"pakbon says {entry['rijen']} rows, file has {rows}", fname))


def dict_rows(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """A plain CSV delivery's rows as (physical line, row by header), streamed; for a file already validated."""
    lines = _lines(data)
    reader = csv.DictReader(lines, delimiter=DELIMITER)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise csv_error(exc, "the file", reader.line_num + 1) from None


@lru_cache(maxsize=4)
def _pakbon_validator(schemas_dir: str) -> object:
    import jsonschema

    doc = json.loads((Path(schemas_dir) / "dis-ohw.pakbon.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(doc, format_checker=jsonschema.FormatChecker())


def _pakbon_errors(pakbon: object, schemas_dir: str) -> list[str]:
    validator = _pakbon_validator(schemas_dir)
    errs = sorted(validator.iter_errors(pakbon), key=lambda e: list(e.path))  # type: ignore[attr-defined]
    return [redact(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}") for e in errs]


def make_pakbon(agb: str, periode: str, files: dict[str, bytes]) -> bytes:
    """Build a dis-ohw ZIP (pakbon + CSV files): for senders' tooling and tests."""
    buf = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for fname, raw in files.items():
            rows = max(sum(1 for line in raw.splitlines() if line.strip()) - 1, 0)
            entries.append({"naam": fname, "rijen": rows, "sha256": hashlib.sha256(raw).hexdigest()})
            zf.writestr(fname, raw)
        pakbon = {"aanlevering": "dis-ohw", "zorgaanbieder_agb": agb, "periode": periode, "bestanden": entries}
        zf.writestr("pakbon.json", json.dumps(pakbon, indent=2))
    return buf.getvalue()
