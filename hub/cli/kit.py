"""What every command module shares: the global options' state and the settings built from them.

Each command module exposes one click command or group named ``cli``. ``hub.cli.main`` lists them in
its command table; a flow contributes its group through ``Flow.cli``. A command takes the settings
with ``@pass_settings``; the settings are built (and validated) only when a command asks for them, so
``--help`` works without any configuration. The parameter types and helpers below exist so that every
command refuses a bad value the same way: a ``click.UsageError``, which the error boundary turns into
one line and exit status 2.
"""

from __future__ import annotations

import difflib
import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: the environment variable a party's broker password can come from (never only the command line)
PASSWORD_ENV = "ZORGHUB_PASSWORD"


@dataclass
class CliState:
    """The global options (``--config``, ``--broker``, ``--store``, ``-v``), shared by every command."""

    config: str | None = None
    broker: str | None = None
    store: str | None = None
    verbose: bool = False
    #: the broker URL a command connects with when it is not the settings' (a party's own credentials)
    broker_in_use: str | None = field(default=None, repr=False)
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

    def loaded(self) -> Settings | None:
        """The settings if a command built them: the error boundary names the broker or store from them."""
        return self._settings


pass_state = click.make_pass_decorator(CliState, ensure=True)


def current_state() -> CliState:
    return click.get_current_context().ensure_object(CliState)


def pass_settings(fn: F) -> F:
    """Call the command with the validated ``Settings`` as its first argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(current_state().settings(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ----- refusing bad values -----------------------------------------------------------------------------
def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_input(path: str | Path) -> bytes:
    """A file named on the command line: a missing or unreadable one is a usage error, not a traceback."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


class IsoTime(click.ParamType):
    """A date (``2026-03-01``) or an ISO 8601 time (``2026-03-01T12:00:00Z``), kept as the text given."""

    name = "DATE|TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            if len(text) == 10:
                date.fromisoformat(text)
            else:
                datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD) or ISO 8601 time: {text!r}", param, ctx)
        return text


class Day(click.ParamType):
    """A calendar date, ``YYYY-MM-DD``: for options such as ``--today``."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)


ISO_TIME = IsoTime()
DAY = Day()


# ----- passwords ---------------------------------------------------------------------------------------
def read_password(password: str | None, from_stdin: bool) -> str | None:
    """The password from ``--password-stdin`` (one line), else ``--password`` or ``$ZORGHUB_PASSWORD``."""
    if not from_stdin:
        return password or None
    if password and click.get_current_context().get_parameter_source("password") == \
            click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --password or --password-stdin, not both")
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError("--password-stdin: no password on stdin")
    return line


def password_option(fn: F) -> F:
    """``--password`` (or ``$ZORGHUB_PASSWORD``) and ``--password-stdin``, passed on as ``password``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, password: str | None, password_stdin: bool, **kwargs: Any) -> Any:
        return fn(*args, password=read_password(password, password_stdin), **kwargs)

    wrapper = click.option("--password-stdin", is_flag=True,
                           help="read the party's broker password from the first line of stdin")(wrapper)
    wrapper = click.option("--password", envvar=PASSWORD_ENV, show_envvar=True, metavar="SECRET",
                           help="the party's broker password (amqp only); prefer the environment variable or "
                                "--password-stdin: a command line is visible to every user of the machine")(wrapper)
    return wrapper  # type: ignore[return-value]


# ----- the broker ------------------------------------------------------------------------------------
def broker_is_embedded(url: str) -> bool:
    """Whether the broker lives inside this process only, so that nothing outside it sees a message."""
    from hub.transports import is_embedded

    return is_embedded(url)


def refuse_embedded(settings: Settings, what: str) -> None:
    """A command that talks to a running hub does nothing on the in-process broker: say so, exit 2."""
    if broker_is_embedded(settings.broker_url):
        raise click.UsageError(f"{what} needs a running hub's broker, and memory:// lives in this process only: "
                               "give --broker amqp://... (or broker_url in the settings)")
