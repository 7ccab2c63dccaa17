"""Opening a sender's ZIP and CSV files without trusting them.

Every way a file can be malformed is a ``Rejected`` with its own rule, so the
sender learns what to fix and an operator never sees ``INTERNAL``:

- ``ZIP_INVALID``, ``ZIP_CORRUPT``: not a readable archive, or a member that does not unpack;
- ``ZIP_ENCRYPTED``: a member needs a password; ``ZIP_METHOD``: compressed other than stored or deflated;
- ``ZIP_CRC``: a member unpacks to other bytes than its checksum says;
- ``ZIP_NESTED``: an archive inside the archive (by name or by its first bytes);
- ``ZIP_ENTRIES``, ``ZIP_TOO_LARGE``, ``ZIP_RATIO``: too many members, too many bytes unpacked in all, or
  unpacked too far beyond the packed size (a zip bomb). The sizes the archive declares are checked before
  anything is unpacked, and the bytes really unpacked are counted as they stream;
- ``CSV_ENCODING``, ``CSV_NUL``, ``CSV_FIELD_TOO_LARGE``, ``CSV_LINE_TOO_LONG``, ``CSV_SYNTAX``: text that is
  not UTF-8, holds NUL bytes, a field over 128 KiB, a line over 1 MiB, or that the CSV reader refuses.

Members are read as streams: a row at a time, never a whole file in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from hub.errors import Rejected

MAX_FIELD_CHARS = csv.field_size_limit()  # the csv module's own limit: 131072 (128 KiB)
MAX_LINE_CHARS = 1 << 20
ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
ARCHIVE_SUFFIXES = (".zip", ".jar", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst", ".cab")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!",
                 b"\xfd7zXZ")


class MalformedFile(Rejected):
    """The delivered file itself is broken or dangerous: nothing in it is read further."""

    code = "MALFORMED_FILE"


class ZipRejected(MalformedFile):
    code = "ZIP_INVALID"


class ZipBomb(ZipRejected):
    code = "ZIP_TOO_LARGE"


class CsvRejected(MalformedFile):
    code = "CSV_SYNTAX"


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on what one archive may unpack to (the settings ``zip_max_unpacked_bytes`` and ``zip_max_ratio``)."""

    max_unpacked: int = 200_000_000
    max_ratio: int = 200
    max_entries: int = 1000
    #: below this many bytes unpacked the ratio is not held against an archive: it cannot hurt
    ratio_floor: int = 1 << 20


@dataclass
class Budget:
    """The bytes really unpacked from one archive so far, against its limit."""

    limit: int
    used: int = 0

    def spend(self, n: int, name: str) -> None:
        self.used += n
        if self.used > self.limit:
            raise ZipBomb(f"{name}: the archive unpacks to more than {self.limit} bytes", rule="ZIP_TOO_LARGE")


