"""Finds the installed flows through the ``zorghub.flows`` entry-point group, and reads their settings.

A flow is announced by the distribution that ships it (``hub`` itself for the shipped ones), so a
third party adds one by installing a package: nothing in the core names a flow.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from hub.catalogue.contract import CONTRACT_FILE, Contract
from hub.catalogue.kinds import KindCatalogue
from hub.errors import ConfigError
from hub.plugins.flow import Flow

GROUP = "zorghub.flows"


def load_flows(entry_points: Iterable[md.EntryPoint] | None = None) -> tuple[Flow, ...]:
    """Every flow announced in ``zorghub.flows``, by name; a broken entry point is a ``ConfigError``."""
    eps = md.entry_points(group=GROUP) if entry_points is None else entry_points
    flows: dict[str, Flow] = {}
    for ep in eps:
        try:
            obj = ep.load()
        except Exception as exc:  # an import error, a missing attribute or a crash in the flow's module
            raise ConfigError(f"flow entry point {ep.name!r} ({ep.value}) failed to load: "
                              f"{exc.__class__.__name__}: {exc}") from exc
        if not isinstance(obj, Flow):
            raise ConfigError(f"flow entry point {ep.name!r} ({ep.value}) is a {type(obj).__name__}, not a Flow")
        if obj.name in flows:
            if flows[obj.name] is obj:  # the same distribution seen twice on sys.path
                continue
            raise ConfigError(f"flow {obj.name!r} is announced twice (entry point {ep.name!r})")
        flows[obj.name] = obj
    return tuple(flows[name] for name in sorted(flows))


def read_settings(flow: Flow) -> dict[str, Any]:
    """The flow's ``settings.toml``, checked against its ``settings.schema.json`` when it has one."""
    if flow.settings is None:
        return {}
    try:
        data = tomllib.loads(flow.settings.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the settings of flow {flow.name!r} ({flow.settings.name}): {exc}") from exc
    if flow.settings_schema is not None:
        try:
            schema = json.loads(flow.settings_schema.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the settings schema of flow {flow.name!r}: {exc}") from exc
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path) or "settings"
            raise ConfigError(f"invalid setting of flow {flow.name!r}: {where}: {errors[0].message}")
    return data


def resolve(ref: str, what: str) -> Any:
    """The object a ``"module:attribute"`` reference names (a flow's CLI group or demo)."""
    module, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{what} {ref!r} cannot be loaded: {exc}") from exc
    return obj


def demos(flows: Iterable[Flow]) -> dict[int, Callable[[Any], bool]]:
    """Every flow's walk-throughs by seed number; two flows claiming one seed is a ``ConfigError``."""
    found: dict[int, Callable[[Any], bool]] = {}
    owner: dict[int, str] = {}
    for flow in flows:
        for seed, ref in flow.demos.items():
            if seed in found:
                raise ConfigError(f"seed {seed:03d} is claimed by flows {owner[seed]!r} and {flow.name!r}")
            found[seed], owner[seed] = resolve(ref, f"demo of flow {flow.name!r}"), flow.name
    return dict(sorted(found.items()))


def jobs(flows: Iterable[Flow]) -> Mapping[str, tuple[Flow, Any]]:
    """Every flow's scheduled jobs by name, with the flow that declares each."""
    found: dict[str, tuple[Flow, Any]] = {}
    for flow in flows:
        for name, job in flow.jobs.items():
            if name in found:
                raise ConfigError(f"job {name!r} is declared by flows {found[name][0].name!r} and {flow.name!r}")
            found[name] = (flow, job)
    return found


def contract(core_kinds: Path, flows: Iterable[Flow]) -> Contract:
    """The vendor contract's replies and examples: the core's (beside its kinds file), then each flow's."""
    files: list[tuple[str, Path, Path | None]] = []
    core = Path(core_kinds).with_name(CONTRACT_FILE)
    if core.is_file():
        files.append(("core", core, None))
    files.extend((f.name, f.contract, f.schema_dir) for f in flows if f.contract is not None)
    return Contract.load(files)


def kind_catalogue(core_kinds: Path, flows: Iterable[Flow], extra: Iterable[Path] = ()) -> KindCatalogue:
    """The kinds as the hub loads them: the core's file, each flow's (schemas in its folder), any extra."""
    return KindCatalogue.from_files([(core_kinds, None),
                                     *((path, f.schema_dir) for f in flows for path in f.kinds),
                                     *((path, None) for path in extra)])
