"""``zorghub mappings``: the integrator's loop for a mapping version: run, test, lock, diff; and list.

Nothing here needs a broker or a store: the mappings come from the installed packages (entry-point
group ``zorghub.mappings``) and their golden files from each package's own golden root (see
``hub.cli.golden``). ``docs/mappings.md`` walks through the loop. Versions are written ``2`` or
``v2`` alike. Every error is one line on stderr and a non-zero exit (``hub.cli.status``).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from hub.catalogue.mappings import Mapping, MappingRegistry, normalize_version
from hub.cli.golden import (
    GOLDEN_ROOT,
    LOCK,
    Case,
    LockRefused,
    Place,
    cases_in,
    golden_cases,
    lock_digest,
    lock_problems,
    place_of,
    run_case,
    write_lock,
)
from hub.cli.status import ExitStatus
from hub.errors import ConfigError, HubError, UnknownMapping

__all__ = ["GOLDEN_ROOT", "LOCK", "cli", "golden_cases", "lock_digest", "lock_problems", "main", "run_case"]


class UsageProblem(HubError):
    """The command line names something that is not there: a file, a folder, a flag combination."""

    code = "USAGE"


def _exit_status(exc: HubError) -> ExitStatus:
    if isinstance(exc, UnknownMapping | UsageProblem):
        return ExitStatus.USAGE
    if isinstance(exc, ConfigError):
        return ExitStatus.CONFIG
    return ExitStatus.FAILED


class _Group(click.Group):
    """The group's error boundary: a ``HubError`` becomes one line on stderr and its exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubError as exc:
            click.echo(f"zorghub: {exc.reason}", err=True)
            ctx.exit(int(_exit_status(exc)))


def _registry() -> MappingRegistry:
    return MappingRegistry.from_entry_points()


def _versions(reg: MappingRegistry, names: Sequence[str]) -> list[Mapping]:
    """The versions of the named mappings (all mappings when none are named); a typo is an error."""
    if not names:
        return reg.all()
    out: list[Mapping] = []
    for name in names:
        if not reg.versions(name):
            reg.get(name)  # raises "unknown mapping ...; did you mean ...?"
        out.extend(reg.get(name, v) for v in reg.versions(name))
    return out


def _version(reg: MappingRegistry, name: str, text: str) -> Mapping:
    return reg.get(name, normalize_version(text))


def _root(golden: str | None) -> Path | None:
    if golden is None:
        return None
    root = Path(golden)
    if not root.is_dir():
        raise UsageProblem(f"golden root {golden} is not a folder (it holds {LOCK} and <package>/golden/v<N>/)")
    return root


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror}") from None


def _places(reg: MappingRegistry, mappings: Sequence[Mapping], root: Path | None) -> list[tuple[Mapping, Place]]:
    out = []
    for m in mappings:
        place = place_of(reg, m.spec.name, m.spec.version, root)
        if place is not None:
            out.append((m, place))
    return out


@click.group(cls=_Group, name="mappings")
def cli() -> None:
    """Versioned mappings between formats: list, run, test, lock and diff, with nothing deployed."""


@cli.command("list")
def list_cmd() -> None:
    """List every version.

    One line each: name, version, formats, the package it comes from, and ``default`` or ``deprecated``.
    """
    reg = _registry()
    defaults = reg.defaults()
    for m in reg.all():
        s = m.spec
        origin = reg.origin(s.name, s.version)
        package = origin.dist or origin.module.partition(".")[0] or origin.entry
        mark = "deprecated" if s.deprecated else "default" if defaults.get(s.name) == s.version else ""
        click.echo(f"{s.name}\tv{s.version}\t{s.source_format} -> {s.target_format}\t{package}\t{mark}".rstrip())


@cli.command("run")
@click.argument("name")
@click.argument("version")
@click.argument("file")
def run_cmd(name: str, version: str, file: str) -> None:
    """Translate one input with one version.

    Prints the output; FILE ``-`` reads stdin. A refusal prints its rule and reason and exits 1.
    """
    mapping = _version(_registry(), name, version)
    payload = _read(file)
    try:
        out = mapping.translate(payload)
    except HubError as exc:
        raise HubError(f"{name} v{mapping.spec.version} refused the input: {exc.rule}: {exc.reason}",
                       rule=exc.rule) from None
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


