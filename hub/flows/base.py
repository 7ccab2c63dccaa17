"""The Flow contract: what one flow folder declares, so that the core never names a flow.

A flow is a package under ``hub/flows/<name>/`` (or in a third party's own distribution) that
exposes one ``FLOW: Flow`` object, announced in the ``zorghub.flows`` entry-point group:

    [project.entry-points."zorghub.flows"]
    nza = "hub.flows.nza:FLOW"

Every flow has the same folder shape (see ``docs/architecture.md``): ``__init__.py`` with ``FLOW``,
``kinds.toml``, optional ``settings.toml`` with ``settings.schema.json``, ``schemas/`` for its JSON
schemas, ``handlers.py``, ``cli.py`` (a click group) and ``demo.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.pipeline.hooks import Answer, AnswerHook, Observer, Validator

if TYPE_CHECKING:
    from hub.app import HubApp

__all__ = ["Answer", "AnswerHook", "Demo", "Flow", "Job", "Observer", "Validator"]


#: a scheduled job: returns a one-line result for the beheer view
Job = Callable[["HubApp", Any], str]
#: a seed walk-through: returns True when every check held
Demo = Callable[[Any], bool]


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
