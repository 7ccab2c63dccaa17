"""Malformed and dangerous ZIP and CSV files: each is refused with its own rule, and rows stream.

The builders here are shared with the end-to-end tests (tests/test_inputs_files.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import time
import zipfile

import pytest

from hub.errors import Rejected
from hub.flows.nza.demo import ohw_csv
from hub.formats import csvbatch
from hub.formats.safezip import ZipLimits

AGB = "06220011"
HEADER = (b"peildatum;locatie_id;locatie_agb;behandeling;beschikbaar;wachttijd_weken;status\n")


# ----- builders ---------------------------------------------------------------------------------
def pakbon_zip(files: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED, agb: str = AGB,
               period: str = "2026-03") -> bytes:
    """A dis-ohw ZIP whose pakbon lists every file, with the given compression for the files."""
    buf = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buf, "w") as zf:
        for name, raw in files.items():
            rows = max(sum(1 for line in raw.splitlines() if line.strip()) - 1, 0)
            entries.append({"naam": name, "rijen": rows, "sha256": hashlib.sha256(raw).hexdigest()})
            zf.writestr(name, raw, compress_type=method)
        zf.writestr("pakbon.json", json.dumps({"aanlevering": "dis-ohw", "zorgaanbieder_agb": agb,
                                               "periode": period, "bestanden": entries}))
    return buf.getvalue()


def _patch(data: bytes, member: str, *, flags: int = 0, method: int | None = None) -> bytes:
    """Set flag bits or the compression method of one member, in its local and its central header."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        local = zf.getinfo(member).header_offset
    cd = struct.unpack("<I", out[-6:-2])[0]  # the end record (no comment): offset of the central directory
    pos = cd
    while out[pos:pos + 4] == b"PK\x01\x02":
        nlen, xlen, clen = struct.unpack("<HHH", out[pos + 28:pos + 34])
        if out[pos + 46:pos + 46 + nlen].decode() == member:
            for flag_at, method_at in ((local + 6, local + 8), (pos + 8, pos + 10)):
                out[flag_at:flag_at + 2] = struct.pack("<H", struct.unpack("<H", out[flag_at:flag_at + 2])[0] | flags)
                if method is not None:
                    out[method_at:method_at + 2] = struct.pack("<H", method)
            return bytes(out)
        pos += 46 + nlen + xlen + clen
    raise AssertionError(f"{member} not in the central directory")


def good_csv(rows: int = 5) -> bytes:
    return ohw_csv(AGB, rows, [], [])


def encrypted_zip() -> bytes:
    return _patch(pakbon_zip({"ohw.csv": good_csv()}), "ohw.csv", flags=0x1)


def method_99_zip() -> bytes:
    return _patch(pakbon_zip({"ohw.csv": good_csv()}), "ohw.csv", method=99)


def bad_crc_zip() -> bytes:
    raw = good_csv()
    data = pakbon_zip({"ohw.csv": raw}, method=zipfile.ZIP_STORED)
    at = data.index(raw) + len(raw) - 3  # a digit of the last row, inside the stored bytes
    return data[:at] + (b"1" if data[at:at + 1] != b"1" else b"2") + data[at + 1:]


def nested_zip() -> bytes:
    """The listed CSV file is itself a ZIP."""
    return pakbon_zip({"ohw.csv": pakbon_zip({"ohw.csv": good_csv()})}, method=zipfile.ZIP_STORED)


def latin1_csv() -> bytes:
    return good_csv(3) + f"{AGB};T\xc9;999990019;05;2026-01-05;AC000;2026-02-03;15\n".encode("latin-1")


def huge_field_csv(header: bytes | None = None, width: int = 7) -> bytes:
    head = header or good_csv(0)
    return head + b";".join([b"x" * (140 * 1024)] + [b"1"] * (width - 1)) + b"\n"


def fullwidth_bsn_csv() -> bytes:
    raw = good_csv(3).decode()
    lines = raw.splitlines(keepends=True)
    cols = lines[2].split(";")
    cols[2] = "".join(chr(ord(c) + 0xFEE0) for c in "999990019")  # full-width digits, a valid elfproef in int()
    lines[2] = ";".join(cols)
    return "".join(lines).encode()


def bomb_zip(unpacked: int = 346_000_000) -> tuple[bytes, int]:
    """An OHW delivery that unpacks to ``unpacked`` bytes of valid-looking rows; built streaming."""
    header = good_csv(0)
    row = f"{AGB};T1;999990019;05;2025-01-01;ACT01;2025-02-01;30\n".encode()  # one row, again and again
    block = row * 16384

    buf = io.BytesIO()
    digest, count, size = hashlib.sha256(header), 0, len(header)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        with zf.open("ohw.csv", "w", force_zip64=True) as fh:
            fh.write(header)
            while size < unpacked:
                chunk = block
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                count += 16384
        zf.writestr("pakbon.json", json.dumps({"aanlevering": "dis-ohw", "zorgaanbieder_agb": AGB,
                                               "periode": "2026-03", "bestanden": [
                                                   {"naam": "ohw.csv", "rijen": count,
                                                    "sha256": digest.hexdigest()}]}))
    return buf.getvalue(), size