def open_zip(data: bytes, limits: ZipLimits) -> zipfile.ZipFile:
    """Open an archive and check every member's header before a byte is unpacked.

    ``zipfile.BadZipFile`` passes through (the caller reports "not a ZIP file").
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise
    except (ValueError, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise ZipRejected(f"the archive cannot be read: {exc.__class__.__name__}", rule="ZIP_INVALID") from None
    try:
        check_members(zf.infolist(), limits)
    except BaseException:
        zf.close()
        raise
    return zf


def check_members(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(infos) > limits.max_entries:
        raise ZipRejected(f"the archive holds {len(infos)} members; at most {limits.max_entries}",
                          rule="ZIP_ENTRIES")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ZipRejected(f"{info.filename} is encrypted: send the archive without a password",
                              rule="ZIP_ENCRYPTED")
        if info.compress_type not in ALLOWED_METHODS:
            raise ZipRejected(f"{info.filename} uses compression method {info.compress_type}; "
                              f"use {' or '.join(ALLOWED_METHODS.values())}", rule="ZIP_METHOD")
        if info.filename.lower().endswith(ARCHIVE_SUFFIXES):
            raise ZipRejected(f"{info.filename} is an archive inside the archive", rule="ZIP_NESTED")
    unpacked = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if unpacked > limits.max_unpacked:
        raise ZipBomb(f"the archive unpacks to {unpacked} bytes; at most {limits.max_unpacked}",
                      rule="ZIP_TOO_LARGE")
    if unpacked > limits.ratio_floor and unpacked > limits.max_ratio * max(packed, 1):
        raise ZipBomb(f"the archive unpacks {unpacked // max(packed, 1)} times its packed size; "
                      f"at most {limits.max_ratio}", rule="ZIP_RATIO")


def _zip_error(name: str, exc: BaseException) -> ZipRejected:
    """A zipfile or zlib failure, named for the sender."""
    text = str(exc)
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in text:
        return ZipRejected(f"{name}: the unpacked bytes do not match the member's CRC-32", rule="ZIP_CRC")
    if isinstance(exc, NotImplementedError):
        return ZipRejected(f"{name}: unsupported compression", rule="ZIP_METHOD")
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return ZipRejected(f"{name} is encrypted", rule="ZIP_ENCRYPTED")
    return ZipRejected(f"{name} does not unpack: {exc.__class__.__name__}", rule="ZIP_CORRUPT")


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)


class MemberReader(io.RawIOBase):
    """One member as a raw stream: hashes and counts what it unpacks, refuses a nested archive."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> None:
        super().__init__()
        self.name = info.filename
        self.budget = budget
        self.sha256 = hashlib.sha256()
        self.size = 0
        try:
            self._src: IO[bytes] = zf.open(info)
        except _ZIP_ERRORS as exc:
            raise _zip_error(self.name, exc) from None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._src.read(len(view))
        except _ZIP_ERRORS as exc:
            raise _zip_error(self.name, exc) from None
        if self.size == 0 and data.startswith(ARCHIVE_MAGIC):
            raise ZipRejected(f"{self.name} is an archive inside the archive", rule="ZIP_NESTED")
        n = len(data)
        view[:n] = data
        self.size += n
        self.sha256.update(data)
        self.budget.spend(n, self.name)
        return n

    def drain(self) -> None:
        """Read what the consumer left, so the digest covers the whole member."""
        buf = bytearray(1 << 16)
        while self.readinto(buf):
            pass

    def close(self) -> None:
        self._src.close()
        super().close()


def read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, cap: int) -> bytes:
    """A small member (a manifest) whole, refused above ``cap`` bytes."""
    if info.file_size > cap:
        raise ZipRejected(f"{info.filename} is {info.file_size} bytes; at most {cap}", rule="ZIP_TOO_LARGE")
    with MemberReader(zf, info, budget) as raw:
        out = bytearray()
        buf = bytearray(1 << 16)
        while n := raw.readinto(buf):
            out += buf[:n]
            if len(out) > cap:
                raise ZipRejected(f"{info.filename} unpacks beyond {cap} bytes", rule="ZIP_TOO_LARGE")
        return bytes(out)


@dataclass
class TextLines:
    """UTF-8 text (a BOM tolerated) from a byte stream, one bounded line at a time, for ``csv.reader``.

    ``line`` is the physical line last handed out, for naming where decoding failed.
    """

    raw: IO[bytes]
    name: str = ""
    line: int = 0
    _text: io.TextIOWrapper = field(init=False)

    def __post_init__(self) -> None:
        self._text = io.TextIOWrapper(self.raw, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        """Lines split from 64 KiB chunks of text: one C-speed scan per chunk for NUL, not one per line."""
        where = self.name or "the file"
        rest = ""
        while True:
            try:
                chunk = self._text.read(1 << 16)
            except UnicodeDecodeError:
                raise CsvRejected(f"{where} is not UTF-8 text (after line {self.line})", rule="CSV_ENCODING") from None
            if not chunk:
                break
            if "\x00" in chunk:
                at = self.line + (rest + chunk[:chunk.index("\x00")]).count("\n") + 1
                raise CsvRejected(f"{where}: line {at} holds a NUL byte: not a text file", rule="CSV_NUL")
            rest += chunk
            *full, rest = rest.split("\n")
            for line in full:
                self.line += 1
                yield line + "\n"
            if len(rest) > MAX_LINE_CHARS:
                raise CsvRejected(f"{where}: line {self.line + 1} is longer than {MAX_LINE_CHARS} characters",
                                  rule="CSV_LINE_TOO_LONG")
        if rest:
            self.line += 1
            yield rest

    def detach(self) -> None:
        """Leave the underlying stream open: the caller drains and closes it."""
        self._text.detach().detach()  # type: ignore[attr-defined]  # the text wrapper, then the buffer


def csv_error(exc: csv.Error, where: str, line: int) -> CsvRejected:
    """The csv module's refusal, as a rule."""
    if "field larger than field limit" in str(exc):
        return CsvRejected(f"{where}: a field on line {line} is larger than {MAX_FIELD_CHARS} characters",
                           rule="CSV_FIELD_TOO_LARGE")
    return CsvRejected(f"{where}: line {line} is not valid CSV: {exc}", rule="CSV_SYNTAX")
