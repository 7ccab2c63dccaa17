"""Acceptance: a bad invocation gives one line on stderr, no traceback, and the documented exit status.

Each case runs ``python -m hub.cli`` as a real process, so that a traceback or a library's log line
would show, with a fresh ``ZORGHUB_HOME`` of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub.cli.status import ExitStatus
from hub.settings import Settings
from hub.store.audit import AuditLog, AuditRecord
from hub.store.db import Database

HUB = [sys.executable, "-m", "hub.cli"]
#: two recorded ids that share their first eight characters, and a third on its own
TWINS = ("feedbeef-0001-4000-8000-000000000001", "feedbeef-0002-4000-8000-000000000002")
SINGLE = "0badcafe-0003-4000-8000-000000000003"
SECRET = "s3cr3t-pw"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # {home}, {file} and {dir} are filled in per case
    status: ExitStatus
    says: str = ""  # a fragment the one line holds
    never: tuple[str, ...] = ()  # fragments it must not hold
    env: dict[str, str] = field(default_factory=dict)
    recorded: bool = False  # needs a store holding audit records
    exact: bool = True  # False: any non-zero status (a store that cannot be used is refused by more than one check)


CASES = [
    Case("unknown command", ("frobnicate",), ExitStatus.USAGE, "No such command 'frobnicate'"),
    Case("mistyped command", ("sned",), ExitStatus.USAGE, "Did you mean 'send'?"),
    Case("unknown subcommand", ("audit", "serch"), ExitStatus.USAGE, "Did you mean 'search'?"),
    Case("no command", (), ExitStatus.USAGE, "give a command"),
    Case("contract into a missing folder", ("contract", "asyncapi", "-o", "nope/asyncapi.json"), ExitStatus.USAGE,
         "folder nope does not exist"),
    Case("mistyped contract document", ("contract", "asyncapy"), ExitStatus.USAGE, "Did you mean 'asyncapi'?"),
    Case("unknown flag", ("send", "--frob"), ExitStatus.USAGE, "No such option '--frob'"),
    Case("unknown global flag", ("--frob", "status"), ExitStatus.USAGE, "No such option '--frob'"),
    Case("missing argument", ("send",), ExitStatus.USAGE, "Missing argument 'FILE'"),
    Case("missing file", ("send", "nope.json", "--as", "ciz", "--kind", "echo"), ExitStatus.USAGE,
         "cannot read nope.json"),
    Case("a directory as the file", ("send", "{dir}", "--as", "ciz", "--kind", "echo"), ExitStatus.USAGE,
         "Is a directory"),
    Case("mistyped sending party", ("send", "{file}", "--as", "cix", "--kind", "echo"), ExitStatus.USAGE,
         "did you mean 'ciz'?"),
    Case("send on the in-process broker", ("send", "{file}", "--as", "ciz", "--kind", "echo"), ExitStatus.USAGE,
         "memory:// lives in this process only"),
    Case("unreachable broker", ("send", "{file}", "--as", "ciz", "--kind", "echo",
                                "--broker", f"amqp://guest:{SECRET}@127.0.0.1:1/"),
         ExitStatus.UNAVAILABLE, "cannot reach the broker at 127.0.0.1:1", never=(SECRET,)),
    Case("broker password from the environment", ("send", "{file}", "--as", "ciz", "--kind", "echo",
                                                  "--broker", "amqp://guest:guest@127.0.0.1:1/"),
         ExitStatus.UNAVAILABLE, "127.0.0.1:1", never=(SECRET,), env={"ZORGHUB_PASSWORD": SECRET}),
    Case("status with an unreachable broker", ("status", "--broker", f"amqp://guest:{SECRET}@127.0.0.1:1/"),
         ExitStatus.UNAVAILABLE, "cannot reach the broker at 127.0.0.1:1", never=(SECRET,), recorded=True),
    Case("no host of a cluster reachable", ("status", "--broker", f"amqp://guest:{SECRET}@127.0.0.1:1,127.0.0.1:2/"),
         ExitStatus.UNAVAILABLE, "cannot reach the broker at 127.0.0.1:1,127.0.0.1:2", never=(SECRET,),
         recorded=True),
    Case("a cluster URL with an empty host", ("status", "--broker", "amqp://guest:guest@127.0.0.1:1,/"),
         ExitStatus.CONFIG, "broker_url: broker URL has an empty host"),
    Case("unknown broker host", ("--broker", "amqp://guest:guest@nohost.invalid/", "send", "{file}", "--as", "ciz",
                                 "--kind", "echo"), ExitStatus.UNAVAILABLE, "nohost.invalid:5672"),
    Case("unsupported broker URL", ("status", "--broker", "kafka://x"), ExitStatus.CONFIG, "broker_url"),
    Case("unreachable database", ("status", "--store", "postgresql://127.0.0.1:1/x"), ExitStatus.UNAVAILABLE,
         "cannot reach the database at 127.0.0.1:1/x"),
    Case("database password never shown", ("status", "--store", f"postgresql://bob:{SECRET}@127.0.0.1:1/x"),
         ExitStatus.UNAVAILABLE, "127.0.0.1:1", never=(SECRET, "bob:")),
    Case("a directory as the store", ("audit", "verify", "--store", "sqlite:///{dir}"), ExitStatus.UNAVAILABLE,
         exact=False),
    Case("a store under a file", ("status", "--store", "sqlite:///{file}/hub.sqlite3"), ExitStatus.IO_ERROR,
         exact=False),
    Case("bad date", ("audit", "search", "--as", "auditor", "--since", "2026-13-45"), ExitStatus.USAGE,
         "Invalid value for '--since'"),
    Case("not a date", ("audit", "export", "--as", "auditor", "--until", "yesterday"), ExitStatus.USAGE,
         "not a date"),
    Case("bad date for a flow verb", ("nza", "deliveries", "--today", "5 march"), ExitStatus.USAGE,
         "Invalid value for '--today'", recorded=True),
    Case("mistyped flow verb", ("ketenzorg", "claimz"), ExitStatus.USAGE, "Did you mean 'claims'?"),
    Case("mistyped auditor", ("audit", "search", "--as", "auditr"), ExitStatus.USAGE, "did you mean 'auditor'?",
         recorded=True),
    Case("no party", ("audit", "search"), ExitStatus.USAGE, "Missing option '--as'"),
    Case("a party that is no auditor", ("audit", "search", "--as", "ciz"), ExitStatus.FAILED, "refused",
         recorded=True),
    Case("invalid client BSN", ("audit", "who-has-seen", "123456789", "--as", "auditor"), ExitStatus.USAGE,
         "valid BSN", never=("123456789",), recorded=True),
    Case("mistyped mapping version", ("audit", "replay", "--dry-run", "--as", "auditor", "--mapping-version",
                                      "iwlz-aw33-to-fhir=7"), ExitStatus.USAGE, "has no version '7'"),
    Case("mistyped mapping name", ("audit", "replay", "--dry-run", "--as", "auditor", "--mapping-version",
                                   "iwlz-aw33-to-fhr=2"), ExitStatus.USAGE, "did you mean 'iwlz-aw33-to-fhir'?"),
    Case("mapping version without a name", ("audit", "replay", "--dry-run", "--as", "auditor",
                                            "--mapping-version", "2"), ExitStatus.USAGE, "NAME=VERSION"),
    Case("a version no selected message used", ("audit", "replay", "--dry-run", "--as", "auditor",
                                                "--mapping-version", "iwlz-aw33-to-fhir=v2"), ExitStatus.FAILED,
         "no selected message was translated by iwlz-aw33-to-fhir", recorded=True),
    Case("replay without a target", ("audit", "replay", "--as", "auditor"), ExitStatus.USAGE, "say where to"),
    Case("ambiguous message id", ("audit", "search", "--as", "auditor", "--message-id", "feedbeef"),
         ExitStatus.USAGE, "ambiguous: 2 message ids", recorded=True),
    Case("unknown message id", ("audit", "search", "--as", "auditor", "--message-id", "deadbeef"),
         ExitStatus.USAGE, "no recorded message id starts with 'deadbeef'", recorded=True),
    Case("wrong seed", ("demo", "--seed", "9"), ExitStatus.USAGE, "no seed 9"),
    Case("seed not a number", ("demo", "--seed", "x"), ExitStatus.USAGE, "'x' is not a valid integer"),
    Case("bad setting", ("status",), ExitStatus.CONFIG, "invalid setting prefetch", env={"ZORGHUB_PREFETCH": "lots"}),
    Case("missing config file", ("--config", "nope.toml", "status"), ExitStatus.CONFIG, "nope.toml"),
    Case("worker index out of range", ("worker", "--index", "2", "--of", "2"), ExitStatus.USAGE, "counts from 0"),
    Case("a checkpoint kept nowhere", ("audit", "checkpoint", "--no-record"), ExitStatus.USAGE, "--export"),
    Case("retention set without a value", ("audit", "retention", "set", "--as", "auditor"), ExitStatus.USAGE,
         "--payload-days"),
    Case("requeue without a reason", ("dlq", "requeue"), ExitStatus.USAGE, "--reason is required"),
    Case("missing checkpoint file", ("audit", "verify", "--checkpoint", "nope.json"), ExitStatus.USAGE,
         "does not exist"),
    Case("export into a missing folder", ("audit", "export", "--as", "auditor", "-o", "{home}/no/such/dir/x.json"),
         ExitStatus.IO_ERROR, "No such file or directory", recorded=True),
    Case("unknown mappings verb", ("mappings", "frob"), ExitStatus.USAGE, "No such command 'frob'"),
    Case("mistyped mapping for a diff", ("mappings", "diff", "iwlz-aw33-to-fhr", "1", "2", "{file}"),
         ExitStatus.USAGE, "did you mean 'iwlz-aw33-to-fhir'"),
    Case("password twice", ("send", "{file}", "--as", "ciz", "--kind", "echo", "--password", "x",
                            "--password-stdin"), ExitStatus.USAGE, "not both"),
]


@pytest.fixture(scope="module")
def recorded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub home whose audit log holds three received messages, two of them with a shared id prefix."""
    home = tmp_path_factory.mktemp("recorded") / "home"
    settings = Settings.load(environ={"ZORGHUB_HOME": str(home)})
    db = Database(settings.effective_store_url)
    try:
        AuditLog(db, settings.key_bytes()).append(
            [AuditRecord(action="received", actor="ciz", kind="echo", message_id=m) for m in (*TWINS, SINGLE)])
    finally:
        db.close()
    return home


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZORGHUB_")}
    return {**env, "ZORGHUB_HOME": str(home), **extra}


