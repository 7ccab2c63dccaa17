"""``zorghub mappings`` and the golden files of every released mapping version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.catalogue.mappings import MappingRegistry
from hub.cli.golden import GOLDEN_ROOT, LOCK, Case, golden_cases, lock_problems, place_of, run_case, write_lock
from hub.cli.main import main as zorghub_main
from hub.cli.mappings import main

REG = MappingRegistry.from_entry_points()


def _case_id(case: Case) -> str:
    return f"{case.mapping.spec.name}-v{case.mapping.spec.version}-{case.name}"


def _copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "mappings"
    shutil.copytree(GOLDEN_ROOT, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


@pytest.mark.parametrize("case", golden_cases(REG), ids=_case_id)
def test_golden_output_unchanged(case: Case) -> None:
    ok, why = run_case(case)
    assert ok, why


def test_every_released_version_has_golden_cases_beside_its_module() -> None:
    covered = {(c.mapping.spec.name, c.mapping.spec.version) for c in golden_cases(REG)}
    for m in REG.all():
        assert (m.spec.name, m.spec.version) in covered
        place = place_of(REG, m.spec.name, m.spec.version)
        assert place is not None and place.root == GOLDEN_ROOT
    place = place_of(REG, "iwlz-aw33-to-fhir", "2")
    assert place is not None and place.key == "iwlz_aw33/v2"
    assert place.folder == GOLDEN_ROOT / "iwlz_aw33" / "golden" / "v2"


def test_golden_files_match_the_lock() -> None:
    assert lock_problems() == []


def test_changed_golden_file_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_root(tmp_path)
    target = root / "iwlz_aw35" / "golden" / "v1" / "case1.out.json"
    target.write_bytes(target.read_bytes().replace(b'"active"', b'"planned"'))
    assert any("iwlz_aw35/v1/case1.out.json: golden file changed" in p for p in lock_problems(root))
    assert main(["test", "--golden", str(root), "iwlz-aw35-to-fhir"]) == 1
    out = capsys.readouterr().out
    assert "FAIL iwlz-aw35-to-fhir v1: 1/2 golden cases" in out and "golden file changed" in out


def test_test_with_a_golden_root_passes_for_every_shipped_version(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``--golden ROOT`` is the folder that holds the lock: a copy of the shipped one passes as it is."""
    root = _copy_root(tmp_path)
    assert main(["test", "--golden", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok   ") == len(REG.all()) and "FAIL" not in out


def test_cli_mappings_test_passes_and_lists_every_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert zorghub_main(["mappings", "test"]) == 0
    out = capsys.readouterr().out
    for m in REG.all():
        assert f"ok   {m.spec.name} v{m.spec.version}:" in out


def test_cli_mappings_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert zorghub_main(["mappings", "list"]) == 0
    out = capsys.readouterr().out
    assert "iwlz-aw33-to-fhir\tv2.1\tiwlz-2.2-xml:AW33 -> fhir-r4-json\tzorghub 0.1.0\tdefault\n" in out
    assert "iwlz-aw33-to-fhir\tv2\tiwlz-2.2-xml:AW33 -> fhir-r4-json\tzorghub 0.1.0\n" in out
    assert "iwlz-aw33-to-fhir\tv1\tiwlz-2.2-xml:AW33 -> fhir-r4-json\tzorghub 0.1.0\n" in out


def test_cli_mappings_diff_shows_the_v2_change(capsys: pytest.CaptureFixture[str]) -> None:
    case = GOLDEN_ROOT / "iwlz_aw33" / "golden" / "v1" / "case1.in.xml"
    assert main(["diff", "iwlz-aw33-to-fhir", "1", "2", str(case)]) == 0
    out = capsys.readouterr().out
    assert '-        "status": "planned",' in out and '+        "status": "cancelled",' in out
    assert main(["diff", "iwlz-aw33-to-fhir", "v1", "v2", str(case)]) == 0
    assert capsys.readouterr().out == out


def test_lock_of_the_shipped_root_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_root(tmp_path)
    before = (root / LOCK).read_bytes()
    assert main(["lock", "--golden", str(root)]) == 0
    assert "nothing new to lock" in capsys.readouterr().out
    assert (root / LOCK).read_bytes() == before
    (root / LOCK).unlink()
    added, kept = write_lock(root)
    assert kept == [] and "iwlz_aw33/v2" in added
    assert (root / LOCK).read_bytes() == before  # the lock is written exactly as it was released


def test_cli_errors_are_one_line_and_non_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["diff", "iwlz-aw33-to-fhr", "1", "2", str(GOLDEN_ROOT / "golden.lock.json")]) == 2
    err = capsys.readouterr().err
    assert "unknown mapping 'iwlz-aw33-to-fhr'; did you mean 'iwlz-aw33-to-fhir'" in err and err.count("\n") == 1
    assert main(["diff", "iwlz-aw33-to-fhir", "1", "2", str(tmp_path / "missing.xml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["test", "iwlz-aw33-to-fhir", "--golden", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["lock", "no-such-mapping"]) == 2
    assert capsys.readouterr().err == "zorghub: unknown mapping 'no-such-mapping'\n"
    assert main(["run", "iwlz-aw33-to-fhir", "v7", str(GOLDEN_ROOT / LOCK)]) == 2
    assert "has no version '7' (known: v1, v2, v2.1)" in capsys.readouterr().err
