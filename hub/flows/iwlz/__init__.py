"""The iWlz flow: XML heenberichten checked against the official XSD and rules, answered with retourberichten.

Its kinds are the ones with an ``iwlz`` message code (``iwlz.IO31``, ``iwlz.AW33``, ...). For each,
``install`` registers the validator (``validate.IwlzValidator``) that the checker runs after its
own checks, the guard (``history.History``) that checks the rules needing the hub's message
history before routing, and the answer hook (``answers.RetourHook``) that answers the sender on
acceptance and on refusal. The handler ``iwlz.melden`` (``bridge``) routes each heenbericht to its
addressee as the core would and records what it says in the network model's registers; the
network's speaker (``speak``) writes a melding as the iWlz message for a party that speaks only
XML, and ``retour`` matches that party's retourbericht to the message it answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hub.flows.base import Flow

if TYPE_CHECKING:
    from hub.app import HubApp
    from hub.flows.iwlz.history import History


def install(app: HubApp) -> None:
    from hub.flows.iwlz import bridge, retour
    from hub.flows.iwlz.answers import RetourHook
    from hub.flows.iwlz.speak import Speaker
    from hub.flows.iwlz.validate import IwlzValidator
    from hub.flows.network import network_of

    validator = IwlzValidator(app.checker.schema_dir)
    history = _history(app)
    for kind in app.kinds:
        if kind.iwlz:
            app.validators.setdefault(kind.name, []).append(validator)
            app.answers[kind.name] = RetourHook(kind, history)
            app.guards.setdefault(kind.name, []).append(history.check)
    from hub.store.flows import iwlz as store

    store.create(app.db)
    app.handlers["iwlz.melden"] = bridge.handle
    app.handlers["iwlz.retour"] = retour.handle
    network_of(app).speakers.append(Speaker(app.checker.schema_dir))


# ----- the history rules (hub/flows/iwlz/history.py) ------------------------------------------------
def _history(app: HubApp) -> History:
    """The rules that need the hub's message history: checked before routing, recorded on acceptance."""
    from hub.flows.iwlz.history import History

    return History(app, app.flow_settings.get("iwlz"))


FLOW = Flow.at(Path(__file__), "iwlz", "iWlz XML messages: the official XSD and rules, and the retourbericht back",
               install=install, cli="hub.flows.iwlz.cli:cli")
