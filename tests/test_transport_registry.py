"""The transport registry: a URL's scheme is read in hub/transports only, and what differs is asked of the class."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hub.catalogue.topology import Topology
from hub.errors import ConfigError
from hub.settings import Settings
from hub.transports import TRANSPORTS, has_management, is_embedded, open_transport, transport_class, with_credentials
from hub.transports.amqp import AmqpTransport
from hub.transports.memory import MemoryTransport

ROOT = Path(__file__).resolve().parent.parent

#: comparisons of a broker URL's scheme: startswith("memory://"), == "amqp", url.split("://")[0], urlparse(u).scheme
SCHEME_CHECK = re.compile(
    r"""(?:startswith|endswith)\(\s*\(?\s*["'](?:memory|amqps?)(?::/?/?)?["']"""
    r"""|["'](?:memory|amqps?)(?:://)?["']\s*(?:==|!=|\bin\b|\bnot\s+in\b)"""
    r"""|(?:==|!=)\s*["'](?:memory|amqps?)(?:://)?["']"""
    r"""|\.split\(\s*["']://["']"""
    r"""|\.scheme\b"""
)


def scheme_checks(path: Path, root: Path = ROOT) -> list[str]:
    """Lines of ``path`` that compare a broker URL's scheme (strings and comments are code here too)."""
    return [f"{path.relative_to(root)}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if SCHEME_CHECK.search(line)]


def test_no_module_outside_hub_transports_checks_a_broker_urls_scheme() -> None:
    files = [p for folder in ("hub", "bench", "tests") for p in sorted((ROOT / folder).rglob("*.py"))
             if "transports" not in p.relative_to(ROOT).parts[:2] and p != Path(__file__).resolve()]
    assert len(files) > 100
    found = [hit for path in files for hit in scheme_checks(path)]
    assert found == [], "ask the transport (hub.transports) instead:\n" + "\n".join(found)


def test_the_scheme_check_finder_catches_the_forms_it_forbids(tmp_path: Path) -> None:
    bad = ['if url.startswith("memory://"):', 'if url.startswith(("amqp://", "amqps://")):',
           'if settings.broker_url.startswith("amqp"):', 'adapter = url.split("://")[0]',
           'if urlparse(url).scheme == "amqp":', 'if kind == "memory":']
    ok = ['broker_url: str = "memory://"', 'help="memory:// (default) or amqp://user:pass@host/vhost"',
          'self.is_postgres = url.startswith(("postgres://", "postgresql://"))']
    path = tmp_path / "probe.py"
    path.write_text("\n".join(bad + ok) + "\n", encoding="utf-8")
    hits = scheme_checks(path, tmp_path)
    assert [h.split(": ", 1)[1] for h in hits] == bad


def test_the_registry_names_classes_by_scheme_and_imports_them_on_use() -> None:
    assert transport_class("memory://") is MemoryTransport
    assert transport_class("amqp://guest:guest@127.0.0.1:5672/x") is AmqpTransport
    assert transport_class("amqps://h/x") is AmqpTransport
    assert set(TRANSPORTS) >= {"memory", "amqp", "amqps"}
    with pytest.raises(ConfigError, match="unsupported broker URL scheme in 'redis'"):
        transport_class("redis://localhost")


def test_the_base_module_names_no_concrete_transport() -> None:
    tree = ast.parse((ROOT / "hub" / "transports" / "base.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("hub.transports")}


def test_what_differs_is_asked_of_the_transport() -> None:
    assert is_embedded("memory://") and not is_embedded("amqp://h/v")
    assert has_management("amqp://h/v") and not has_management("memory://")
    assert with_credentials("memory://", "ciz", "pw") == "memory://"
    assert with_credentials("amqp://guest:guest@127.0.0.1:5672/v1", "c z", "p@ss") == \
        "amqp://c%20z:p%40ss@127.0.0.1:5672/v1"
    topology = Topology("zorghub", 4, (1000,))
    t = open_transport("memory://")
    try:
        assert t.embedded and t.name == "memory"
        assert t.worker_queues(topology, 1, 2) == [topology.shard(0)]
    finally:
        t.close()


def test_an_amqp_worker_consumes_its_own_shards(amqp_settings: Settings) -> None:
    url = amqp_settings.broker_url
    topology = Topology("zorghub", 4, (1000,))
    t = open_transport(url)
    try:
        assert not t.embedded and t.name == "amqp"
        assert t.worker_queues(topology, 1, 2) == topology.worker_shards(1, 2)
    finally:
        t.close()


def test_a_third_party_transport_is_found_through_its_entry_point(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that declares ``zorghub.transports`` adds a scheme, with no edit under hub/."""
    import hub.transports as registry

    (tmp_path / "loop_transport.py").write_text(
        "from hub.transports.memory import MemoryTransport\n\n\n"
        "class LoopTransport(MemoryTransport):\n    name = 'loop'\n\n"
        "    def __init__(self, url: str = 'loop://', **options: object) -> None:\n"
        "        super().__init__('memory://', **options)  # kombu's in-process broker under another name\n"
        "        self.url = url\n")
    info = tmp_path / "loop_transport-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loop-transport\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[zorghub.transports]\nloop = loop_transport:LoopTransport\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._installed.cache_clear()
    try:
        cls = transport_class("loop://")
        assert cls.__name__ == "LoopTransport" and cls.__module__ == "loop_transport"
        assert is_embedded("loop://")
        transport = open_transport("loop://")
        transport.close()
        with pytest.raises(ConfigError, match="loop://"):  # the error lists it among the known schemes
            transport_class("nope://")
    finally:
        registry._installed.cache_clear()
