"""The integrator's loop, from the command line with nothing deployed (acceptance item 5).

An integrator's package (``tests/fixtures/integrator_mapping``) ships AW33 -> FHIR v3, written on the
public toolkit only, with its own golden root and lock. It is installed the way pip would (a dist-info
on the path), with no edit under ``hub/``; every command runs as a fresh ``zorghub`` process whose
broker and store point at closed ports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.mapping_helpers import REPO, install_package, zorghub

FIXTURE = REPO / "tests" / "fixtures" / "integrator_mapping"
THIRDPARTY = REPO / "tests" / "fixtures" / "thirdparty_mapping"
PKG = "zorghub_integrator_mapping"
NAME = "iwlz-aw33-to-fhir"
GOLDEN = FIXTURE / PKG / "iwlz_aw33" / "golden" / "v3"
SHIPPED_LOCK = REPO / "mappings" / "golden.lock.json"


@pytest.fixture
def installed(tmp_path: Path) -> list[str]:
    return install_package(FIXTURE, tmp_path / "site")


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_list_shows_the_new_version_its_package_and_that_it_is_the_default(installed: list[str],
                                                                           tmp_path: Path) -> None:
    done = zorghub(["mappings", "list"], installed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{NAME}\tv3\tiwlz-2.2-xml:AW33 -> fhir-r4-json\tzorghub-integrator-mapping 0.1.0\tdefault" in done.stdout
    assert f"{NAME}\tv2\tiwlz-2.2-xml:AW33 -> fhir-r4-json\tzorghub 0.1.0\n" in done.stdout
    assert not (tmp_path / "home").exists()  # no store, no key: nothing deployed


def test_mappings_test_name_runs_each_version_from_its_own_golden_root(installed: list[str], tmp_path: Path) -> None:
    done = zorghub(["mappings", "test", NAME], installed, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   iwlz-aw33-to-fhir v3: 3/3 golden cases" in done.stdout
    assert "ok   iwlz-aw33-to-fhir v1: 2/2 golden cases" in done.stdout  # the hub's own, from mappings/
    everything = zorghub(["mappings", "test"], installed, tmp_path)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert everything.stdout.count("\nok   ") + everything.stdout.startswith("ok   ") == 20


def test_run_prints_the_output_of_one_version(installed: list[str], tmp_path: Path) -> None:
    for version in ("v3", "3"):
        done = zorghub(["mappings", "run", NAME, version, str(GOLDEN / "case3.in.xml")], installed, tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (GOLDEN / "case3.out.json").read_text(encoding="utf-8")
    bad = zorghub(["mappings", "run", NAME, "v3", str(SHIPPED_LOCK)], installed, tmp_path)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "iwlz-aw33-to-fhir v3 refused the input: XML: not well-formed XML" in one_line(bad.stderr)
    unknown = zorghub(["mappings", "run", NAME, "v4", str(GOLDEN / "case3.in.xml")], installed, tmp_path)
    assert unknown.returncode == 2
    assert "mapping 'iwlz-aw33-to-fhir' has no version '4' (known: v1, v2, v2.1, v3)" in one_line(unknown.stderr)
    typo = zorghub(["mappings", "run", "iwlz-aw33-to-fhr", "3", str(GOLDEN / "case3.in.xml")], installed, tmp_path)
    assert typo.returncode == 2
    assert "unknown mapping 'iwlz-aw33-to-fhr'; did you mean 'iwlz-aw33-to-fhir'" in one_line(typo.stderr)
    missing = zorghub(["mappings", "run", NAME, "3", str(tmp_path / "nope.xml")], installed, tmp_path)
    assert missing.returncode == 2 and "cannot read" in one_line(missing.stderr)


def test_diff_takes_v2_and_2_alike_over_the_golden_inputs(installed: list[str], tmp_path: Path) -> None:
    with_v = zorghub(["mappings", "diff", NAME, "v1", "v2"], installed, tmp_path)
    bare = zorghub(["mappings", "diff", NAME, "1", "2"], installed, tmp_path)
    assert with_v.returncode == bare.returncode == 0, with_v.stderr + bare.stderr
    assert with_v.stdout == bare.stdout
    assert "--- iwlz-aw33-to-fhir v1 v1/case1\n+++ iwlz-aw33-to-fhir v2 v1/case1\n" in with_v.stdout
    assert '-        "status": "planned",\n+        "status": "cancelled",' in with_v.stdout
    new = zorghub(["mappings", "diff", NAME, "v2", "v3"], installed, tmp_path)
    assert new.returncode == 0, new.stderr
    assert "+++ iwlz-aw33-to-fhir v3 v3/case3\n" in new.stdout  # v3's own golden input is used too
    assert '-        "status": "planned",\n+        "status": "active",' in new.stdout
    assert '"status": "cancelled"' not in "".join(ln for ln in new.stdout.splitlines() if ln[:1] in "+-")
    one = zorghub(["mappings", "diff", NAME, "2", "3", str(GOLDEN / "case3.in.xml")], installed, tmp_path)
    assert one.returncode == 0 and one.stdout.count("+++ ") == 1
    same = zorghub(["mappings", "diff", NAME, "3", "v3"], installed, tmp_path)
    assert same.returncode == 0 and same.stdout == "no difference between v3 and v3 for 3 golden input(s)\n"


def _release_v4(root: Path) -> None:
    """The integrator's next release in the copy: a v4 module and its entry point (golden files come later)."""
    (root / PKG / "iwlz_aw33" / "v4.py").write_text(
        "from dataclasses import replace\n\n"
        "from mappings.toolkit import XmlToFhir\n"
        f"from {PKG}.iwlz_aw33.v3 import SHAPE, SPEC\n\n"
        'TO_FHIR = XmlToFhir(replace(SPEC, version="4"), SHAPE)\n'
    )
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'iwlz-aw33-to-fhir-v4 = "{PKG}.iwlz_aw33.v4:TO_FHIR"\n')


