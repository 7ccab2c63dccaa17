"""Acceptance 4: a command that only reads never creates a store, a home or a key; a missing store is an
error that names where it looked. Writers still create what they need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.app import HubApp
from hub.cli.main import main
from hub.cli.status import ExitStatus
from hub.settings import Settings
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database
from hub.store.errors import StoreMissing

READERS = [
    ["audit", "verify"],
    ["audit", "search", "--as", "auditor"],
    ["audit", "who-has-seen", "p-" + "ab" * 16, "--as", "auditor"],
    ["audit", "export", "--as", "auditor"],
    ["audit", "checkpoint", "--no-record", "--export", "checkpoint.json"],
    ["status"],
    ["dlq", "list"],
    ["communication"],
    ["nza", "deliveries"],
    ["zorgbeeld", "capacity"],
    ["ketenzorg", "claims"],
    ["jobs", "list"],
    ["network", "subscriptions"],
    ["network", "terugmeldingen"],
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZORGHUB_STORE_URL", raising=False)
    monkeypatch.delenv("ZORGHUB_CONFIG", raising=False)


@pytest.mark.usefixtures("no_store_env")
@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_store_creates_nothing(command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    typo = tmp_path / "stroe" / "hub.sqlite3"
    before = _tree(tmp_path)
    assert main(["--store", f"sqlite:///{typo}", *command]) == ExitStatus.CONFIG
    assert f"zorghub: no hub store at sqlite:///{typo} (set ZORGHUB_HOME or --store)" in capsys.readouterr().err
    assert _tree(tmp_path) == before  # no store, no folder, no home, no key


@pytest.mark.usefixtures("no_store_env")
def test_a_mistyped_home_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "hmoe"))
    for command in READERS:
        assert main(command) == ExitStatus.CONFIG
        assert f"no hub store at sqlite:///{tmp_path / 'hmoe' / 'hub.sqlite3'}" in capsys.readouterr().err
    assert not (tmp_path / "hmoe").exists()


@pytest.mark.usefixtures("no_store_env")
def test_metrics_on_its_own_needs_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "home"))
    assert main(["metrics", "--port", "0"]) == ExitStatus.CONFIG
    assert "no hub store at" in capsys.readouterr().err
    assert _tree(tmp_path) == set()


@pytest.mark.usefixtures("no_store_env")
def test_a_store_without_its_key_creates_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Another home against the real store: the key is missing, and saying so beats making a new one."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    AuditLog(Database(url), b"the hub's real key").append([AuditRecord(action="received", actor="ciz")])
    monkeypatch.setenv("ZORGHUB_HOME", str(tmp_path / "other-home"))
    assert main(["--store", url, "audit", "verify"]) == ExitStatus.CONFIG
    assert f"no hub key at {tmp_path / 'other-home' / 'hub.key'}" in capsys.readouterr().err
    assert not (tmp_path / "other-home").exists()


def test_a_missing_postgres_schema_is_not_created(pg_url: str) -> None:
    import psycopg

    base, schema = pg_url.split("?schema=")
    with pytest.raises(StoreMissing, match=f"no hub store at .*schema={schema}"):
        Database.open_existing(pg_url)
    with psycopg.connect(base) as conn:
        assert conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                            (schema,)).fetchall() == []


def test_an_empty_postgres_schema_is_no_store(pg_url: str) -> None:
    import psycopg

    base, schema = pg_url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    with pytest.raises(StoreMissing):
        Database.open_existing(pg_url)
    with psycopg.connect(base) as conn:
        assert conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                            (schema,)).fetchall() == []


def test_an_existing_store_opens_for_reading(store_url: str) -> None:
    AuditLog(Database(store_url), b"k").append([AuditRecord(action="received", actor="ciz")])
    db = Database.open_existing(store_url)
    try:
        assert AuditLog(db, b"k").count() == 1
    finally:
        db.close()


def test_writers_create_the_home_key_and_store(settings: Settings) -> None:
    home = Path(settings.home)
    assert not home.exists()
    with pytest.raises(StoreMissing):
        HubApp.build(settings, create=False)
    assert not home.exists()
    with HubApp.build(settings) as app:
        app.audit.append([AuditRecord(action="received", actor="ciz")])
    assert (home / "hub.key").is_file()
    if not settings.store_url:
        assert (home / "hub.sqlite3").is_file()
    with HubApp.build(settings, create=False) as app:
        assert app.audit.count() == 1


def test_a_reader_leaves_the_key_file_alone(settings: Settings) -> None:
    with HubApp.build(settings):
        pass
    key = Path(settings.home) / "hub.key"
    stamp = (key.read_bytes(), os.stat(key).st_mtime_ns)
    with HubApp.build(settings, create=False):
        pass
    assert (key.read_bytes(), os.stat(key).st_mtime_ns) == stamp
