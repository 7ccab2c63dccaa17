"""Shared fixtures: settings per test, real services when they are up, and the hub on either transport.

With CI=true a test that needs RabbitMQ or PostgreSQL fails when the server is
absent; elsewhere it is skipped with the reason. ``hub`` is one test body run on
the embedded ``memory://`` transport and on RabbitMQ (a fresh vhost per test).
"""

from __future__ import annotations

import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.testing import TestHub

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT.parent / "shared" / "standards"
AMQP_HOST = "127.0.0.1"
MGMT_URL = "http://127.0.0.1:15672"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((AMQP_HOST, port), timeout=1):
            return True
    except OSError:
        return False


def need(service: str, available: bool, why: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{service} is required in CI but {why}")
    pytest.skip(f"{service} not available: {why}")


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Per-test settings on SQLite; with ZORGHUB_TEST_STORE=postgres, on a fresh PostgreSQL schema instead."""
    env = {"ZORGHUB_HOME": str(tmp_path / "home"),
           "ZORGHUB_SCHEMA_DIR": str(SCHEMA_DIR) if SCHEMA_DIR.is_dir() else ""}
    if os.environ.get("ZORGHUB_TEST_STORE") == "postgres":
        env["ZORGHUB_STORE_URL"] = str(request.getfixturevalue("pg_url"))
        # CLI calls and worker subprocesses in the test read the environment: point them there too
        request.getfixturevalue("monkeypatch").setenv("ZORGHUB_STORE_URL", env["ZORGHUB_STORE_URL"])
    return Settings.load(environ=env)


@pytest.fixture
def schema_dir() -> Path:
    need("the shared standards", SCHEMA_DIR.is_dir(), f"{SCHEMA_DIR.name} is not beside the project")
    return SCHEMA_DIR


@contextmanager
def temporary_vhost() -> Iterator[str]:
    """A fresh vhost on the real broker, deleted afterwards (a test may need more than one)."""
    need("RabbitMQ", _port_open(5672), "nothing listens on 127.0.0.1:5672")
    need("RabbitMQ management", _port_open(15672), "the management plugin is not enabled (port 15672)")
    from hub.transports.management import Management

    mgmt = Management(MGMT_URL, "guest", "guest")
    vhost = f"zh-test-{uuid.uuid4().hex[:10]}"
    mgmt.put_vhost(vhost)
    mgmt.put_permissions(vhost, "guest", ".*", ".*", ".*")
    try:
        yield vhost
    finally:
        mgmt.delete_vhost(vhost)


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh vhost per test on the real broker, deleted afterwards."""
    with temporary_vhost() as vhost:
        yield vhost


@pytest.fixture
def amqp_settings(settings: Settings, rabbitmq_vhost: str) -> Settings:
    return settings.replace(broker_url=f"amqp://guest:guest@{AMQP_HOST}:5672/{rabbitmq_vhost}",
                            shards=4, batch_size=200, prefetch=400)


def pg_available() -> bool:
    if not _port_open(5432):
        return False
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema per test in database ``test``, dropped afterwards."""
    need("PostgreSQL", pg_available(), f"cannot connect to {PG_URL}")
    import psycopg

    schema = f"zh_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test body on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def hub_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on memory:// and, as a second run, on RabbitMQ in a fresh vhost."""
    if request.param == "rabbitmq":
        return settings.replace(broker_url=str(request.getfixturevalue("amqp_settings").broker_url),
                                shards=4, batch_size=200, prefetch=400)
    return settings


@pytest.fixture
def hub(hub_settings: Settings) -> Iterator[TestHub]:
    """A running hub with its parties (``hub["ciz"]``), once per transport; the flows' clock reset after."""
    from hub.flows import support

    with TestHub(hub_settings, out=lambda _: None) as running:
        try:
            yield running
        finally:
            support.set_clock(None)
