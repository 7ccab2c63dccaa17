"""The iWlz flow: XML heenberichten checked against the official XSD and rules, answered with retourberichten.

Its kinds are the ones with an ``iwlz`` message code (``iwlz.IO31``, ``iwlz.AW33``, ...). For each,
``install`` registers the validator (``validate.IwlzValidator``) that the checker runs after its
own checks, and the answer hook (``answers.RetourHook``) that answers the sender on acceptance and
on refusal. The handler ``iwlz.melden`` (``bridge``) routes each heenbericht to its addressee as
the core would and records what it says in the network model's registers; the network's
speaker (``speak``) writes a melding as the iWlz message for a party that speaks only XML, and
``retour`` matches that party's retourbericht to the message it answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hub.flows.base import Flow

if TYPE_CHECKING:
    from hub.app import HubApp


def install(app: HubApp) -> None:
    from hub.flows.iwlz import bridge, retour
    from hub.flows.iwlz.answers import RetourHook
    from hub.flows.iwlz.speak import Speaker
    from hub.flows.iwlz.validate import IwlzValidator
    from hub.flows.network import network_of

    validator = IwlzValidator(app.checker.schema_dir)
    for kind in app.kinds:
        if kind.iwlz:
            app.validators.setdefault(kind.name, []).append(validator)
            app.answers[kind.name] = RetourHook(kind)
    from hub.store.flows import iwlz as store

    store.create(app.db)
    app.handlers["iwlz.melden"] = bridge.handle
    app.handlers["iwlz.retour"] = retour.handle
    network_of(app).speakers.append(Speaker(app.checker.schema_dir))


FLOW = Flow.at(Path(__file__), "iwlz", "iWlz XML messages: the official XSD and rules, and the retourbericht back",
               install=install, cli="hub.flows.iwlz.cli:cli")