def test_lock_writes_the_lock_that_test_checks_and_never_edits_a_released_version(tmp_path: Path) -> None:
    copy = tmp_path / "integrator"
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    lock = copy / PKG / "golden.lock.json"
    lock.unlink()
    _release_v4(copy)
    path = install_package(copy, tmp_path / "site")
    shipped = SHIPPED_LOCK.read_bytes()

    # the loop for v4: run it, keep the output as the expected one, test, lock, test
    v4 = copy / PKG / "iwlz_aw33" / "golden" / "v4"
    v4.mkdir()
    shutil.copy(GOLDEN / "case1.in.xml", v4 / "case1.in.xml")
    out = zorghub(["mappings", "run", NAME, "4", str(v4 / "case1.in.xml")], path, tmp_path)
    assert out.returncode == 0, out.stderr
    (v4 / "case1.out.json").write_text(out.stdout, encoding="utf-8")
    before = zorghub(["mappings", "test", NAME], path, tmp_path)
    assert before.returncode == 1 and "golden.lock.json is missing" in before.stdout
    assert "ok   iwlz-aw33-to-fhir v4: 1/1 golden cases" in before.stdout

    done = zorghub(["mappings", "lock", NAME], path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"locked iwlz_aw33/v3 in {lock}" in done.stdout and f"locked iwlz_aw33/v4 in {lock}" in done.stdout
    written = json.loads(lock.read_text())
    assert written["iwlz_aw33/v3"] == json.loads((FIXTURE / PKG / "golden.lock.json").read_text())["iwlz_aw33/v3"]
    assert set(written["iwlz_aw33/v4"]) == {"case1.in.xml", "case1.out.json"}
    after = zorghub(["mappings", "test", NAME], path, tmp_path)
    assert after.returncode == 0, after.stdout
    again = zorghub(["mappings", "lock"], path, tmp_path)
    assert again.returncode == 0 and "nothing new to lock" in again.stdout

    # a released version is never edited: a "fixed" golden file fails test and lock refuses it
    target = copy / PKG / "iwlz_aw33" / "golden" / "v3" / "case3.out.json"
    target.write_text(target.read_text().replace('"active"', '"planned"'))
    locked = lock.read_bytes()
    failed = zorghub(["mappings", "test", NAME], path, tmp_path)
    assert failed.returncode == 1
    assert "FAIL iwlz_aw33/v3/case3.out.json: golden file changed (released versions are frozen)" in failed.stdout
    refused = zorghub(["mappings", "lock", NAME], path, tmp_path)
    assert refused.returncode == 1
    assert "refused: iwlz-aw33-to-fhir v3 fails case3" in one_line(refused.stderr)
    # edit the released module and regenerate its golden files: the cases pass, and lock still refuses
    (copy / PKG / "iwlz_aw33" / "v3.py").write_text(
        (copy / PKG / "iwlz_aw33" / "v3.py").read_text().replace('else "active"', 'else "planned"'))
    for version, case in (("3", "case1"), ("3", "case2"), ("3", "case3"), ("4", "case1")):  # v4 builds on v3
        folder = copy / PKG / "iwlz_aw33" / "golden" / f"v{version}"
        rerun = zorghub(["mappings", "run", NAME, version, str(folder / f"{case}.in.xml")], path, tmp_path)
        (folder / f"{case}.out.json").write_text(rerun.stdout, encoding="utf-8")
    edited = zorghub(["mappings", "lock", NAME], path, tmp_path)
    assert edited.returncode == 1
    assert "iwlz_aw33/v3, iwlz_aw33/v4 already locked with other golden files" in one_line(edited.stderr)
    assert "golden file changed" in zorghub(["mappings", "test", NAME], path, tmp_path).stdout
    assert lock.read_bytes() == locked
    assert SHIPPED_LOCK.read_bytes() == shipped  # the hub's own lock is not touched by an integrator's loop


def test_golden_folder_beside_a_single_module_package(tmp_path: Path) -> None:
    """The smaller shape: ``golden/v2/`` beside the package's module, the lock in the same folder."""
    path = install_package(THIRDPARTY, tmp_path / "site")
    done = zorghub(["mappings", "test", "iwlz-aw35-to-fhir"], path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   iwlz-aw35-to-fhir v2: 1/1 golden cases" in done.stdout
    diff = zorghub(["mappings", "diff", "iwlz-aw35-to-fhir", "v1", "v2"], path, tmp_path)
    assert diff.returncode == 0 and '"code": "extra-mapping-v2"' in diff.stdout