@cli.command("test")
@click.argument("names", nargs=-1)
@click.option("--golden", "golden", metavar="ROOT", help="golden root to use instead of each package's own")
def test_cmd(names: tuple[str, ...], golden: str | None) -> None:
    """Run golden cases and check the lock.

    Every version of the named mappings (default: all), each against the golden folder beside its
    module, and each folder against the lock of its golden root.
    """
    reg, root = _registry(), _root(golden)
    failed = 0
    keys: dict[Path, set[str]] = {}
    for m, place in _places(reg, _versions(reg, names), root):
        label = f"{m.spec.name} v{m.spec.version}"
        keys.setdefault(place.root, set()).add(place.key)
        cases = cases_in(m, place.folder)
        if not cases:
            click.echo(f"FAIL {label}: no golden cases in {place.folder}")
            failed += 1
            continue
        bad = [(c, why) for c in cases for ok, why in [run_case(c)] if not ok]
        click.echo(f"{'ok  ' if not bad else 'FAIL'} {label}: {len(cases) - len(bad)}/{len(cases)} golden cases")
        for c, why in bad:
            click.echo(f"     {c.name}: {why}")
        failed += bool(bad)
    for lock_root, mine in sorted(keys.items()):
        for problem in lock_problems(lock_root, None if not names else mine):
            click.echo(f"FAIL {problem}")
            failed += 1
    if failed:
        click.echo(f"zorghub: {failed} problem(s)", err=True)
        click.get_current_context().exit(int(ExitStatus.FAILED))


@cli.command("lock")
@click.argument("names", nargs=-1)
@click.option("--golden", "golden", metavar="ROOT", help="golden root to use instead of each package's own")
def lock_cmd(names: tuple[str, ...], golden: str | None) -> None:
    """Lock the golden files of new versions.

    Only versions whose cases pass; a version already locked keeps its digest (released versions are
    never edited: add a new version).
    """
    reg, root = _registry(), _root(golden)
    keys: dict[Path, set[str]] = {}
    for m, place in _places(reg, _versions(reg, names), root):
        cases = cases_in(m, place.folder)
        bad = [c for c in cases if not run_case(c)[0]]
        if not cases or bad:
            why = "has no golden cases" if not cases else f"fails {', '.join(c.name for c in bad)}"
            raise LockRefused(f"refused: {m.spec.name} v{m.spec.version} {why} in {place.folder}; "
                              "only passing cases are locked")
        keys.setdefault(place.root, set()).add(place.key)
    added_any = False
    for lock_root, mine in sorted(keys.items()):
        added, kept = write_lock(lock_root, mine)
        for key in added:
            click.echo(f"locked {key} in {lock_root / LOCK}")
        added_any = added_any or bool(added)
        if kept and not added:
            click.echo(f"already locked: {', '.join(kept)} in {lock_root / LOCK}")
    if not keys:
        raise UsageProblem("nothing to lock: no mapping version with golden files was selected")
    if not added_any:
        click.echo("nothing new to lock")


def _outputs(mapping: Mapping, payload: bytes) -> list[str]:
    """The output as lines; a refusal is shown as a line too, so the diff shows it."""
    try:
        return mapping.translate(payload).decode("utf-8").splitlines(keepends=True)
    except HubError as exc:
        return [f"refused: {exc.rule}: {exc.reason}\n"]


def _golden_inputs(reg: MappingRegistry, versions: Sequence[Mapping]) -> list[tuple[str, bytes]]:
    """The golden inputs of both versions, each distinct input once, labelled ``v<N>/<case>``."""
    seen: set[bytes] = set()
    out: list[tuple[str, bytes]] = []
    cases: list[Case] = []
    for m, place in _places(reg, versions, None):
        cases.extend(cases_in(m, place.folder))
    for c in cases:
        payload = c.source.read_bytes()
        if payload not in seen:
            seen.add(payload)
            out.append((f"v{c.mapping.spec.version}/{c.name}", payload))
    return out


@cli.command("diff")
@click.argument("name")
@click.argument("a")
@click.argument("b")
@click.argument("file", required=False)
@click.option("--golden", "use_golden", is_flag=True, help="run both versions over their golden inputs (default)")
def diff_cmd(name: str, a: str, b: str, file: str | None, use_golden: bool) -> None:
    """Diff two versions' outputs.

    Over FILE, or (default) over the golden inputs of both versions. A and B may be ``2`` or ``v2``.
    """
    reg = _registry()
    va, vb = _version(reg, name, a), _version(reg, name, b)
    if file is not None and use_golden:
        raise UsageProblem("give a FILE or --golden, not both")
    if va.spec.source_format != vb.spec.source_format:
        raise UsageProblem(f"v{va.spec.version} reads {va.spec.source_format} and v{vb.spec.version} reads "
                           f"{vb.spec.source_format}: no common input")
    inputs = [(file, _read(file))] if file is not None else _golden_inputs(reg, [va, vb])
    if not inputs:
        raise UsageProblem(f"{name} v{va.spec.version} and v{vb.spec.version} have no golden inputs; give a FILE")
    differ = 0
    for label, payload in inputs:
        lines = list(difflib.unified_diff(_outputs(va, payload), _outputs(vb, payload),
                                          f"{name} v{va.spec.version} {label}", f"{name} v{vb.spec.version} {label}"))
        sys.stdout.writelines(lines)
        differ += bool(lines)
    if not differ:
        what = "this input" if file is not None else f"{len(inputs)} golden input(s)"
        click.echo(f"no difference between v{va.spec.version} and v{vb.spec.version} for {what}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the group as ``zorghub mappings ...`` (argv after ``mappings``); returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="zorghub mappings")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitStatus.FAILED if exc.code else ExitStatus.OK)
    return int(ExitStatus.OK)
