"""The Flow contract: what one flow folder declares, so that the core never names a flow.

A flow is a package under ``hub/flows/<name>/`` (or in a third party's own distribution) that
exposes one ``FLOW: Flow`` object, announced in the ``zorghub.flows`` entry-point group:

    [project.entry-points."zorghub.flows"]
    nza = "hub.flows.nza:FLOW"

Every flow has the same folder shape (see ``docs/flows.md``): ``__init__.py`` with ``FLOW``,
``kinds.toml``, optional ``settings.toml`` with ``settings.schema.json``, ``schemas/`` for its JSON
schemas, ``contract.toml`` with ``examples/`` (the replies it sends and an example of each kind),
``handlers.py``, ``cli.py`` (a click group) and ``demo.py``. ``hub.plugins.registry`` finds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.pipeline.hooks import Answer, AnswerHook, Observer, Validator

if TYPE_CHECKING:
    from hub.app import HubApp

__all__ = ["Answer", "AnswerHook", "Demo", "Flow", "Job", "Observer", "Page", "Pages", "Validator"]


#: a scheduled job: returns a one-line result for the beheer view
Job = Callable[["HubApp", Any], str]
#: a seed walk-through: returns True when every check held
Demo = Callable[[Any], bool]


@dataclass(frozen=True)
class Page:
    """One console page of a flow: ``handler(portal, request, viewer)`` (``hub.console.portal``)."""

    path: str  # below /console/flows/<flow>
    handler: Callable[..., Any]
    methods: tuple[str, ...] = ("GET",)


@dataclass(frozen=True)
class Pages:
    """What one flow adds to the console: its title, its pages and the folder of their templates."""

    title: str
    templates: Path
    pages: tuple[Page, ...]
    #: the console roles that may open them: ``party`` accounts act as their party
    roles: tuple[str, ...] = ("party",)


@dataclass(frozen=True)
class Flow:
    """One flow's declaration. Paths are files in the flow's own folder."""

    name: str
    description: str
    kinds: tuple[Path, ...] = ()
    schema_dir: Path | None = None
    settings: Path | None = None
    settings_schema: Path | None = None
    #: creates the flow's tables and registers its handlers, resolvers, validators and answer hooks
    install: Callable[[HubApp], None] | None = None
    jobs: Mapping[str, Job] = field(default_factory=dict)
    #: "module:attribute" of a click command group, imported only when the CLI is built
    cli: str | None = None
    demos: Mapping[int, str] = field(default_factory=dict)  # seed number -> "module:function"
    #: kinds of the messages this flow sends back to a sender as a receipt: they never carry a BSN
    receipts: tuple[str, ...] = ()
    #: ``contract.toml``: the replies this flow sends and an example of each kind (``docs/contract.md``)
    contract: Path | None = None
    #: "module:attribute" of the flow's console pages, a ``hub.console.portal.Pages``, imported only when served
    pages: str | None = None

    @classmethod
    def at(cls, folder: Path | str, name: str, description: str, **declared: Any) -> Flow:
        """The flow whose files sit in the standard places of ``folder`` (a flow package's directory).

        ``kinds.toml``, ``schemas/``, ``settings.toml`` and ``settings.schema.json`` are picked up when
        present; anything given in ``declared`` wins.
        """
        root = Path(folder)
        if root.is_file():  # the package's __init__.py, as ``Path(__file__)``
            root = root.parent
        found: dict[str, Any] = {
            "kinds": tuple(p for p in (root / "kinds.toml",) if p.is_file()),
            "schema_dir": root / "schemas" if (root / "schemas").is_dir() else None,
            "settings": root / "settings.toml" if (root / "settings.toml").is_file() else None,
            "settings_schema": root / "settings.schema.json" if (root / "settings.schema.json").is_file() else None,
            "contract": root / "contract.toml" if (root / "contract.toml").is_file() else None,
        }
        return cls(name=name, description=description, **{**found, **declared})
