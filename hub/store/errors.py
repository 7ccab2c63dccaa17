"""What can be wrong with a store before any message is touched: each is fatal at start-up."""

from __future__ import annotations

from hub.errors import ConfigError


class StoreMissing(ConfigError):
    """A command that only reads found no store (or no key) where it looked: it creates none."""

    code = "STORE_MISSING"


class WrongKey(ConfigError):
    """The hub key does not match the one the store was written with: a configuration error, not tampering."""

    code = "WRONG_KEY"


class SchemaTooNew(ConfigError):
    """The store was upgraded by a newer release than this one."""

    code = "SCHEMA_TOO_NEW"


class SchemaUnknown(ConfigError):
    """The store holds a table in a shape no release made: it is left as it is, not upgraded by guesswork."""

    code = "SCHEMA_UNKNOWN"