MALFORMED_ZIPS = {
    "ZIP_ENCRYPTED": encrypted_zip,
    "ZIP_CRC": bad_crc_zip,
    "ZIP_METHOD": method_99_zip,
    "ZIP_NESTED": nested_zip,
    "CSV_ENCODING": lambda: pakbon_zip({"ohw.csv": latin1_csv()}),
    "CSV_FIELD_TOO_LARGE": lambda: pakbon_zip({"ohw.csv": huge_field_csv(width=8)}),
}
MALFORMED_CSVS = {
    "CSV_ENCODING": lambda: HEADER + "2026-03-12;OOG1;22010003;staar;ja;3;normaal\n".encode("utf-16"),
    "CSV_FIELD_TOO_LARGE": lambda: huge_field_csv(HEADER),
    "CSV_NUL": lambda: HEADER + b"2026-03-12;OOG1;22010003;st\x00aar;ja;3;normaal\n",
}


# ----- the rules, one by one ---------------------------------------------------------------------
def rule_of(name: str, data: bytes, limits: ZipLimits | None = None) -> str:
    with pytest.raises(Rejected) as caught:
        csvbatch.validate_csv(name, data, limits=limits)
    assert "999990019" not in caught.value.reason
    return caught.value.rule


def test_the_builders_change_only_what_they_say() -> None:
    assert csvbatch.validate_csv("dis-ohw", pakbon_zip({"ohw.csv": good_csv()})).ok
    assert csvbatch.validate_csv("zorgbeeld", HEADER + b"2026-03-12;OOG1;22010003;staar;ja;3;normaal\n").ok


@pytest.mark.parametrize("rule", sorted(MALFORMED_ZIPS))
def test_each_malformed_ohw_zip_has_its_rule(rule: str) -> None:
    assert rule_of("dis-ohw", MALFORMED_ZIPS[rule]()) == rule


@pytest.mark.parametrize("rule", sorted(MALFORMED_CSVS))
def test_each_malformed_zorgbeeld_csv_has_its_rule(rule: str) -> None:
    assert rule_of("zorgbeeld", MALFORMED_CSVS[rule]()) == rule


def test_nested_archive_by_name_and_a_damaged_stream() -> None:
    by_name = pakbon_zip({"ohw.csv": good_csv(), "inner.zip": b"anything"})
    assert rule_of("dis-ohw", by_name) == "ZIP_NESTED"
    data = pakbon_zip({"ohw.csv": good_csv(200)})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("ohw.csv")
    start = info.header_offset + 30 + len(info.filename) + 10
    broken = data[:start] + bytes(b ^ 0xFF for b in data[start:start + 40]) + data[start + 40:]
    assert rule_of("dis-ohw", broken) in ("ZIP_CORRUPT", "ZIP_CRC")
    assert csvbatch.validate_csv("dis-ohw", b"not a zip").errors[0].reason == "not a ZIP file"


def test_a_line_without_end_is_bounded() -> None:
    assert rule_of("zorgbeeld", HEADER + b"1;" * (600 * 1024)) == "CSV_LINE_TOO_LONG"


def test_the_zip_bomb_guard_reads_the_directory_first() -> None:
    data, size = bomb_zip(40_000_000)
    assert len(data) < 1_048_576
    started = time.monotonic()
    assert rule_of("dis-ohw", data, ZipLimits(max_unpacked=20_000_000)) == "ZIP_TOO_LARGE"
    assert rule_of("dis-ohw", data, ZipLimits(max_unpacked=10**9, max_ratio=20)) == "ZIP_RATIO"
    assert time.monotonic() - started < 1.0  # nothing was unpacked


def test_a_member_that_lies_about_its_size_is_caught_while_streaming() -> None:
    """A central directory that claims a small file: zipfile stops at the claim and the CRC fails."""
    raw = good_csv(2000)
    data = bytearray(pakbon_zip({"ohw.csv": raw}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("ohw.csv")
    cd = struct.unpack("<I", data[-6:-2])[0]
    pos = data.index(b"PK\x01\x02" + data[cd + 4:cd + 8], cd)  # the member's central entry is the first
    assert data[pos + 46:pos + 46 + len(info.filename)] == b"ohw.csv"
    data[pos + 24:pos + 28] = struct.pack("<I", 1000)  # uncompressed size: 1000 bytes
    assert rule_of("dis-ohw", bytes(data)) == "ZIP_CRC"


def test_rows_stream_in_flat_memory(tmp_path: pytest.TempPathFactory) -> None:
    """A clean 25 MB member validates in a child process whose peak RSS stays far below the member."""
    script = (
        "import resource, sys\n"
        "from tests.test_zip_files import bomb_zip\n"
        "from hub.formats import csvbatch\n"
        "from hub.formats.safezip import ZipLimits\n"
        "data, size = bomb_zip(25_000_000)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "report = csvbatch.validate_csv('dis-ohw', data, limits=ZipLimits(max_unpacked=10**9, max_ratio=10**4))\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(report.ok_rows, size, before, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600)
    ok_rows, size, before, after = (int(x) for x in out.stdout.split())
    assert ok_rows > 400_000 and size >= 25_000_000
    assert after - before < 30 * 1024, f"validating grew the peak RSS by {(after - before) // 1024} MB"
