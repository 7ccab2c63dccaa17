"""Logging that cannot leak a BSN: every formatted line, traceback included, is redacted."""

from __future__ import annotations

import logging

from hub.formats.bsn import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: client libraries that narrate every connection step; their failures reach us as exceptions anyway
CHATTY = ("pika", "kombu", "amqp")


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup(level: int = logging.INFO, *, verbose: bool = False, cli: bool = False) -> None:
    """Configure the root logger once, with the redacting formatter on its handler.

    The broker libraries log at WARNING unless ``verbose``. A one-shot command (``cli``) hears nothing
    from them at all: the error boundary reports their failure in one line, and pika would otherwise
    log the same refused connection a dozen times, traceback included.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.INFO if verbose else logging.CRITICAL + 1 if cli else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
