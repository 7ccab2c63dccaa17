"""CSV batch formats: row-level reports, fast, and never a BSN in a reason."""

from __future__ import annotations

import json
import time
import zipfile
from io import BytesIO

import jsonschema
import pytest

from hub.errors import ConfigError
from hub.formats.csvbatch import FORMATS, SCHEMAS, make_pakbon, row_schema, validate_csv
from tests.mapping_helpers import TEST_BSNS

BAD_BSN = "999990008"  # fails the elfproef
GOOD_ROWS = {
    "ketenzorg": "dm2;01234567;{bsn};2025-01-01;2025-03-31;{n:05d};12.50",
    "zorgbeeld": "2025-03-03;loc-{n};01234567;cataract;ja;{w};normaal",
    "naleving": "C-2025-{n};01234567;3311;2025-Q1;DBC{n:06d};{n};1234.00",
    "dis-ohw": "01234567;T{n};{bsn};05;2025-01-01;ACT01;2025-02-01;30",
}


def _csv(name: str, n: int, bad_at: int | None = None, bad: str = "") -> bytes:
    cols = ";".join(row_schema(name).columns)
    rows = [GOOD_ROWS[name].format(n=i % 90000 + 10000 if name == "ketenzorg" else i, bsn=TEST_BSNS[i % len(TEST_BSNS)],
                                   w=i % 52) for i in range(n)]  # fmt: skip
    if bad_at is not None:
        rows.insert(bad_at, bad)
    return (cols + "\n" + "\n".join(rows) + "\n").encode()


def test_one_bad_row_among_10000(capsys: pytest.CaptureFixture[str]) -> None:
    bad = f"dm2;0123456;{BAD_BSN};2025-04-01;2025-03-31;12345;12.5"
    data = _csv("ketenzorg", 10_000, bad_at=4321, bad=bad)
    row_schema("ketenzorg")
    t = time.perf_counter()
    report = validate_csv("ketenzorg", data)
    took = time.perf_counter() - t
    with capsys.disabled():
        print(f"\nketenzorg: 10,001 rows validated in {took * 1000:.0f} ms")
    assert report.ok_rows == 10_000 and report.bad_rows == 1
    assert {e.line for e in report.errors} == {4323}  # header is line 1, rows are 0-based in the list
    assert {e.column for e in report.errors} == {"zorgaanbieder_agb", "client_bsn", "bedrag"}
    assert all(BAD_BSN not in e.reason for e in report.errors)
    assert took < 0.5


@pytest.mark.parametrize("name", ["zorgbeeld", "naleving", "ketenzorg"])
def test_plain_formats_accept_good_files(name: str) -> None:
    report = validate_csv(name, _csv(name, 500))
    assert report.ok and report.ok_rows == 500


def test_row_level_reasons() -> None:
    cols = ";".join(row_schema("zorgbeeld").columns)
    data = (f"{cols}\n2025-02-30;loc;01234567;hip;misschien;3;normaal\n"
            "2025-03-01;loc;01234567;hip;ja;3\n\n2025-03-01;loc;01234567;hip;ja;;kritiek\n").encode()  # fmt: skip
    report = validate_csv("zorgbeeld", data)
    got = [(e.line, e.column) for e in report.errors]
    assert got == [(2, "peildatum"), (2, "beschikbaar"), (3, ""), (5, "wachttijd_weken")]
    assert report.ok_rows == 0 and report.bad_rows == 3
    assert validate_csv("zorgbeeld", b"wrong;header\n").errors[0].line == 1


def test_dis_ohw_zip_with_pakbon() -> None:
    ohw = _csv("dis-ohw", 2000, bad_at=10, bad=f"01234567;T1;{BAD_BSN};05;2025-01-01;ACT01;2024-12-01;30")
    report = validate_csv("dis-ohw", make_pakbon("01234567", "2025-03", {"ohw-1.csv": ohw}))
    assert report.ok_rows == 2000
    assert [(e.file, e.line, e.column) for e in report.errors] == [("ohw-1.csv", 12, "client_bsn")]


def test_dis_ohw_pakbon_problems() -> None:
    ohw = _csv("dis-ohw", 10)
    good = make_pakbon("01234567", "2025-03", {"ohw-1.csv": ohw})
    assert validate_csv("dis-ohw", good).ok
    buf = BytesIO()
    with zipfile.ZipFile(BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as dst:
        pakbon = json.loads(src.read("pakbon.json"))
        pakbon["bestanden"][0]["rijen"] = 11
        pakbon["bestanden"].append({"naam": "ohw-2.csv", "rijen": 1, "sha256": "0" * 64})
        dst.writestr("pakbon.json", json.dumps(pakbon))
        dst.writestr("ohw-1.csv", ohw + b"01234567;T99;999990007;05;2025-01-01;ACT01;2025-02-01;30\n")
        dst.writestr("stray.csv", b"")
    report = validate_csv("dis-ohw", buf.getvalue())
    reasons = {(e.file, e.column or e.reason) for e in report.errors}
    assert ("stray.csv", "file not listed in the pakbon") in reasons
    assert ("ohw-2.csv", "listed in the pakbon but missing") in reasons
    assert ("ohw-1.csv", "sha256") in reasons
    assert ("ohw-1.csv", "rijen") not in reasons  # 11 rows now, as the pakbon says
    assert validate_csv("dis-ohw", b"not a zip").errors[0].reason == "not a ZIP file"
    bad = make_pakbon("0123", "2025-13", {"ohw-1.csv": ohw})
    assert {e.column for e in validate_csv("dis-ohw", bad).errors} == {"pakbon"}


@pytest.mark.parametrize("name", FORMATS)
def test_compiled_checks_agree_with_json_schema(name: str) -> None:
    """The fast per-column checks and a real JSON Schema validator accept the same rows."""
    doc = json.loads((SCHEMAS / f"{name}.row.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(doc, format_checker=jsonschema.FormatChecker())
    schema = row_schema(name)
    good = _csv(name, 3).decode().splitlines()[1:]
    samples = good + [g.replace("01234567", "0123456x") for g in good] + [g.replace("2025", "2O25") for g in good]
    for line in samples:
        row = dict(zip(schema.columns, line.split(";"), strict=True))
        json_ok = validator.is_valid(row)
        report = validate_csv(name, make_pakbon("01234567", "2025-03", {"a.csv": (";".join(schema.columns) + "\n"
                              + line + "\n").encode()}) if name == "dis-ohw" else (";".join(schema.columns) + "\n"
                              + line + "\n").encode())  # fmt: skip
        assert json_ok == (report.ok_rows == 1), line


def test_unknown_format() -> None:
    with pytest.raises(ConfigError):
        validate_csv("nope", b"")