def _fill(argv: tuple[str, ...], home: Path, tmp_path: Path) -> list[str]:
    afile = tmp_path / "message.json"
    afile.write_text("{}")
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    return [a.format(home=home, file=afile, dir=folder) for a in argv]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_invocation_is_one_line_and_its_exit_status(case: Case, tmp_path: Path, recorded_home: Path) -> None:
    home = tmp_path / "home"
    if case.recorded:
        shutil.copytree(recorded_home, home)
    proc = subprocess.run([*HUB, *_fill(case.argv, home, tmp_path)], env=_env(home, case.env), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("zorghub: ")
    if case.exact:
        assert proc.returncode == case.status, proc.stderr
    else:
        assert proc.returncode not in (ExitStatus.OK, ExitStatus.FAILED), proc.stderr
    assert case.says in lines[0]
    for secret in case.never:
        assert secret not in proc.stderr + proc.stdout


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    assert {c.status for c in CASES} >= {ExitStatus.USAGE, ExitStatus.CONFIG, ExitStatus.UNAVAILABLE,
                                         ExitStatus.IO_ERROR, ExitStatus.FAILED}


@pytest.mark.parametrize("argv", [("parties", "list"), ("audit", "search", "--as", "auditor")])
def test_a_closed_pipe_is_one_line_and_141(argv: tuple[str, ...], tmp_path: Path, recorded_home: Path) -> None:
    """``zorghub audit search | head -1``: the reader left; no traceback, one line, exit 141."""
    home = tmp_path / "home"
    shutil.copytree(recorded_home, home)
    proc = subprocess.Popen([*HUB, *argv], env=_env(home, {}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes its first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == ExitStatus.BROKEN_PIPE
    assert err.splitlines() == ["zorghub: the reader of the output went away before it ended (broken pipe)"]


def test_ctrl_c_is_one_line_and_130(tmp_path: Path, recorded_home: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(recorded_home, home)
    proc = subprocess.Popen([*HUB, "audit", "who-has-seen", "-", "--as", "auditor"], env=_env(home, {}),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    wchan = Path(f"/proc/{proc.pid}/wchan")
    while "pipe" not in (wchan.read_text() if wchan.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)  # until it waits for the client on stdin
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert err.splitlines() == ["zorghub: interrupted"]
