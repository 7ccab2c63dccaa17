"""Test-local party registries and kind catalogues: a line per party instead of a TOML block each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hub.settings import Settings


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(_toml(v) for v in value) + "]"  # type: ignore[attr-defined]


def party(name: str, id_type: str, id: str, *roles: str, accepts: tuple[str, ...] = (),
          mappings: Mapping[str, str] | None = None) -> str:
    """One ``[[party]]`` entry of the registry file."""
    lines = ["[[party]]", f"name = {_toml(name)}", f"id_type = {_toml(id_type)}", f"id = {_toml(id)}",
             f"roles = {_toml(roles)}"]
    if accepts:
        lines.append(f"accepts = {_toml(accepts)}")
    if mappings:
        quoted = {_toml(k): v for k, v in mappings.items()}  # mapping names hold dashes: quoted keys
        lines.append(f"mappings = {_toml(quoted)}")
    return "\n".join(lines) + "\n"


def zorgkantoor(name: str, cod001: str, *accepts: str, mappings: Mapping[str, str] | None = None) -> str:
    return party(name, "COD001", cod001, "zorgkantoor", accepts=accepts, mappings=mappings)


AANBIEDER = party("aanbieder", "AGB", "01000000", "zorgaanbieder")


def with_registry(settings: Settings, tmp_path: Path, parties: list[str], kinds: str = "") -> Settings:
    """Settings whose party registry (and, if given, kind catalogue) are these, written under ``tmp_path``."""
    (tmp_path / "parties.toml").write_text("\n".join(parties))
    changes = {"parties_file": str(tmp_path / "parties.toml")}
    if kinds:
        (tmp_path / "kinds.toml").write_text(kinds)
        changes["kinds_file"] = str(tmp_path / "kinds.toml")
    return settings.replace(**changes)
