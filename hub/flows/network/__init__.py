"""The iWlz network model (seed 000): source registers and their data services.

``FLOW`` declares the flow (``zorghub.flows`` entry point ``network``); its
``install(app)`` creates the register tables on the hub's database and registers
the handlers that the kinds in this folder's ``kinds.toml`` name:

- ``network.melden``: the owner writes a record (melden);
- ``network.abonneren``: subscribe, unsubscribe, resend from a sequence number;
- ``network.bevragen``: query templates, answered to the requester's inbox;
- ``network.terugmelden`` / ``network.terugmelding.besluit``: report an error
  in another party's record, and the owner's decision on it.

Every handler runs inside the batch's database transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.catalogue.parties import Party
from hub.envelope import Delivery, Envelope
from hub.errors import Rejected
from hub.flows.base import Flow
from hub.flows.network.authz import POLICY_PATH, Authz, Policy
from hub.flows.network.notify import Notifier
from hub.flows.network.query import QueryService, answer_outgoing
from hub.flows.network.registers import Record, Registers
from hub.flows.network.terugmelden import Terugmeldingen
from hub.pipeline.check import Checked

if TYPE_CHECKING:
    from hub.app import HubApp
    from hub.pipeline.context import HandlerContext

SUBSCRIPTION_KIND = "network.abonnement"

#: Rewrites the deliveries of one register change before they leave (another flow's hook: the
#: iwlz flow turns an XML-only party's notification into the iWlz message). Called with the
#: network, the handler context, the new version, the melding's action, the melding's envelope
#: and the deliveries; returns the deliveries to send.
Speaker = Callable[["Network", "HandlerContext", Record, str, Envelope, list[Delivery]], list[Delivery]]


class Network:
    """The registers and services of one hub, on its database."""

    def __init__(self, app: HubApp, policy_path: Path = POLICY_PATH) -> None:
        self.app = app
        self.parties = app.parties
        self.regions = app.regions
        self.key = app.checker.key
        self.policy = Policy.load(policy_path)
        self.registers = Registers(app.db)
        self.authz = Authz(self.registers, self.policy, self.key)
        self.notifier = Notifier(app.db, app.parties, app.regions, self.registers, self.authz)
        self.notifier.check(self.policy.notify)
        self.query = QueryService(self)
        self.terugmeldingen = Terugmeldingen(app.db, self)
        self.speakers: list[Speaker] = []

    def keeper(self, rec: Record) -> Party:
        """The party that keeps a record now: its stored owner, or the zorgkantoor an Overdracht moved it to."""
        code = self.authz.responsibility.keeper_code(rec)
        found = self.parties.by_identifier("COD001", code) if code else None
        return found or self.parties.get(rec.owner)


def network_of(app: HubApp) -> Network:
    net = app.extensions.get("network")
    if net is None:
        net = Network(app)
        app.extensions["network"] = net
    return net  # type: ignore[no-any-return]


def handle_abonneren(checked: Checked, ctx: HandlerContext) -> list[Delivery]:
    from hub.flows.network.melden import reply_record

    net = network_of(ctx.app)
    env = checked.envelope
    party = ctx.app.parties.get(env.sender)
    doc: dict[str, Any] = checked.document.json
    actie = doc["actie"]
    deliveries: list[Delivery] = []
    if actie == "aanmelden":
        sub = net.notifier.subscribe(party, doc.get("eventTypes") or [], dict(doc.get("filter") or {}))
        answer: dict[str, Any] = {"status": "ok", "actie": actie, **sub.as_json()}
    elif actie == "afmelden":
        sub = net.notifier.unsubscribe(party, str(doc.get("abonnementID", "")))
        answer = {"status": "ok", "actie": actie, **sub.as_json()}
    elif actie == "herzenden":
        sub_id = str(doc.get("abonnementID", ""))
        deliveries = net.notifier.resend(party, sub_id, int(doc.get("vanafVolgnummer", 1)), env)
        answer = {"status": "ok", "actie": actie, "abonnementID": sub_id, "herzonden": len(deliveries)}
    else:  # the schema allows no other
        raise Rejected(f"unknown actie {actie!r}", rule="ACTIE")
    ctx.outgoing.append((answer_outgoing(ctx.app, env, answer, kind=SUBSCRIPTION_KIND),
                         reply_record(env, party, "replied", f"abonnement {actie}: {answer.get('abonnementID')}")))
    return deliveries


def install(app: HubApp) -> None:
    from hub.flows.network import melden, query, terugmelden

    network_of(app)
    app.handlers["network.melden"] = melden.handle
    app.handlers["network.abonneren"] = handle_abonneren
    app.handlers["network.bevragen"] = query.handle
    app.handlers["network.terugmelden"] = terugmelden.handle_report
    app.handlers["network.terugmelding.besluit"] = terugmelden.handle_decision


FLOW = Flow.at(
    Path(__file__), "network", "The iWlz network model: source registers, subscriptions, queries, terugmeldingen",
    install=install,
    cli="hub.flows.network.cli:cli",
    demos={0: "hub.flows.network.demo:seed000"},
)
