"""The seed portals in a real browser: Zorgbeeld and the Zorginkoopportaal, each party with its own account.

What a party does on a page is a message through the pipeline as that party: the test finds it in the
audit log exactly as an AMQP message of that party would be recorded, and the other party gets it on
its AMQP inbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.console.accounts import AccountBook
from hub.settings import Settings
from tests.console_helpers import login
from tests.http_live import Live, live_hub

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REPORT = {"locatie": "NWG", "behandeling": "staar", "beschikbaar": "ja", "wachttijdWeken": 4, "status": "normaal"}
PROPOSAL = {"voorstelId": "VS-2027-7", "aan": "zh-antonius", "jaar": 2027,
            "producten": [{"code": "DBC-STAAR", "prijsCent": 120000, "volume": 800}]}
#: an insurer that buys care in one ROAZ region only (the shipped insurers read every region)
WEST = '''
[[party]]
name = "zv-west"
display = "Zorgverzekeraar West"
id_type = "UZOVI"
id = "3344"
roles = ["zorgverzekeraar"]
region = "noord-holland-flevoland"
'''


@pytest.fixture
def live(amqp_settings: Settings, pg_url: str, schema_dir: object, tmp_path: Path) -> Iterator[Live]:
    shipped = Path(__file__).resolve().parents[1] / "hub" / "data" / "parties.toml"
    parties = tmp_path / "parties.toml"
    parties.write_text(shipped.read_text(encoding="utf-8") + WEST, encoding="utf-8")
    settings = amqp_settings.replace(store_url=pg_url, parties_file=str(parties))
    book = AccountBook.of_home(settings.home)
    for name, party in (("antonius", "zh-antonius"), ("west", "zv-west"), ("noord", "zv-noord"), ("nza", "nza")):
        book.put(name, "party", f"{name}-password", party=party)
    with live_hub(settings) as running:
        yield running


def test_a_hospital_confirms_its_capacity_and_an_insurer_of_another_region_does_not_see_it(
        browser: Any, live: Live, shots: Path) -> None:
    live.hub.send("zh-antonius", "zorgbeeld.rapport", REPORT)
    page = login(browser, live, "antonius", "antonius-password")
    assert page.url.endswith("/console/portals") and page.inner_text("#acting") == "zh-antonius"
    page.click("text=Zorgbeeld")
    row = "tr.report[data-provider='zh-antonius'][data-treatment='staar']"
    before = page.inner_text(f"{row} .confirmed")
    page.click(f"{row} button.confirm")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "accepted"
    assert page.inner_text(f"{row} .confirmed") >= before
    page.screenshot(path=str(shots / "portal-zorgbeeld.png"), full_page=True)
    # recorded as the hospital's own confirmation, as over AMQP
    confirmations = live.hub.app.audit.records("kind = ? AND action = ?", ("zorgbeeld.bevestiging", "received"))
    assert [(r.actor, r.outcome) for r in confirmations] == [("zh-antonius", "success")]

    west = login(browser, live, "west", "west-password")
    west.goto(f"{live.url}/console/flows/zorgbeeld")
    assert west.query_selector_all("tr.report[data-provider='zh-antonius']") == []
    assert "noord-holland-flevoland" in west.inner_text("h1")
    west.goto(f"{live.url}/console/flows/zorgbeeld?regio=midden-nederland")
    assert "reads its own region" in west.inner_text("#error")
    noord = login(browser, live, "noord", "noord-password")
    noord.goto(f"{live.url}/console/flows/zorgbeeld")
    assert noord.query_selector(f"{row}") is not None  # an insurer of every region sees it
    views = live.hub.app.audit.records("action = ? AND on_behalf_of = ?", ("console.view", "zv-west"))
    denied = live.hub.app.audit.records("action = ? AND on_behalf_of = ?", ("console.denied", "zv-west"))
    assert views and len(denied) == 1


def test_a_provider_accepts_a_proposal_and_reads_the_contract_back(browser: Any, live: Live, shots: Path) -> None:
    live.hub.send("zv-noord", "inkoop.voorstel", PROPOSAL)
    assert live.hub["zh-antonius"].wait(1)[0].kind == "inkoop.voorstel"
    page = login(browser, live, "antonius", "antonius-password")
    page.click("text=Zorginkoopportaal")
    row = f"tr.proposal[data-id='{PROPOSAL['voorstelId']}']"
    assert page.inner_text(f"{row} .status") == "open"
    page.click(f"{row} button.accept")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "accepted" and page.inner_text(f"{row} .status") == "akkoord"
    page.screenshot(path=str(shots / "portal-inkoop.png"), full_page=True)
    page.click(f"{row} a")
    assert page.inner_text("#contract-status") == "akkoord"
    page.screenshot(path=str(shots / "portal-contract.png"), full_page=True)
    # the insurer hears of it on its AMQP inbox, and the audit log has the provider's decision
    (decision,) = live.hub["zv-noord"].wait(1)
    assert decision.kind == "inkoop.besluit" and decision.json()["besluit"] == "akkoord"
    accepted = live.hub.app.audit.records("action = ?", ("contract_akkoord",))
    assert [(r.actor, r.record_id) for r in accepted] == [("zh-antonius", PROPOSAL["voorstelId"])]
    # another party cannot read it, and the attempt is audited
    west = login(browser, live, "west", "west-password")
    response = west.goto(f"{live.url}/console/flows/inkoop/contract/{PROPOSAL['voorstelId']}")
    assert response is not None and response.status == 403

    # an uitvraag answered on the page, a counter offer and the beheer view
    live.hub.send("zv-noord", "inkoop.uitvraag", {"uitvraagId": "UV-9", "titel": "Uitvraag 2027",
                                                  "aan": ["zh-antonius"], "vragen": [{"id": "q1"}]})
    live.hub.send("zv-noord", "inkoop.bod", {"onderhandelingId": "OH-9", "aan": "zh-antonius",
                                             "product": "DBC-STAAR", "prijsCent": 120000, "volume": 800})
    page.goto(f"{live.url}/console/flows/inkoop")
    page.fill("tr.uitvraag[data-id='UV-9'] textarea", "q1=280")
    page.click("tr.uitvraag[data-id='UV-9'] button.answer")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "accepted" and "answered" in page.inner_text("tr.uitvraag[data-id='UV-9']")
    page.fill("tr.offer[data-id='OH-9'] input[name=prijsCent]", "135000")
    page.click("tr.offer[data-id='OH-9'] button.counter")
    page.wait_for_selector("#done")
    assert "135000" not in page.inner_text("#done") and page.inner_text("#done") == "accepted"
    assert "1350.00" in page.inner_text("tr.offer[data-id='OH-9']")
    got = [m.kind for m in live.hub["zv-noord"].wait(2)]
    assert sorted(got) == ["inkoop.antwoord", "inkoop.bod"]
    page.screenshot(path=str(shots / "portal-inkoop-offers.png"), full_page=True)
    page.goto(f"{live.url}/console/flows/inkoop/beheer")
    assert int(page.inner_text("#communication tr:nth-child(2) td:first-child")) >= 3  # what it sent
    page.screenshot(path=str(shots / "portal-beheer.png"), full_page=True)

    nza = login(browser, live, "nza", "nza-password")
    nza.goto(f"{live.url}/console/flows/nza")
    assert nza.query_selector_all("#calendar tr")
    nza.screenshot(path=str(shots / "portal-nza.png"), full_page=True)
