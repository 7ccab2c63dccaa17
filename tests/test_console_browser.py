"""The console in a real browser: Playwright driving Debian's chromium, against a hub on RabbitMQ and PostgreSQL.

An operator and an auditor each log in with their own account and do their work through the pages; the
audit log must then hold every view and action, and no page an operator opened may hold a BSN.
Screenshots of every page go where ``tests.console_helpers.shots`` says (``make screenshots``: ``docs/console/``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.console.accounts import AccountBook
from hub.flows.network import seed
from hub.settings import Settings
from hub.store.audit import AuditRecord
from hub.testing import GEELHOED
from hub.transports.management import Management, vhost_of
from tests.console_helpers import login
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

BSNS = (seed.GEELHOED_BSN, seed.JANSEN_BSN, GEELHOED["bsn"])
INDICATIEBESLUIT = {"besluitnummer": "IB-7", "soort": "Wlz-indicatie", "ingangsdatum": "2026-11-01", "zzp": "5VV",
                    "client": GEELHOED, "voorkeurZorgaanbieder": "73730800"}


@pytest.fixture
def live(amqp_settings: Settings, pg_url: str, schema_dir: object) -> Iterator[Live]:
    settings = amqp_settings.replace(store_url=pg_url)
    book = AccountBook.of_home(settings.home)
    book.put("olga", "operator", "operator-pw-1")
    book.put("anna", "auditor", "auditor-pw-1")
    with live_hub(settings) as running:
        yield running


def _no_bsn(page: Any, where: str) -> None:
    html = page.content()
    assert not [b for b in BSNS if b in html], f"a BSN shows on the operator's page {where}"


def _records(live: Live, action: str, actor: str) -> list[AuditRecord]:
    return [r for r in live.hub.app.audit.records("action = ? AND actor = ?", (action, actor))]


def _traffic(live: Live) -> tuple[str, str]:
    """An indicatie melded (notifications with the client's data), a routed indicatiebesluit, a dead letter."""
    hub = live.hub
    hub.send("ciz", "network.melden", seed.melding("WlzIndicatie", seed.indicatie()), client_key="geelhoed")
    routed = hub.send("ciz", "indicatiebesluit", INDICATIEBESLUIT, client_key="geelhoed")
    dead = hub.send("ciz", "echo", {"to": "nobody", "text": "who is there?"})
    for party in ("zk-utrecht", "pgo-geelhoed", "bos-en-duin", "cak"):
        hub.inbox(party)
    return routed, dead


def test_operator_dashboard_message_path_and_requeue(browser: Any, live: Live, shots: Path) -> None:
    routed, dead = _traffic(live)
    s = live.settings
    mgmt = Management(s.management_url, s.management_user, s.management_password)
    api = _settled(mgmt, vhost_of(s.broker_url), s.prefix + ".")
    page = login(browser, live, "olga", "operator-pw-1")
    assert page.url.endswith("/console")
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    _no_bsn(page, "dashboard")
    # the depths on the page are the management API's (once its statistics caught up with the traffic)
    assert api["zorghub.dlq"] == 1
    shown = {row.get_attribute("data-queue"): int(row.query_selector(".depth").inner_text())
             for row in page.query_selector_all("#queues tr[data-queue]")}
    assert shown and set(shown) == set(api)
    assert shown == api
    assert "statistics lag" in page.inner_text("#age")

    # find the routed message by a prefix of its id and follow it through every stage
    page.click("text=Messages")
    page.fill("#q-id", routed[:8])
    page.click("#search")
    page.screenshot(path=str(shots / "messages.png"), full_page=True)
    _no_bsn(page, "messages")
    page.click(f"a.message:has-text('{routed}')")
    page.wait_for_selector("#stages")
    stages = [r.inner_text() for r in page.query_selector_all("#stages tr.stage")]
    assert any("received" in s for s in stages)
    assert sum("delivered" in s for s in stages) == 4
    assert any("delivered" in s and "role cak" in s for s in stages)  # each delivery says why it went there
    payloads = page.query_selector_all("pre.payload")
    assert payloads and "p-" in payloads[0].inner_text()  # the client's BSN shows as its pseudonym
    page.screenshot(path=str(shots / "message.png"), full_page=True)
    _no_bsn(page, "message")

    # requeue the dead letter with a reason; the page shows what became of it
    page.click("text=Dead letters")
    page.check(f"tr[data-id='{dead}'] input[type=checkbox]")
    page.fill("#requeue-reason", "the party was added to the registry")
    page.click("#requeue")
    page.wait_for_selector("#done")
    state = page.inner_text(f"tr[data-id='{dead}'] .state")
    assert "requeued" in state and "olga" in state and "added to the registry" in state
    page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)
    _no_bsn(page, "dead letters")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the requeued copy goes through the pipeline again
        page.goto(f"{live.url}/console/messages/{dead}")
        stages = [r.inner_text() for r in page.query_selector_all("#stages tr.stage")]
        after = stages[next(i for i, s in enumerate(stages) if "requeued" in s) + 1:]
        if any("received" in s for s in after):
            break
        time.sleep(0.3)
    assert any("received" in s for s in after), stages
    requeues = _records(live, "requeued", "olga")
    assert [r.message_id for r in requeues] == [dead] and "added to the registry" in requeues[0].reason

    page.click("text=Mappings")
    page.fill("#try-mapping", "iwlz-aw33")
    page.fill("#try-message", "<not-xml")
    page.click("#try")
    assert page.inner_text("#try-error")
    page.screenshot(path=str(shots / "mappings.png"), full_page=True)
    _no_bsn(page, "mappings")

    # an auditor's page is refused, and the attempt is audited
    response = page.goto(f"{live.url}/console/audit/who-has-seen")
    assert response is not None and response.status == 403
    assert "auditor" in page.inner_text("#forbidden")
    page.screenshot(path=str(shots / "forbidden.png"), full_page=True)
    denied = _records(live, "console.denied", "olga")
    assert len(denied) == 1 and denied[0].outcome == "failure" and denied[0].record_id == "audit/who-has-seen"
    views = {r.record_id for r in _records(live, "console.view", "olga")}
    assert {"messages", "message", "dead-letters"} <= views


