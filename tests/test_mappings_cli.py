"""``zorghub mappings`` and the golden files of every released mapping version."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.catalogue.mappings import MappingRegistry
from hub.cli.mappings import GOLDEN_ROOT, golden_cases, lock_problems, main, package_of, run_case

REG = MappingRegistry.from_entry_points()


def _case_id(case: object) -> str:
    c = case  # type: ignore[assignment]
    return f"{c.mapping.spec.name}-v{c.mapping.spec.version}-{c.name}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", golden_cases(REG), ids=_case_id)
def test_golden_output_unchanged(case: object) -> None:
    ok, why = run_case(case)  # type: ignore[arg-type]
    assert ok, why


def test_every_released_version_has_golden_cases() -> None:
    covered = {(c.mapping.spec.name, c.mapping.spec.version) for c in golden_cases(REG)}
    for m in REG.all():
        if package_of(m.spec):
            assert (m.spec.name, m.spec.version) in covered


def test_golden_files_match_the_lock() -> None:
    assert lock_problems() == []


def test_changed_golden_file_is_caught(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "mappings"
    shutil.copytree(GOLDEN_ROOT, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    target = root / "iwlz_aw35" / "golden" / "v1" / "case1.out.json"
    target.write_bytes(target.read_bytes().replace(b'"active"', b'"planned"'))
    assert any("iwlz_aw35/v1/case1.out.json: golden file changed" in p for p in lock_problems(root))


def test_cli_mappings_test_passes_and_lists_every_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "test"]) == 0
    out = capsys.readouterr().out
    for m in REG.all():
        assert f"ok   {m.spec.name} v{m.spec.version}:" in out


def test_cli_mappings_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "list"]) == 0
    out = capsys.readouterr().out
    assert "iwlz-aw33-to-fhir\tv2\tiwlz-2.2-xml:AW33 -> fhir-r4-json" in out


def test_cli_mappings_diff_shows_the_v2_change(capsys: pytest.CaptureFixture[str]) -> None:
    case = GOLDEN_ROOT / "iwlz_aw33" / "golden" / "v1" / "case1.in.xml"
    assert main(["mappings", "diff", "iwlz-aw33-to-fhir", "1", "2", str(case)]) == 0
    out = capsys.readouterr().out
    assert '-        "status": "planned",' in out and '+        "status": "cancelled",' in out


def test_cli_errors_are_one_line_and_non_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["mappings", "diff", "iwlz-aw33-to-fhr", "1", "2", str(GOLDEN_ROOT / "golden.lock.json")]) != 0
    err = capsys.readouterr().err
    assert "did you mean iwlz-aw33-to-fhir" in err and err.count("\n") == 1
    assert main(["mappings", "diff", "iwlz-aw33-to-fhir", "1", "2", str(tmp_path / "missing.xml")]) != 0
