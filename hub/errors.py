"""One flat error hierarchy. Each class says what should happen next.

- ``RetryLater``: a passing fault (broker, database); try again with backoff.
- ``DeadLetter``: the message cannot be processed; park it with a reason.
- ``Rejected``: the sender made a mistake; tell the sender and park it.
- ``ConfigError``: fatal at start-up; the hub refuses to run.

Error messages travel to other parties: they must never contain a BSN.
"""

from __future__ import annotations

from typing import ClassVar


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    action: ClassVar[str] = "dead_letter"
    code: ClassVar[str] = "HUB"

    def __init__(self, reason: str, *, rule: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule or self.code


class ConfigError(HubError):
    """The configuration is invalid: fatal, fix it and start again."""

    action = "fatal"
    code = "CONFIG"


class RetryLater(HubError):
    """A passing fault: the message is fine, the moment is not."""

    action = "retry"
    code = "RETRY"


class DeadLetter(HubError):
    """The hub cannot process this message; park it for an operator."""

    action = "dead_letter"
    code = "DEAD_LETTER"


class Rejected(DeadLetter):
    """The sender's message is wrong: a receipt goes back to the sender."""

    action = "reject"
    code = "REJECTED"


class UnknownKind(Rejected):
    code = "UNKNOWN_KIND"


class BadContentType(Rejected):
    code = "BAD_CONTENT_TYPE"


class Unparseable(Rejected):
    code = "UNPARSEABLE"


class SchemaViolation(Rejected):
    code = "SCHEMA"


class InvalidBSN(Rejected):
    code = "INVALID_BSN"


class TooLarge(Rejected):
    code = "TOO_LARGE"


class Forbidden(Rejected):
    code = "FORBIDDEN"


class NoRoute(DeadLetter):
    code = "NO_ROUTE"


class UnknownMapping(DeadLetter):
    """No mapping is registered under the requested name, version or formats."""

    code = "UNKNOWN_MAPPING"


class RuleViolation(Rejected):
    """The message breaks business rules (such as the official iWlz XSLT rules)."""

    code = "RULE"

    def __init__(self, reason: str, *, codes: list[str] | None = None, rule: str | None = None) -> None:
        self.codes = list(codes or [])
        super().__init__(reason, rule=rule or (self.codes[0] if self.codes else None))


class Unmapped(Rejected):
    """The message holds data that this mapping version cannot carry: refusing beats losing it."""

    code = "UNMAPPED"