def test_auditor_finds_a_client_reveals_exports_and_cancels_a_dry_run(browser: Any, live: Live, shots: Path) -> None:
    routed, _ = _traffic(live)
    _many_deliveries(live, 40_000)  # enough for a dry run to be cancelled while it runs
    page = login(browser, live, "anna", "auditor-pw-1")
    assert page.url.endswith("/console/audit")

    page.click("text=Messages")
    page.fill("#q-client", GEELHOED["bsn"])
    page.click("#search")
    assert routed in page.inner_text("#results")
    assert GEELHOED["bsn"] not in page.input_value("#q-client")  # the BSN became its pseudonym

    page.click("text=Who has seen")
    page.fill("#w-client", GEELHOED["bsn"])
    page.click("#w-search")
    seen = page.inner_text(".sightings")
    assert "zk-utrecht" in seen and "pgo-geelhoed" in seen
    pseudonym = page.inner_text("#w-pseudonym")
    page.screenshot(path=str(shots / "who-has-seen.png"), full_page=True)

    page.goto(f"{live.url}/console/messages/{routed}")
    assert GEELHOED["bsn"] not in page.content()
    page.fill("#reveal-reason", "complaint 2026-17 by the client")
    page.click("#reveal")
    page.wait_for_selector("pre.payload")
    assert GEELHOED["bsn"] in page.inner_text("pre.payload")
    page.screenshot(path=str(shots / "message-revealed.png"), full_page=True)

    page.goto(f"{live.url}/console/audit?client={pseudonym}")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#export-fhir")
    bundle = orjson.loads(Path(download.value.path()).read_bytes())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"] and all(e["resource"]["resourceType"] == "AuditEvent" for e in bundle["entry"])

    page.click("text=Dry runs")
    page.click("#j-start")
    page.wait_for_selector("#j-state")
    assert page.inner_text("#j-state") == "running"
    page.screenshot(path=str(shots / "dry-run.png"), full_page=True)
    page.click("#j-cancel")
    deadline = time.monotonic() + 30
    while page.inner_text("#j-state") == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    assert page.inner_text("#j-state") == "cancelled"
    done, total = (int(x) for x in page.inner_text("#j-progress").split("/"))
    assert 0 < done < total

    actions = {r.action: r for r in live.hub.app.audit.records("actor = ?", ("anna",))}
    assert {"console.login", "console.view", "console.reveal", "console.export", "console.dry_run",
            "console.dry_run_cancelled"} <= set(actions)
    assert actions["console.reveal"].reason == "complaint 2026-17 by the client"
    assert actions["console.reveal"].message_id == routed
    views = {(r.record_id, r.client) for r in live.hub.app.audit.records("actor = ? AND action = ?",
                                                                         ("anna", "console.view"))}
    assert ("audit/who-has-seen", pseudonym) in views and ("audit", pseudonym) in views
    # no page, view record or export reason holds the BSN itself
    assert not [r for r in live.hub.app.audit.records("actor = ?", ("anna",)) if GEELHOED["bsn"] in repr(r)]


def test_login_refuses_a_wrong_password_and_pages_need_alogin(browser: Any, live: Live, shots: Path) -> None:
    page = browser.new_page()
    page.goto(f"{live.url}/console/dead-letters")
    assert page.url.endswith("/console/login")
    page.screenshot(path=str(shots / "login.png"), full_page=True)
    page.fill("#name", "olga")
    page.fill("#password", "not-her-password")
    page.click("#login")
    assert "wrong name or password" in page.inner_text("#error")
    refused = _records(live, "console.login", "olga")
    assert [r.outcome for r in refused] == ["failure"]


def _settled(mgmt: Management, vhost: str, prefix: str) -> dict[str, int]:
    """The depths once the management API's sampled statistics stopped changing (they lag by ~5 s)."""
    last: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = {r["name"]: int(r.get("messages", 0)) for r in mgmt.queues(vhost, prefix)}
        if now == last and now.get("zorghub.dlq"):
            return now
        last = now
        time.sleep(5.5)
    raise AssertionError(f"the management API's figures did not settle: {last}")


def _many_deliveries(live: Live, n: int) -> None:
    """Recorded deliveries without stored payloads: a dry run walks them all, chunk by chunk."""
    records = []
    for i in range(n):
        mid = f"bulk-{i:06d}"
        records.append(AuditRecord(action="received", actor="ciz", kind="echo", message_id=mid))
        records.append(AuditRecord(action="delivered", actor="ciz", recipient="zk-utrecht", kind="echo",
                                   message_id=mid, payload_sha256="0" * 64))
    for start in range(0, len(records), 5000):
        live.hub.app.audit.append(records[start:start + 5000])
