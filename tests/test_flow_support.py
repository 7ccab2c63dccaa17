"""Shared by the seed 001-004 tests: the hub on RabbitMQ with plain pika clients as the parties.

The hub runs as a worker thread (``hub.demo.DemoContext``), which first provisions every party in
the test's vhost with its own credentials (``Management.sync_parties``). Each party here is a bare
pika connection logged in as that party: it publishes to the inbound exchange with its user_id and
reads its own inbox, nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pika
import pytest

from hub.demo import DemoContext, _with_credentials
from hub.flows import support as common
from hub.settings import Settings
from hub.transports.management import party_password


class Msg:
    def __init__(self, props: pika.BasicProperties, body: bytes) -> None:
        self.props = props
        self.body = body
        self.kind = props.type
        self.content_type = props.content_type
        self.headers = dict(props.headers or {})

    def json(self) -> Any:
        return orjson.loads(self.body)


class PikaParty:
    def __init__(self, hub: RabbitHub, name: str) -> None:
        self.hub = hub
        self.name = name
        party = hub.ctx.app.parties.get(name)
        url = _with_credentials(hub.settings.broker_url, name, party_password(party))
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.inbox = hub.ctx.app.topology.inbox(name)

    def send(self, kind: str, body: Any, *, content_type: str = "application/json",
             headers: dict[str, Any] | None = None, key: str = "") -> str:
        message_id = str(uuid.uuid4())
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.ch.basic_publish(
            exchange=self.hub.ctx.app.topology.inbound, routing_key=key or message_id, body=payload,
            properties=pika.BasicProperties(message_id=message_id, type=kind, content_type=content_type,
                                            user_id=self.name, delivery_mode=2, headers=headers or None))
        self.hub.sent.append(message_id)
        return message_id

    def wait(self, n: int = 1, timeout: float = 20.0) -> list[Msg]:
        got: list[Msg] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            method, props, body = self.ch.basic_get(self.inbox, auto_ack=True)
            if method is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: {len(got)} of {n} message(s) arrived")
                self.conn.sleep(0.05)
                continue
            got.append(Msg(props, body))
        return got

    def receipt(self, timeout: float = 20.0) -> dict[str, Any]:
        (m,) = self.wait(1, timeout)
        assert m.kind == "zorghub.receipt", m.kind
        return dict(m.json())

    def empty(self) -> bool:
        method, _, _ = self.ch.basic_get(self.inbox, auto_ack=False)
        if method is not None:
            self.ch.basic_nack(method.delivery_tag, requeue=True)
        return method is None

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()


class RabbitHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = DemoContext(settings, out=lambda _: None)
        self.sent: list[str] = []
        self._parties: dict[str, PikaParty] = {}

    def __getitem__(self, name: str) -> PikaParty:
        if name not in self._parties:
            self._parties[name] = PikaParty(self, name)
        return self._parties[name]

    def close(self) -> None:
        for p in self._parties.values():
            p.close()
        self.ctx.close()


def set_today(text: str) -> None:
    moment = common.parse_iso(text + ("" if "T" in text else "T12:00:00") + "Z")
    common.set_clock(lambda: moment)


def rabbit_hub(amqp_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[RabbitHub]:
    """The fixture body: a hub on a fresh vhost; afterwards every message is audited and the chain verifies."""
    hub = RabbitHub(amqp_settings)
    try:
        yield hub
    finally:
        common.set_clock(None)
        hub.close()
    assert_audited(amqp_settings, hub.sent, monkeypatch)


def assert_audited(settings: Settings, sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.main import main
    from hub.store.audit import AuditLog
    from hub.store.db import Database

    db = Database(settings.effective_store_url)
    try:
        log = AuditLog(db, settings.key_bytes())
        received = {r[0] for r in db.execute("SELECT message_id FROM audit WHERE action = 'received'")}
        missing = [m for m in sent if m not in received]
        assert not missing, f"{len(missing)} message(s) not in the audit log"
        assert log.verify().ok
        text = " ".join(r.reason for r in log.records())
        assert "999990019" not in text
    finally:
        db.close()
    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["--store", settings.effective_store_url, "audit", "verify"]) == 0


def rules(receipts: list[dict[str, Any]]) -> list[str]:
    return [r["rule"] for r in receipts]


# ----- tests of the shared parts that need no broker ------------------------------------------------
def test_file_adapter_publishes_settled_files_once(settings: Settings, tmp_path: Path) -> None:
    from hub.flows.demo import ohw_zip
    from hub.ops.files import FileDropAdapter

    ctx = DemoContext(settings, out=lambda _: None)
    try:
        drop = tmp_path / "drop"
        drop.mkdir()
        (drop / "ohw.zip").write_bytes(ohw_zip("06220011", "2026-03", 10))
        (drop / "half.zip.part").write_bytes(b"...")
        (drop / "notes.txt").write_text("ignored")
        adapter = FileDropAdapter(drop, ctx.client("ggz-dijk"), {".zip": "nza.ohw"}, settle_seconds=0)
        sent = adapter.scan_once()
        assert [name for name, _ in sent] == ["ohw.zip"]
        assert adapter.scan_once() == []
        assert (drop / "sent" / "ohw.zip").exists() and (drop / "half.zip.part").exists()
        set_today("2026-03-10")
        ctx.pump(1)
        (receipt,) = ctx.inbox("ggz-dijk")
        assert orjson.loads(receipt.body)["status"] == "accepted"
        (delivered,) = ctx.inbox("nza")
        assert delivered.headers["x-filename"] == "ohw.zip" and delivered.headers["x-sender"] == "ggz-dijk"
    finally:
        common.set_clock(None)
        ctx.close()


def test_jobs_record_their_runs(settings: Settings, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.main import main

    monkeypatch.setenv("ZORGHUB_HOME", settings.home)
    assert main(["jobs", "run", "--all", "--today", "2026-03-20"]) == 0
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    for name in ("stale-check", "delivery-calendar", "retention"):
        assert f"{name}" in out
    assert "never" not in out.split("delivery-calendar", 2)[-1].splitlines()[0]
    assert main(["audit", "verify"]) == 0
