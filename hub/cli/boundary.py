"""The CLI's one error boundary: every failure becomes one line on stderr and an ``ExitStatus``.

A person at a terminal needs the reason and what to do, not a traceback; a script needs a stable exit
status (``zorghub --help`` lists them). ``-v`` adds the traceback for whoever debugs. The line never holds
a password (URLs are reduced to host:port) or a BSN (every line passes the BSN redactor).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from types import TracebackType
from urllib.parse import urlparse

import click

from hub.cli.kit import CliState
from hub.cli.status import ExitStatus
from hub.errors import HubError
from hub.formats.bsn import redact
from hub.transports.hosts import BrokerUrl

_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def run(group: click.Group, argv: list[str], state: CliState) -> int:
    """Parse and run one command line; never raises."""
    try:
        try:
            with group.make_context("zorghub", argv, obj=state) as ctx:
                result = group.invoke(ctx)
        except click.exceptions.Exit as done:  # --help, --version, ctx.exit()
            result = done.exit_code
        sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at interpreter exit
        return int(result or 0)
    except BaseException as exc:  # noqa: BLE001 - this is the boundary
        status, reason = classify(exc, state)
        if status == ExitStatus.BROKEN_PIPE:
            _discard_stdout()  # then say so, once, on stderr (which is still open)
            print(f"zorghub: {reason}", file=sys.stderr, flush=True)
            return int(status)
        if state.verbose and not isinstance(exc, click.ClickException | KeyboardInterrupt | click.Abort):
            traceback.print_exception(exc, file=sys.stderr)
        if reason:
            print(f"zorghub: {one_line(reason)}", file=sys.stderr, flush=True)
        return int(status)


def one_line(text: str) -> str:
    """The first line, without credentials in URLs or a BSN."""
    first = (text.strip().splitlines() or [""])[0].strip()
    return redact(_CREDENTIALS.sub(r"\1", first))


def classify(exc: BaseException, state: CliState) -> tuple[ExitStatus, str]:
    """The exit status and the one-line reason for an exception that reached the boundary."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):  # `zorghub` or `zorghub audit` alone
        click.echo(exc.format_message())
        return ExitStatus.USAGE, f"give a command (see '{exc.ctx.command_path if exc.ctx else 'zorghub'} --help')"
    if isinstance(exc, click.UsageError):
        # the parser's own errors point at the help; a command's refusal says what to do itself
        parser = type(exc) is not click.UsageError and exc.ctx is not None
        hint = f" (see '{exc.ctx.command_path} --help')" if parser and exc.ctx is not None else ""
        return ExitStatus.USAGE, exc.format_message() + hint
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        return ExitStatus.INTERRUPTED, "interrupted"
    if isinstance(exc, click.ClickException):
        return _known(exc.exit_code), exc.format_message()
    if isinstance(exc, SystemExit):  # a library's sys.exit(): keep its status, say nothing more
        code = exc.code
        if code is None or isinstance(code, int):
            return _known(code or 0), ""
        return ExitStatus.FAILED, str(code)
    if _broken_pipe(exc):
        return ExitStatus.BROKEN_PIPE, "the reader of the output went away before it ended (broken pipe)"
    service = _unreachable(exc, state)
    if service is not None:
        return service
    if isinstance(exc, HubError):
        return _hub_status(exc), exc.reason
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return ExitStatus.IO_ERROR, f"{where}{exc.strerror or exc}"
    if isinstance(exc, ValueError) and "isoformat" in str(exc):  # date.fromisoformat() on an option's value
        return ExitStatus.USAGE, f"not an ISO date or time: {str(exc).rsplit(': ', 1)[-1]}"
    if isinstance(exc, sqlite3.Error):
        return ExitStatus.CONFIG, f"the store cannot be used: {exc}"
    return ExitStatus.FAILED, f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"


def _known(code: int) -> ExitStatus:
    try:
        return ExitStatus(code)
    except ValueError:
        return ExitStatus.FAILED


def _hub_status(exc: HubError) -> ExitStatus:
    if exc.action == "fatal":
        return ExitStatus.CONFIG
    if exc.action == "retry":  # a passing fault: the broker or the database
        return ExitStatus.UNAVAILABLE
    return ExitStatus.FAILED


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _broken_pipe(exc: BaseException) -> bool:
    return any(isinstance(e, BrokenPipeError) or (isinstance(e, OSError) and e.errno == errno.EPIPE)
               for e in _chain(exc))


