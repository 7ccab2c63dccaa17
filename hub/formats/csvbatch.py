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
docs/csv-formats.md.
"""

from __future__ import annotations

import codecs
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

from hub.errors import ConfigError
from hub.formats.bsn import is_valid, redact

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "csv"
FORMATS = ("dis-ohw", "zorgbeeld", "naleving", "ketenzorg")
DELIMITER = ";"
MAX_ERRORS = 1000  # a report lists at most this many rows; the count stays exact


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
            return None if len(value) == 9 and value.isdigit() and is_valid(value) else "not a valid BSN (elfproef)"
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


def _lines(data: bytes) -> Iterator[str]:
    """Decode lazily (UTF-8, BOM tolerated) so a large file is never held twice."""
    dec = codecs.getincrementaldecoder("utf-8-sig")()
    buf = io.BytesIO(data)
    rest = ""
    while chunk := buf.read(1 << 16):
        rest += dec.decode(chunk)
        *full, rest = rest.split("\n")
        for line in full:
            yield line + "\n"
    rest += dec.decode(b"", final=True)
    if rest:
        yield rest


def check_rows(schema: RowSchema, lines: Iterable[str], report: Report, file: str = "") -> int:
    """Validate CSV lines into ``report``; returns the number of data rows seen."""
    reader = csv.reader(lines, delimiter=DELIMITER)
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


def validate_csv(name: str, data: bytes, *, schemas_dir: str | Path = SCHEMAS) -> Report:
    """Validate a delivery of format ``name``; ``dis-ohw`` is a ZIP with a pakbon, the rest plain CSV."""
    if name not in FORMATS:
        raise ConfigError(f"unknown CSV format {name!r} (known: {', '.join(FORMATS)})")
    report = Report()
    if name == "dis-ohw":
        _validate_zip(name, data, report, str(schemas_dir))
    else:
        check_rows(row_schema(name, str(schemas_dir)), _lines(data), report)
    return report


def _validate_zip(name: str, data: bytes, report: Report, schemas_dir: str) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        report.errors.append(RowError(0, "", "not a ZIP file"))
        return
    with zf:
        members = {i.filename: i for i in zf.infolist()}
        if "pakbon.json" not in members:
            report.errors.append(RowError(0, "pakbon", "pakbon.json is missing", "pakbon.json"))
            return
        try:
            pakbon = json.loads(zf.read("pakbon.json"))
        except ValueError:
            report.errors.append(RowError(0, "pakbon", "pakbon.json is not valid JSON", "pakbon.json"))
            return
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
            if members[fname].file_size > 2_000_000_000:
                report.errors.append(RowError(0, "", "file too large", fname))
                continue
            raw = zf.read(fname)
            if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
                report.errors.append(RowError(0, "sha256", "checksum differs from the pakbon", fname))
            rows = check_rows(schema, _lines(raw), report, fname)
            if rows != entry["rijen"]:
                report.errors.append(RowError(0, "rijen", f"pakbon says {entry['rijen']} rows, file has {rows}", fname))


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
