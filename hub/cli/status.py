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
