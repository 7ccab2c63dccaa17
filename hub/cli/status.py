"""Exit statuses of the ``zorghub`` command, as httpie's ``ExitStatus``: one table, documented in ``--help``."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    #: the command ran and found a problem (verify failed, a demo check failed)
    FAILED = 1
    #: the command line is wrong: unknown command or flag, bad value, missing file
    USAGE = 2
    #: the configuration or a stored state is wrong (bad settings, wrong hub key, missing store)
    CONFIG = 3
    #: a service is unreachable: the broker or the database
    UNAVAILABLE = 69
    #: reading or writing a file failed
    IO_ERROR = 74
    #: stopped by Ctrl-C
    INTERRUPTED = 130
    #: the reader of stdout went away (``zorghub ... | head``)
    BROKEN_PIPE = 141


#: one line per status, for the epilog of ``zorghub --help`` (the ``#:`` comments above, readable at run time)
MEANING: dict[ExitStatus, str] = {
    ExitStatus.OK: "done",
    ExitStatus.FAILED: "the command found a problem, or did nothing of what was asked",
    ExitStatus.USAGE: "wrong command line: command, flag, party, mapping version, date, file",
    ExitStatus.CONFIG: "the configuration or a stored state is wrong (settings, hub key)",
    ExitStatus.UNAVAILABLE: "the broker or the database cannot be reached",
    ExitStatus.IO_ERROR: "reading or writing a file failed",
    ExitStatus.INTERRUPTED: "stopped by Ctrl-C",
    ExitStatus.BROKEN_PIPE: "the reader of the output went away (zorghub ... | head)",
}


def epilog() -> str:
    """The exit-status table for ``--help``; ``\\b`` keeps click from re-wrapping it."""
    rows = [f"  {int(s):>3}  {MEANING[s]}" for s in ExitStatus]
    return "\b\nExit status:\n" + "\n".join(rows) + \
        "\n\nEvery failure is one line on stderr, 'zorghub: <reason>'; -v adds the traceback."
