"""Acceptance 4 and 5: the AuditEvent export of the seed-000 walk-through parses with fhir.resources (R4B) and has
one event per notification, query and denial; who-has-seen for Mr Geelhoed lists exactly the parties that received
or queried his data."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from hub.auditor.export import bundle_bytes
from hub.auditor.search import AuditFilter, client_pseudonym, search, who_has_seen
from hub.catalogue.parties import PartyRegistry
from hub.cli.main import main
from hub.demo import run_demo
from hub.settings import Settings
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database

GEELHOED = "999990019"
WALK_VIEWERS = {"zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak"}


def is_denial(r: AuditRecord) -> bool:
    return r.outcome == "deny" or r.action == "rejected"


@pytest.fixture
def walked(settings: Settings) -> AuditLog:
    assert run_demo(settings, [0], out=lambda _: None) == 0
    return AuditLog(Database(settings.effective_store_url), settings.key_bytes())


def test_fhir_export_of_the_walk_through(walked: AuditLog, settings: Settings) -> None:
    records = walked.records()
    parties = PartyRegistry.load(settings.parties_path)
    bundle = Bundle.model_validate_json(bundle_bytes(records, parties))
    assert bundle.type == "collection" and len(bundle.entry) == len(records)
    events = [e.resource for e in bundle.entry]
    assert all(e.__resource_type__ == "AuditEvent" for e in events)
    by_seq = {int(e.id.removeprefix("zorghub-")): e for e in events}
    assert sorted(by_seq) == [r.seq for r in records]  # one event per record, no more, no fewer

    notifications = [r for r in records if r.action == "delivered"]
    queries = [r for r in records if r.action == "network.query"]
    denials = [r for r in records if is_denial(r)]
    assert {r.recipient for r in notifications} >= WALK_VIEWERS
    assert len(queries) >= 5 and len(denials) >= 5
    for group, code in ((notifications, "110106"), (queries, "110112")):
        for r in group:
            assert by_seq[r.seq].type.code == code and by_seq[r.seq].subtype[0].code == r.action
    for r in denials:
        e = by_seq[r.seq]
        assert e.outcome == "4" and e.outcomeDesc == r.reason and e.subtype[0].code == r.action
    exported = Counter((e.subtype[0].code, e.outcome) for e in events)
    for kind in ("delivered", "network.query"):
        assert sum(n for (action, _), n in exported.items() if action == kind) == \
            sum(1 for r in records if r.action == kind)
    # outcome 4 (minor failure): every denial, plus the refused write's failed reception
    failed_receptions = [r for r in records if r.action == "received" and r.outcome == "failure"]
    assert sum(n for (_, outcome), n in exported.items() if outcome == "4") == len(denials) + len(failed_receptions)
    # outcome 8 (serious failure): the refused write, parked in the dead letter channel
    assert sum(n for (_, outcome), n in exported.items() if outcome == "8") == \
        sum(1 for r in records if r.action == "dead_lettered")

    delivered = by_seq[notifications[0].seq]
    assert delivered.outcome == "0" and delivered.action == "R"
    assert [a.requestor for a in delivered.agent] == [True, False]
    assert delivered.agent[1].who.identifier.value == notifications[0].recipient
    client = next(x for x in delivered.entity if x.what.identifier.system == "urn:zorghub:client-pseudonym")
    assert client.what.identifier.value == client_pseudonym(GEELHOED, settings.key_bytes())
    assert GEELHOED not in bundle.model_dump_json()  # the pseudonym, never the BSN


def test_cli_exports_fhir_and_csv(walked: AuditLog, settings: Settings, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    n = walked.count()
    out = tmp_path / "audit.json"
    assert main(["audit", "export", "--as", "auditor", "-o", str(out)]) == 0
    assert len(Bundle.model_validate_json(out.read_bytes()).entry) == n
    out_csv = tmp_path / "audit.csv"
    assert main(["audit", "export", "--as", "auditor", "--format", "csv", "-o", str(out_csv),
                 "--client", GEELHOED]) == 0
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    pseudonym = client_pseudonym(GEELHOED, settings.key_bytes())
    assert rows and all(r["client"] == pseudonym for r in rows)
    assert GEELHOED not in out_csv.read_text()
    exports = walked.records("action = ?", ("audit.export",))
    assert [e.outcome for e in exports] == ["success", "success"] and exports[1].client == pseudonym


def test_who_has_seen_mr_geelhoed(walked: AuditLog, settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    pseudonym = client_pseudonym(GEELHOED, settings.key_bytes())
    found = who_has_seen(walked, pseudonym)
    seen = found.seen
    # notified of, or allowed to read, his records: his zorgkantoor, his PGO, his provider and the CAK
    assert found.parties == WALK_VIEWERS
    assert {s.party for s in seen if "queried" in s.how} == WALK_VIEWERS  # all four also read his data
    # the others tried and were refused: they did not see it
    assert {s.party for s in found.denied} == {"zk-amsterdam", "zonnehof", "pgo-jansen"}

    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    capsys.readouterr()
    assert main(["audit", "who-has-seen", GEELHOED, "--as", "auditor"]) == 0
    out = capsys.readouterr().out
    for s in seen:
        assert s.party in out
    viewers = out.split("Refused attempts")[0]
    assert "zk-amsterdam" not in viewers and "zonnehof" not in viewers and GEELHOED not in out
    # asking is itself recorded against his pseudonym, and does not make the auditor a viewer
    asked = walked.records("action = ?", ("audit.who-has-seen",))
    assert len(asked) == 1 and asked[0].client == pseudonym and asked[0].actor == "auditor"
    after = who_has_seen(walked, pseudonym)
    assert after.parties == WALK_VIEWERS and [a.party for a in after.audited] == ["auditor"]


def test_search_filters(walked: AuditLog, settings: Settings) -> None:
    key = settings.key_bytes()
    assert {r.recipient for r in search(walked, AuditFilter.for_bsn(GEELHOED, key, actions=("delivered",)))} == \
        WALK_VIEWERS
    denied = search(walked, AuditFilter(outcome="deny", actions=("authz.read",)))
    assert denied and all(r.outcome == "deny" and r.action == "authz.read" for r in denied)
    assert search(walked, AuditFilter(role="indicatieorgaan", kind="network.melden"))
    assert not search(walked, AuditFilter(role="indicatie"))  # a role matches whole, not a prefix
    assert search(walked, AuditFilter(party="cak"))
    assert not search(walked, AuditFilter(until="2000-01-01"))
    assert len(search(walked, AuditFilter(since="2000-01-01"))) == walked.count()
