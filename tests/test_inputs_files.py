"""Acceptance, on RabbitMQ: malformed files and a zip bomb each get a receipt with their rule and are
dead-lettered, with nothing delivered to anyone else; the bomb is refused fast and in little memory."""

from __future__ import annotations

import time
from pathlib import Path

import pika
import pytest

from hub.flows import nza
from hub.settings import Settings
from hub.store.db import Database
from hub.store.deadletters import DeadLetterEntry, DeadLetterStore
from hub.testing import TestHub
from tests.hubproc import start_worker, stop
from tests.test_crash_order import prepare
from tests.test_flow_support import set_today
from tests.test_zip_files import MALFORMED_CSVS, MALFORMED_ZIPS, bomb_zip, encrypted_zip, fullwidth_bsn_csv, pakbon_zip

OTHERS = ("nza", "lcps", "zv-zuid", "zv-noord", "zh-antonius", "zh-amstel")


def dead_letters(settings: Settings) -> dict[str, DeadLetterEntry]:
    db = Database(settings.effective_store_url)
    try:
        return {e.message_id: e for e in DeadLetterStore(db).list()}
    finally:
        db.close()


@pytest.mark.rabbitmq
def test_malformed_files_get_their_rule_and_reach_nobody(hub: TestHub) -> None:
    set_today("2026-03-10")
    dijk, oog = hub["ggz-dijk"], hub["zbc-oog"]
    expected: dict[str, str] = {}
    for rule, build in MALFORMED_ZIPS.items():  # the NZa OHW path
        mid = dijk.send("nza.ohw", build(), content_type="application/zip")
        receipt = dijk.receipt()
        assert (receipt["messageId"], receipt["status"], receipt["rule"]) == (mid, "rejected", rule), receipt
        expected[mid] = rule
    for rule, build in MALFORMED_CSVS.items():  # the Zorgbeeld CSV path
        mid = oog.send("zorgbeeld.csv", build(), content_type="text/csv")
        receipt = oog.receipt()
        assert (receipt["messageId"], receipt["status"], receipt["rule"]) == (mid, "rejected", rule), receipt
        expected[mid] = rule
    parked = dead_letters(hub.settings)
    assert {mid: parked[mid].rule for mid in expected} == expected
    assert all(parked[mid].error_class != "DeadLetter" for mid in expected)  # Rejected subclasses, not INTERNAL

    # a BSN in full-width digits fails the elfproef check: the NZa's receipt names the row, the delivery is
    # parked with that rule, nothing goes on
    wide = dijk.send("nza.ohw", pakbon_zip({"ohw.csv": fullwidth_bsn_csv()}), content_type="application/zip")
    (m,) = dijk.wait(1)  # one answer: the flow's own receipt, no second (generic) one
    receipt = m.json()
    assert m.kind == nza.handlers.RECEIPT and receipt["status"] == "rejected" and receipt["rule"] == "ROW_ERRORS"
    assert [(e["line"], e["column"]) for e in receipt["errors"]] == [(3, "client_bsn")]
    parked = dead_letters(hub.settings)[wide]
    assert (parked.rule, parked.error_class) == ("ROW_ERRORS", "Rejected")
    assert dijk.empty()
    for name in OTHERS:
        assert hub[name].empty(), f"{name} received something"


@pytest.mark.rabbitmq
def test_a_zip_bomb_is_refused_within_2_s_and_300_mb(amqp_settings: Settings, tmp_path: Path) -> None:
    """The worker runs as its own process, so its peak RSS (VmHWM) is the worker's alone."""
    settings = amqp_settings.replace(shards=1)
    bomb, unpacked = bomb_zip()
    assert len(bomb) <= settings.max_payload_bytes and unpacked > 340_000_000  # 1 MiB -> 346 MB, as reported
    prepare(settings)
    proc = start_worker(settings)
    conn = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        inbox = f"{settings.prefix}.inbox.ggz-dijk"

        def send(body: bytes, message_id: str) -> None:
            # published as the hub's own user on behalf of ggz-dijk (the requeue path); the vendor path is above
            ch.basic_publish(f"{settings.prefix}.in", message_id, body, pika.BasicProperties(
                message_id=message_id, type="nza.ohw", content_type="application/zip", user_id="guest",
                headers={"x-original-sender": "ggz-dijk"}, delivery_mode=2))

        def receipt(timeout: float) -> dict[str, object]:
            import orjson

            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                method, _props, body = ch.basic_get(inbox, auto_ack=True)
                if method is not None:
                    return dict(orjson.loads(body))
                conn.sleep(0.02)
            raise AssertionError("no receipt")

        send(encrypted_zip(), "warm-up")  # the worker is up, connected and has imported everything
        assert receipt(60)["rule"] == "ZIP_ENCRYPTED"
        started = time.monotonic()
        send(bomb, "bomb")
        got = receipt(10)
        elapsed = time.monotonic() - started
        assert got["messageId"] == "bomb" and got["status"] == "rejected" and got["rule"] == "ZIP_TOO_LARGE", got
        assert elapsed < 2.0, f"refused after {elapsed:.2f} s"
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
        assert peak_kb < 300 * 1024, f"the worker peaked at {peak_kb // 1024} MB"
        print(f"zip bomb ({len(bomb)} B -> {unpacked} B) refused in {elapsed:.2f} s; worker peak {peak_kb // 1024} MB")
        method, _, _ = ch.basic_get(f"{settings.prefix}.inbox.nza", auto_ack=False)
        assert method is None, "the NZa received the bomb"
    finally:
        conn.close()
        stop(proc)
    assert dead_letters(settings)["bomb"].rule == "ZIP_TOO_LARGE"
