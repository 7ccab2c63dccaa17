"""What every command module shares: the global options' state and the settings built from them.

Each command module exposes one click command or group named ``cli``. ``hub.cli.main`` lists them in
its command table; a flow contributes its group through ``Flow.cli``. A command takes the settings
with ``@pass_settings``; the settings are built (and validated) only when a command asks for them, so
``--help`` works without any configuration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from hub.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """The global options (``--config``, ``--broker``, ``--store``, ``-v``), shared by every command."""

    config: str | None = None
    broker: str | None = None
    store: str | None = None
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            settings = Settings.load(config_file=self.config)
            if self.broker:
                settings = settings.replace(broker_url=self.broker)
            if self.store:
                settings = settings.replace(store_url=self.store)
            self._settings = settings
        return self._settings


pass_state = click.make_pass_decorator(CliState, ensure=True)


def pass_settings(fn: F) -> F:
    """Call the command with the validated ``Settings`` as its first argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = click.get_current_context().ensure_object(CliState)
        return fn(state.settings(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]