def _unreachable(exc: BaseException, state: CliState) -> tuple[ExitStatus, str] | None:
    """The broker or the database could not be reached: name it by host:port, never with its password."""
    for e in _chain(exc):
        kind = type(e).__module__.split(".")[0]
        if kind == "pika" and type(e).__name__ in ("ProbableAuthenticationError", "AuthenticationError"):
            return ExitStatus.CONFIG, f"the broker at {_broker(state)} refused the login of user {_user(state)!r}"
        if kind == "pika" and type(e).__name__ == "ProbableAccessDeniedError":
            return ExitStatus.CONFIG, f"the broker at {_broker(state)} refused access to the virtual host"
        if kind == "pika" and any(c.__name__ == "AMQPConnectionError" for c in type(e).__mro__):
            return ExitStatus.UNAVAILABLE, f"cannot reach the broker at {_broker(state)}: {_socket_reason(e)}"
        if kind == "psycopg" and type(e).__name__ == "OperationalError":
            return ExitStatus.UNAVAILABLE, f"cannot reach the database at {_store(state)}: {_pg_reason(e)}"
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
            return ExitStatus.UNAVAILABLE, f"cannot open the store at {_store(state)}: {e}"
        if isinstance(e, ConnectionError | socket.gaierror | TimeoutError):
            service = _service_in(e.__traceback__)
            if service == "broker":
                return ExitStatus.UNAVAILABLE, f"cannot reach the broker at {_broker(state)}: {_socket_reason(e)}"
            if service == "database":
                return ExitStatus.UNAVAILABLE, f"cannot reach the database at {_store(state)}: {_socket_reason(e)}"
            return ExitStatus.UNAVAILABLE, f"cannot connect: {_socket_reason(e)}"
    return None


def _service_in(tb: TracebackType | None) -> str:
    """Which service a bare socket error came from, by the modules it passed through."""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("pika", "hub.transports.amqp")):
            return "broker"
        if module.startswith(("psycopg", "hub.store")):
            return "database"
        tb = tb.tb_next
    return ""


def _socket_reason(exc: BaseException) -> str:
    """``connection refused`` rather than pika's nested reprs."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
        for arg in getattr(e, "args", ()):
            for inner in (arg, getattr(arg, "exception", None)):
                if isinstance(inner, OSError) and inner.strerror:
                    return inner.strerror.lower()
    text = str(exc)
    match = re.search(r"\(\d+, '([^']+)'\)", text)
    return match.group(1).lower() if match else (type(exc).__name__ if not text else text)


def _pg_reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return first.rsplit(": ", 1)[-1].strip().lower() or type(exc).__name__


def _broker(state: CliState) -> str:
    """Every host of the broker URL (a cluster's may list several), with the default port filled in."""
    try:
        hosts = BrokerUrl.parse(_broker_url(state)).hosts
    except HubError:
        return "(unparseable URL)"
    return ",".join(f"{h.host or '127.0.0.1'}:{h.port or 5672}" for h in hosts)


def _store(state: CliState) -> str:
    settings = state.loaded()
    url = settings.effective_store_url if settings else state.store or ""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    return _host_port(url, 5432, with_path=True)


def _host_port(url: str, default_port: int, *, with_path: bool = False) -> str:
    try:
        parsed = urlparse(url)
        port = parsed.port or default_port
    except ValueError:
        return "(unparseable URL)"
    where = f"{parsed.hostname or '127.0.0.1'}:{port}"
    return where + (parsed.path if with_path and parsed.path not in ("", "/") else "")


def _broker_url(state: CliState) -> str:
    settings = state.loaded()
    return state.broker_in_use or (settings.broker_url if settings else state.broker or "")


def _user(state: CliState) -> str:
    try:
        return urlparse(_broker_url(state)).username or "guest"
    except ValueError:
        return "?"


def _discard_stdout() -> None:
    """The reader left: point stdout at /dev/null so that the interpreter's last flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a captured stdout (tests) has no file descriptor
        pass
