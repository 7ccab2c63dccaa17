"""Golden files and their lock: what pins a released mapping version's behaviour.

Each mapping version has a golden folder beside its module, ``<package dir>/golden/v<N>/``, with
inputs ``<case>.in.<ext>`` and expected outputs ``<case>.out.<ext>`` (the extensions follow from
the formats: ``.xml``, ``.json``, ``.csv``). The *golden root* is the folder of the top-level
package the module lives in (``mappings/`` for the shipped mappings, the integrator's own package
for a third-party one). Its ``golden.lock.json`` holds the sha256 of every golden file of every
released version, keyed ``<package path from the root>/v<N>``, so a golden file cannot be
"fixed" to match a changed mapping unnoticed. A released version is never edited: locking
refuses to change a digest already in the lock.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from hub.catalogue.mappings import Mapping, MappingRegistry
from hub.errors import ConfigError, HubError

GOLDEN_ROOT = Path(__file__).resolve().parents[2] / "mappings"
LOCK = "golden.lock.json"

Digest = dict[str, str]


class LockRefused(HubError):
    """Locking would change a released version's golden files, or lock cases that do not pass."""

    code = "LOCK_REFUSED"


@dataclass(frozen=True)
class Place:
    """Where one mapping version's golden files are: the root (with the lock), the folder, the lock key."""

    root: Path
    folder: Path
    key: str


@dataclass(frozen=True)
class Case:
    mapping: Mapping
    name: str
    source: Path
    expected: Path


def ext_of(fmt: str) -> str:
    if fmt.endswith("json"):
        return "json"
    if fmt.startswith("csv:"):
        return "csv"
    return "xml"


def _package_dirs(module: str) -> tuple[Path, Path]:
    """The folder of the mapping's module and the folder of its top-level package (the golden root)."""
    mod = importlib.import_module(module)
    if not getattr(mod, "__file__", None):
        raise ConfigError(f"mapping module {module} has no file, so no golden folder beside it")
    here = Path(str(mod.__file__)).resolve().parent
    top = importlib.import_module(module.partition(".")[0])
    paths = list(getattr(top, "__path__", []))
    top_dir = Path(paths[0]).resolve() if paths else Path(str(top.__file__)).resolve().parent
    return here, top_dir


def place_of(registry: MappingRegistry, name: str, version: str, root: Path | None = None) -> Place | None:
    """The golden place of one version; ``root`` overrides the package's own root. None: not from a package."""
    module = registry.origin(name, version).module
    if not module:
        return None
    here, top_dir = _package_dirs(module)
    rel = here.relative_to(top_dir) if here.is_relative_to(top_dir) else Path(here.name)
    base = root if root is not None else top_dir
    return Place(base, base / rel / "golden" / f"v{version}", (rel / f"v{version}").as_posix())


def cases_in(mapping: Mapping, folder: Path) -> list[Case]:
    """The golden cases of one mapping in a folder: its inputs by the source format's extension."""
    ext_in, ext_out = ext_of(mapping.spec.source_format), ext_of(mapping.spec.target_format)
    out = []
    for src in sorted(folder.glob(f"*.in.{ext_in}")):
        case = src.name[: -len(f".in.{ext_in}")]
        out.append(Case(mapping, case, src, folder / f"{case}.out.{ext_out}"))
    return out


def golden_cases(registry: MappingRegistry, root: Path | None = None) -> list[Case]:
    """Every golden case of every registered version, each from its own package (or under ``root``)."""
    out: list[Case] = []
    for m in registry.all():
        place = place_of(registry, m.spec.name, m.spec.version, root)
        if place is not None:
            out.extend(cases_in(m, place.folder))
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


# --- the lock ----------------------------------------------------------------------


def folder_digest(folder: Path) -> Digest:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.glob("*.*")) if f.is_file()}


def lock_digest(root: Path = GOLDEN_ROOT) -> dict[str, Digest]:
    """sha256 of every golden file under a root, per ``<package>/v<N>``."""
    out: dict[str, Digest] = {}
    for folder in sorted(p for p in root.rglob("v*") if p.is_dir() and p.parent.name == "golden"):
        digest = folder_digest(folder)
        if digest:
            out[(folder.parent.parent.relative_to(root) / folder.name).as_posix()] = digest
    return out


def read_lock(root: Path) -> dict[str, Digest] | None:
    path = root / LOCK
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable lock: {exc}") from None
    return {str(k): dict(v) for k, v in data.items()}


def lock_problems(root: Path = GOLDEN_ROOT, keys: set[str] | None = None) -> list[str]:
    """Differences between the golden files and the lock (all of the root, or only ``keys``)."""
    have = lock_digest(root)
    want = read_lock(root)
    if want is None:
        return [f"{LOCK} is missing in {root}: run `zorghub mappings lock`"] if have or keys else []
    problems = []
    for key in sorted((set(want) | set(have)) if keys is None else keys):
        w, h = want.get(key), have.get(key, {})
        if w is None:
            if h:
                problems.append(f"{key}: not locked yet: run `zorghub mappings lock` once its cases are right")
            continue
        for name in sorted(set(w) | set(h)):
            if w.get(name) != h.get(name):
                state = "added" if name not in w else "removed" if name not in h else "changed"
                problems.append(f"{key}/{name}: golden file {state} (released versions are frozen)")
    return problems


def write_lock(root: Path, keys: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Add the golden folders ``keys`` (default: all under the root) to the lock: (added, already locked).

    A key already in the lock keeps its digest: if its files changed, nothing is written and
    ``LockRefused`` says which. The file is rewritten only when something is added.
    """
    have = lock_digest(root)
    want = read_lock(root) or {}
    chosen = sorted(set(have) if keys is None else keys & set(have))
    edited = [k for k in chosen if k in want and want[k] != have[k]]
    if edited:
        raise LockRefused(f"refused: {', '.join(edited)} already locked with other golden files; a released "
                          "version is never edited: add a new version instead")
    added = [k for k in chosen if k not in want]
    if added:
        merged = {**want, **{k: have[k] for k in added}}
        (root / LOCK).write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added, [k for k in chosen if k in want]
