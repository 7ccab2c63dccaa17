"""One typed settings object, read from a TOML file and the environment.

Nothing reads the environment at import time: ``Settings.load`` is called once
at start-up, validated against ``schemas/settings.schema.json``, and passed down.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from hub.errors import ConfigError
from hub.store import private
from hub.store.errors import StoreMissing
from hub.transports.hosts import BrokerUrl

_PACKAGE_DATA = resources.files("hub") / "data"


def _default_schema_dir() -> str:
    """The shared standards folder, when the project sits beside it."""
    candidate = Path(__file__).resolve().parent.parent.parent / "shared" / "standards"
    return str(candidate) if candidate.is_dir() else ""


@dataclass(frozen=True)
class Settings:
    home: str = ".zorghub"
    broker_url: str = "memory://"
    store_url: str = ""
    schema_dir: str = ""
    parties_file: str = ""
    kinds_file: str = ""
    regions_file: str = ""
    prefix: str = "zorghub"
    #: twice the batch in flight, so the next batch fills while the last one's commit runs; light traffic
    #: is cut into batches as it arrives. In interleaved runs 500 (prefetch 1000) cost fanout 778-800 µs of
    #: CPU a message against 604-615 at 250, passthrough the same within noise; 125 was no better
    prefetch: int = 500
    batch_size: int = 250
    shards: int = 8
    workers: int = 1
    shutdown_grace_seconds: int = 10  # how long `serve` waits for its workers to stop before it kills them
    max_payload_bytes: int = 1_048_576
    # a ZIP delivery (NZa OHW) is refused above this many bytes unpacked in all, or this ratio to its packed size
    zip_max_unpacked_bytes: int = 200_000_000
    zip_max_ratio: int = 200
    audit_checkpoint_every: int = 10_000  # records between signed checkpoints a worker appends; 0: never
    # the Ed25519 key that signs tree heads: its own file, beside (never inside) the data directory by default
    audit_signing_key: str = ""
    # witness parties (registry names) that get a signed tree head in their inbox every N records, or T
    # seconds after the last one when the log has grown since (0: not by that measure)
    audit_witnesses: tuple[str, ...] = ()
    audit_witness_every: int = 10_000
    audit_witness_seconds: int = 300
    # the key-encryption key of the payload data keys: "file:PATH" or "env:NAME"; default a file beside home
    payload_kek: str = ""
    retry_delays_ms: tuple[int, ...] = (1000, 10000, 60000)
    # the stream protocol's hosts (stream inboxes); "" = broker_url's hosts on port 5552
    stream_url: str = ""
    management_url: str = "http://127.0.0.1:15672"
    management_user: str = "guest"
    management_password: str = "guest"
    pseudonym_key: str = ""
    # ----- the HTTP front door (hub.http) -------------------------------------------
    http_port: int = 0  # `serve` also runs the HTTP server on this port; 0: it does not
    http_bind: str = "127.0.0.1"
    http_jwks: str = ""  # a JWKS file or https URL the access tokens are verified against; "": the dev key's
    http_issuer: str = "zorghub-dev"
    http_audience: str = "zorghub"
    http_mtls: str = "off"  # "header": a TLS proxy passes the client certificate (X-Client-Cert, URL-encoded PEM)
    http_pdp_url: str = ""  # an external AuthZEN decision point; "": the built-in one
    http_rate_per_minute: int = 1200  # requests per party per minute
    http_public_url: str = ""  # how other parties reach this server (status URLs); "": the request's own
    #: before each retry of a webhook call (handshake or event); after the last the subscription is `error`
    webhook_retry_ms: tuple[int, ...] = (1000, 2000, 5000, 10000, 20000, 30000, 60000, 120000, 300000, 600000,
                                         1800000, 3600000)
    webhook_timeout_ms: int = 5000  # one webhook call's connect and answer time
    #: external netwerkpunten that receive this hub's notifications: "party=url" (the party they serve)
    netwerkpunten: tuple[str, ...] = ()
    # ----- the console (hub.console) ------------------------------------------------
    console_inbox_alert: int = 1000  # the dashboard alerts when an inbox holds more messages than this
    console_worker_alert_s: int = 60  # ... and when a shard has had no worker for longer than this

    # ----- derived ---------------------------------------------------------------
    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.home_path / 'hub.sqlite3'}"

    def data_file(self, configured: str, default_name: str) -> Path:
        if configured:
            return Path(configured)
        return Path(str(_PACKAGE_DATA / default_name))

    @property
    def parties_path(self) -> Path:
        return self.data_file(self.parties_file, "parties.toml")

    @property
    def kinds_path(self) -> Path:
        return self.data_file(self.kinds_file, "kinds.toml")

    @property
    def regions_path(self) -> Path:
        return self.data_file(self.regions_file, "regions.csv")

    def ensure_home(self) -> Path:
        """The home of a command that writes: made 0700 if absent, checked (a warning if wider) if present."""
        private.make_private_dir(self.home_path)
        private.check_private(self.home_path, private.DIR_MODE)
        return self.home_path

    def key_bytes(self, *, create: bool = True) -> bytes:
        """The hub's secret: keys the client pseudonym and the audit chain.

        Generated once into the data directory when not configured, so the
        embedded default is stable across runs. ``create=False`` (a command that only
        reads): a missing key is ``StoreMissing``, and nothing is made.
        """
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        path = self.home_path / "hub.key"
        if not path.exists():
            if not create:
                raise StoreMissing(f"no hub key at {path} (set ZORGHUB_HOME, or pseudonym_key)")
            # written aside and linked into place: two workers starting at once end up with one key
            self.ensure_home()
            private.write_once(path, os.urandom(32).hex().encode())
        private.check_private(path, private.FILE_MODE)
        return path.read_text().strip().encode()

    @property
    def signing_key_path(self) -> Path:
        """Outside the data directory unless configured so: who copies the store does not get the key."""
        if self.audit_signing_key:
            return Path(self.audit_signing_key)
        home = self.home_path.resolve()
        return home.parent / f"{home.name}-signing.pem"

    @property
    def kek_source(self) -> str:
        if self.payload_kek:
            return self.payload_kek
        home = self.home_path.resolve()
        return f"file:{home.parent / f'{home.name}-kek.key'}"

    def replace(self, **changes: Any) -> Settings:
        return validate(dataclasses.replace(self, **changes))

    # ----- loading ---------------------------------------------------------------
    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, config_file: str | None = None) -> Settings:
        """Defaults, then the TOML file (``ZORGHUB_CONFIG``), then ``ZORGHUB_*`` variables."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = config_file or env.get("ZORGHUB_CONFIG")
        if path:
            try:
                with open(path, "rb") as fh:
                    values.update(tomllib.load(fh))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, f in fields.items():
            raw = env.get(f"ZORGHUB_{name.upper()}")
            if raw is None and name == "home":
                raw = env.get("ZORGHUB_HOME")
            if raw is not None:
                values[name] = _coerce(raw, f.default)
        if "schema_dir" not in values:
            values["schema_dir"] = _default_schema_dir()
        unknown = set(values) - set(fields)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for name in ("retry_delays_ms", "netwerkpunten", "webhook_retry_ms", "audit_witnesses"):
            if name in values:
                values[name] = tuple(values[name])
        return validate(cls(**values))


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            return raw  # the schema reports it
    if isinstance(default, tuple):
        return [int(x) if x.strip().isdigit() else x for x in raw.split(",") if x.strip()]
    return raw


def validate(settings: Settings) -> Settings:
    schema = json.loads((resources.files("hub") / "data" / "settings.schema.json").read_text())
    data = dataclasses.asdict(settings)
    data["retry_delays_ms"] = list(settings.retry_delays_ms)
    data["netwerkpunten"] = list(settings.netwerkpunten)
    data["webhook_retry_ms"] = list(settings.webhook_retry_ms)
    data["audit_witnesses"] = list(settings.audit_witnesses)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: e.path)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "settings"
        raise ConfigError(f"invalid setting {where}: {first.message}")
    for name in ("broker_url", "stream_url"):
        url = getattr(settings, name)
        if url:  # every host of a list (memory:// has none, and passes)
            try:
                BrokerUrl.parse(url)
            except ConfigError as exc:
                raise ConfigError(f"invalid setting {name}: {exc.reason}") from None
    return settings
