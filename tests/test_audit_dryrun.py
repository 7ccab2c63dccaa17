"""Acceptance 2: 10,000 messages of mixed kinds through the real Worker; a dry-run replay with the recorded
mapping versions reproduces every delivered byte; a changed mapping version shows exactly the expected diffs."""

from __future__ import annotations

import time

import pytest

from hub.auditor.replay import dry_run
from hub.auditor.search import AuditFilter
from hub.catalogue.mappings import MappingRegistry
from hub.settings import Settings
from tests.audit_helpers import JsonToFhir, JsonToXml, feed, hub_settings, open_hub, registry

N = 10_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> object:
    tmp = tmp_path_factory.mktemp("dryrun")
    settings = Settings.load(environ={"ZORGHUB_HOME": str(tmp / "home")})
    hub = open_hub(hub_settings(settings, tmp, f"sqlite:///{tmp / 'store.sqlite3'}"))
    began = time.perf_counter()
    feed(hub, N)
    hub.feed_seconds = time.perf_counter() - began  # type: ignore[attr-defined]
    yield hub
    hub.close()


def test_the_mix_is_mixed(recorded: object) -> None:
    db = recorded.app.db  # type: ignore[attr-defined]
    assert int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'received'")[0][0]) == N
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM audit WHERE action = 'delivered' GROUP BY kind"))
    assert kinds.keys() == {"indicatiebesluit", "echo"}
    mappings = {m for (m,) in db.execute("SELECT DISTINCT mapping FROM audit WHERE action = 'delivered'")}
    assert mappings == {"", "json-to-xml", "json-to-fhir"}
    assert int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'rejected'")[0][0]) > 0


def test_original_versions_reproduce_every_delivered_byte(recorded: object) -> None:
    log = recorded.app.audit  # type: ignore[attr-defined]
    began = time.perf_counter()
    result = dry_run(log, registry(), AuditFilter())
    seconds = time.perf_counter() - began
    delivered = int(log.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'delivered'")[0][0])
    translated = int(log.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'delivered' AND mapping <> ''")[0][0])
    assert result.failures == []
    assert result.checked == delivered
    assert result.identical == translated > 3000
    assert result.passthrough == delivered - translated
    assert result.changed == [] and result.gone == []
    assert seconds < 15


def test_a_changed_mapping_version_shows_the_expected_differences(recorded: object) -> None:
    log = recorded.app.audit  # type: ignore[attr-defined]
    reg = registry(JsonToXml("2"))  # v2 moves the zzp code into an attribute: indicatiebesluiten change, echoes not
    result = dry_run(log, reg, AuditFilter(), versions={"json-to-xml": "2"})
    db = log.db
    expected_changed = int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'delivered' AND "
                                      "mapping = 'json-to-xml' AND kind = 'indicatiebesluit'")[0][0])
    expected_same = int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'delivered' AND "
                                   "mapping = 'json-to-xml' AND kind = 'echo'")[0][0])
    assert result.failures == []
    assert len(result.changed) == expected_changed > 100
    assert result.unchanged_other_version == expected_same > 100
    d = result.changed[0]
    assert d.version == "2" and d.mapping == "json-to-xml"
    assert "-<bericht>" in d.diff and '+<bericht zzp="' in d.diff and "-  <zzp>" in d.diff
    assert "999990019" not in "".join(x.diff for x in result.changed)  # BSNs are masked in diffs


def test_a_mapping_that_breaks_its_contract_is_a_failure(recorded: object) -> None:
    log = recorded.app.audit  # type: ignore[attr-defined]

    class Drifted(JsonToXml):
        def translate(self, payload: bytes) -> bytes:
            return super().translate(payload).replace(b"ping", b"pong")

    # a "frozen" version that changed under our feet: v1 is served by the drifted class
    reg = MappingRegistry()
    for m in (Drifted("1"), JsonToFhir("1")):
        reg.register(m)
    result = dry_run(log, reg, AuditFilter(kind="echo", recipient="zk-utrecht"))
    assert result.failures and all(f.mapping == "json-to-xml" and f.version == "1" for f in result.failures)
    assert "pong" in result.failures[0].diff
