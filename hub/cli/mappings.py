"""``zorghub mappings``: list, test against golden files, and diff two versions.

Golden files live beside each mapping package: ``mappings/<package>/golden/v<N>/<case>.in.<ext>``
with the expected ``<case>.out.<ext>``. The package and the extension follow from
the mapping's formats (``iwlz-2.2-xml:AW35`` -> ``iwlz_aw35``, ``.xml``; ``fhir-r4-json`` -> ``.json``).
``mappings/golden.lock.json`` holds the sha256 of every golden file of a released
version, so a golden file cannot be "fixed" to match a changed mapping unnoticed.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.catalogue.mappings import Mapping, MappingRegistry, MappingSpec
from hub.errors import HubError

GOLDEN_ROOT = Path(__file__).resolve().parents[2] / "mappings"
LOCK = "golden.lock.json"


def package_of(spec: MappingSpec) -> str | None:
    """The package whose golden folder holds this mapping's cases."""
    if {spec.source_format, spec.target_format} == {"fhir-r4-json", "fhir-r4-xml"}:
        return "fhir_xml"
    for fmt in (spec.source_format, spec.target_format):
        if fmt.startswith("iwlz-2.2-xml:"):
            return "iwlz_" + fmt.split(":", 1)[1].lower()
        if fmt.startswith("csv:"):
            return "csv_" + fmt.split(":", 1)[1].replace("-", "_")
    return None


def ext_of(fmt: str) -> str:
    if fmt.endswith("json"):
        return "json"
    if fmt.startswith("csv:"):
        return "csv"
    return "xml"


@dataclass(frozen=True)
class Case:
    mapping: Mapping
    name: str
    source: Path
    expected: Path


def golden_cases(registry: MappingRegistry, root: Path = GOLDEN_ROOT) -> list[Case]:
    out: list[Case] = []
    for m in registry.all():
        pkg = package_of(m.spec)
        if pkg is None:
            continue
        folder = root / pkg / "golden" / f"v{m.spec.version}"
        ext_in, ext_out = ext_of(m.spec.source_format), ext_of(m.spec.target_format)
        for src in sorted(folder.glob(f"*.in.{ext_in}")):
            case = src.name[: -len(f".in.{ext_in}")]
            out.append(Case(m, case, src, folder / f"{case}.out.{ext_out}"))
    return out


def run_case(case: Case) -> tuple[bool, str]:
    """Translate the input; compare with the expected output byte for byte."""
    try:
        got = case.mapping.translate(case.source.read_bytes())
    except HubError as exc:
        return False, f"raised {type(exc).__name__}: {exc.reason}"
    if not case.expected.is_file():
        return False, f"missing expected output {case.expected.name}"
    if got != case.expected.read_bytes():
        return False, "output differs from the golden file"
    return True, "ok"


def lock_digest(root: Path = GOLDEN_ROOT) -> dict[str, dict[str, str]]:
    """sha256 of every golden file, per ``<package>/v<N>``."""
    out: dict[str, dict[str, str]] = {}
    for f in sorted(root.glob("*/golden/v*/*.*")):
        key = f"{f.parts[-4]}/{f.parts[-2]}"
        out.setdefault(key, {})[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def lock_problems(root: Path = GOLDEN_ROOT) -> list[str]:
    """Differences between the golden files and the lock: changed, added or removed files."""
    path = root / LOCK
    if not path.is_file():
        return [f"{LOCK} is missing"]
    want = json.loads(path.read_text(encoding="utf-8"))
    have = lock_digest(root)
    problems = []
    for key in sorted(set(want) | set(have)):
        w, h = want.get(key, {}), have.get(key, {})
        for name in sorted(set(w) | set(h)):
            if w.get(name) != h.get(name):
                state = "added" if name not in w else "removed" if name not in h else "changed"
                problems.append(f"{key}/{name}: golden file {state} (released versions are frozen)")
    return problems


def write_lock(root: Path = GOLDEN_ROOT) -> None:
    """Record the golden files: only when releasing a new version."""
    (root / LOCK).write_text(json.dumps(lock_digest(root), indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --- commands ----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, settings: Any = None) -> int:
    reg = MappingRegistry.from_entry_points()
    for m in reg.all():
        s = m.spec
        flag = " (deprecated)" if s.deprecated else ""
        print(f"{s.name}\tv{s.version}\t{s.source_format} -> {s.target_format}{flag}")
    return 0


def cmd_test(args: argparse.Namespace, settings: Any = None) -> int:
    root = Path(args.golden) if getattr(args, "golden", None) else GOLDEN_ROOT
    reg = MappingRegistry.from_entry_points()
    failed = 0
    cases = golden_cases(reg, root)
    by_version: dict[tuple[str, str], list[Case]] = {}
    for c in cases:
        by_version.setdefault((c.mapping.spec.name, c.mapping.spec.version), []).append(c)
    for m in reg.all():
        key = (m.spec.name, m.spec.version)
        mine = by_version.get(key, [])
        if package_of(m.spec) is not None and not mine:
            print(f"FAIL {key[0]} v{key[1]}: no golden cases")
            failed += 1
            continue
        bad = [(c, why) for c in mine for ok, why in [run_case(c)] if not ok]
        print(f"{'ok  ' if not bad else 'FAIL'} {key[0]} v{key[1]}: {len(mine) - len(bad)}/{len(mine)} golden cases")
        for c, why in bad:
            print(f"     {c.name}: {why}")
        failed += bool(bad)
    for problem in lock_problems(root):
        print(f"FAIL {problem}")
        failed += 1
    if failed:
        print(f"{failed} problem(s)", file=sys.stderr)
    return 1 if failed else 0


def cmd_diff(args: argparse.Namespace, settings: Any = None) -> int:
    reg = MappingRegistry.from_entry_points()
    try:
        payload = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    outs = []
    for v in (args.v1, args.v2):
        try:
            outs.append(reg.get(args.name, v).translate(payload).decode("utf-8"))
        except HubError as exc:
            print(f"{args.name} v{v}: {exc.reason}", file=sys.stderr)
            return 2
    diff = list(difflib.unified_diff(outs[0].splitlines(keepends=True), outs[1].splitlines(keepends=True),
                                     f"{args.name} v{args.v1}", f"{args.name} v{args.v2}"))  # fmt: skip
    sys.stdout.writelines(diff)
    if not diff:
        print(f"no difference between v{args.v1} and v{args.v2} for this input")
    return 0


def register(subparsers: Any) -> None:
    """Add ``mappings list|test|diff`` to the main CLI."""
    group = subparsers.add_parser("mappings", help="versioned mappings between formats")
    sub = group.add_subparsers(dest="mappings_cmd", required=True)
    sub.add_parser("list", help="every mapping: name, version, formats, deprecated").set_defaults(func=cmd_list)
    p = sub.add_parser("test", help="run every golden file of every released version")
    p.add_argument("--golden", help="golden root (default: the installed mappings package)")
    p.set_defaults(func=cmd_test)
    p = sub.add_parser("diff", help="the outputs of two versions of a mapping for one input")
    p.add_argument("name")
    p.add_argument("v1")
    p.add_argument("v2")
    p.add_argument("file")
    p.set_defaults(func=cmd_diff)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry, for tests and for use before the main CLI wires this in."""
    parser = argparse.ArgumentParser(prog="zorghub")
    register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args, None))
