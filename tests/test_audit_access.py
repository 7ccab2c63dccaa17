"""Acceptance 6: a non-auditor trying to search, export or replay is refused, and the refusal is audited;
retention refuses metadata retention under five years unless forced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.auditor.access import AccessDenied, Gate
from hub.auditor.retention import RetentionPolicy, load_policy, prune_payloads, save_policy
from hub.catalogue.parties import PartyRegistry
from hub.cli.main import main
from hub.cli.status import ExitStatus
from hub.demo import run_demo
from hub.errors import ConfigError
from hub.settings import Settings
from hub.store.audit import AuditLog
from hub.store.db import Database

GEELHOED = "999990019"


@pytest.fixture
def walked(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    assert run_demo(settings, [0], out=lambda _: None) == 0
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    monkeypatch.delenv("ZORGHUB_AUDIT_AS", raising=False)
    return AuditLog(Database(settings.effective_store_url), settings.key_bytes())


@pytest.mark.parametrize("argv", [
    ["audit", "search", "--client", GEELHOED, "--as", "zk-utrecht"],
    ["audit", "who-has-seen", GEELHOED, "--as", "pgo-jansen"],
    ["audit", "export", "--as", "cak", "-o", "-"],
    ["audit", "replay", "--sandbox", "peek", "--as", "bos-en-duin"],
    ["audit", "replay", "--dry-run", "--as", "ciz"],
])
def test_non_auditors_are_refused_and_the_refusal_is_audited(walked: AuditLog, argv: list[str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = walked.count()
    assert main(argv) == 1
    out = capsys.readouterr()
    assert "refused" in out.err and GEELHOED not in out.err + out.out
    assert out.out == ""  # nothing of the log was shown
    refusals = walked.records("seq > ?", (before,))
    assert len(refusals) == 1
    r = refusals[0]
    who = argv[argv.index("--as") + 1]
    assert r.action.startswith("audit.") and r.outcome == "failure" and r.actor == who
    assert r.reason.startswith("refused:")
    if "--client" in argv or "who-has-seen" in argv:
        assert r.client.startswith("p-")  # the attempt is filed under the client's pseudonym, never the BSN
    assert GEELHOED not in r.detail + r.reason
    assert walked.verify().ok


@pytest.mark.parametrize(("name", "hint"), [("auditr", "did you mean 'auditor'?"), ("nobody", "auditor")])
def test_an_unknown_party_is_a_usage_error_and_the_refusal_is_audited(walked: AuditLog, name: str, hint: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = walked.count()
    assert main(["audit", "search", "--client", GEELHOED, "--as", name]) == ExitStatus.USAGE
    out = capsys.readouterr()
    assert len(out.err.splitlines()) == 1 and f"unknown party {name!r}" in out.err and hint in out.err
    assert out.out == "" and GEELHOED not in out.err
    (r,) = walked.records("seq > ?", (before,))
    assert (r.action, r.outcome, r.actor) == ("audit.search", "failure", name)
    assert r.reason == f"refused: unknown party {name!r}" and r.client.startswith("p-")
    assert walked.verify().ok


def test_there_is_no_default_party(walked: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    before = walked.count()
    assert main(["audit", "search"]) == ExitStatus.USAGE
    assert "Missing option '--as'" in capsys.readouterr().err
    assert walked.count() == before  # nobody was named: nothing was attempted, nothing to record
    assert main(["audit", "search", "--as", "operator"]) == ExitStatus.USAGE  # the old default is no party
    assert "unknown party 'operator'" in capsys.readouterr().err


def test_the_auditor_is_allowed_and_audited(walked: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    before = walked.count()
    assert main(["audit", "search", "--client", GEELHOED, "--as", "auditor", "--format", "json"]) == 0
    assert GEELHOED not in capsys.readouterr().out
    (rec,) = walked.records("seq > ?", (before,))
    assert (rec.action, rec.outcome, rec.actor, rec.actor_role) == ("audit.search", "success", "auditor", "auditor")


def test_gate_api(walked: AuditLog, settings: Settings) -> None:
    gate = Gate(walked, PartyRegistry.load(settings.parties_path))
    with pytest.raises(AccessDenied):
        gate.require("cak", "replay")
    assert gate.require("auditor", "replay").name == "auditor"
    assert walked.records("action = ? AND outcome = ?", ("audit.replay", "failure"))[0].actor == "cak"


def test_retention_refuses_short_metadata_retention(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 5 years"):
        RetentionPolicy(payload_days=30, metadata_years=3).check()
    RetentionPolicy(payload_days=30, metadata_years=3).check(force=True)
    path = tmp_path / "retention.toml"
    with pytest.raises(ConfigError):
        save_policy(path, RetentionPolicy(payload_days=30, metadata_years=2))
    save_policy(path, RetentionPolicy(payload_days=30, metadata_years=2), force=True)
    assert load_policy(path) == RetentionPolicy(payload_days=30, metadata_years=2)
    save_policy(path, RetentionPolicy(payload_days=90, metadata_years=7))
    assert load_policy(path) == RetentionPolicy(payload_days=90, metadata_years=7)


def test_prune_keeps_the_chain_and_the_metadata(walked: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    n = walked.count()
    delivered = walked.records("action = ?", ("delivered",))
    assert prune_payloads(walked, RetentionPolicy(payload_days=30)).pruned == 0  # nothing is old yet
    result = prune_payloads(walked, RetentionPolicy(payload_days=30), now=datetime.now(UTC) + timedelta(days=31))
    assert result.pruned > 0 and result.bytes_freed > 0
    assert walked.count() == n and walked.verify().ok
    assert walked.payload(delivered[0].payload_sha256) is None
    assert walked.records("action = ?", ("delivered",)) == delivered  # metadata and hashes untouched
    assert main(["audit", "retention", "set", "--metadata-years", "2", "--as", "auditor"]) == 2
    assert "at least 5 years" in capsys.readouterr().err
    assert main(["audit", "retention", "set", "--payload-days", "30", "--as", "auditor"]) == 0
    assert main(["audit", "retention", "prune", "--as", "auditor"]) == 0
    assert "metadata and hashes kept" in capsys.readouterr().out
    assert main(["audit", "retention", "prune", "--as", "cak"]) == 1
