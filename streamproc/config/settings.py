"""All runtime settings, in one place. The only module that reads the environment.

Precedence (lowest first): built-in defaults < ``STREAMPROC_…`` environment variables
(nested with ``__``, e.g. ``STREAMPROC_REDACTION__KEY``) < explicit arguments (CLI flags).
The pipelines file (``config/pipelines.yaml``, path in :attr:`Settings.pipelines`) is read and
validated by :func:`streamproc.config.loader.load_pipelines`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from streamproc.config.env_checks import http_urls, not_utf8, settings_error_problem, validation_problems
from streamproc.config.kafka_security import KafkaSecuritySettings
from streamproc.config.settings_sections import (
    AggregationRuntimeSettings,
    AwsSettings,
    EventBridgeSettings,
    LimitsSettings,
    OpenSearchSettings,
    RedactionSettings,
    SinkRuntimeSettings,
    WarehouseSettings,
)
from streamproc.errors import ConfigError

__all__ = [
    "Settings",
    "RedactionSettings",
    "KafkaSecuritySettings",
    "AwsSettings",
    "OpenSearchSettings",
    "WarehouseSettings",
    "EventBridgeSettings",
    "SinkRuntimeSettings",
    "AggregationRuntimeSettings",
    "ROLES",
    "load_settings",
    "DEV_REDACTION_KEY",
    "MIN_REDACTION_KEY_BYTES",
]

log = logging.getLogger(__name__)

#: Public, so only for dev mode without a key, and by the worker only on the embedded broker
#: (:func:`streamproc.runtime.processor.redaction_key`) unless ``--allow-dev-key`` is given.
DEV_REDACTION_KEY = "streamproc-development-key-do-not-use-in-production"
#: Shortest redaction key accepted outside dev mode: 256 bits, the strength of HMAC-SHA256.
MIN_REDACTION_KEY_BYTES = 32

#: every role `worker --role` accepts, in start order (STREAMPROC_ROLES defaults to all of them)
ROLES: tuple[str, ...] = ("ingest", "s3", "opensearch", "warehouse", "eventbridge", "aggregations")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMPROC_", env_nested_delimiter="__", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset means: run `streamproc dev`."
    )
    pipelines: Path = Path("config/pipelines.yaml")
    topic_prefix: str = "streamproc"
    source_topic_prefix: str = Field(default="cdc", description="Topic prefix for namespace-only sources.")
    app_id: str = Field(default="streamproc-ingest", description="Faust app id = consumer group id.")
    datadir: Path = Path("var/streamproc")
    web_host: str = "0.0.0.0"
    web_port: int = 6066
    schema_registry_url: SecretStr | None = Field(
        default=None,
        description="Confluent Schema Registry URL(s), http(s), comma-separated; a secret (it may carry "
        "user:password@), never shown.",
    )
    redaction: RedactionSettings = RedactionSettings()
    kafka_security: KafkaSecuritySettings = KafkaSecuritySettings()
    partitions: int = Field(default=4, ge=1, description="Partitions of topics streamproc creates.")
    replication_factor: int = Field(default=1, ge=1)
    batch_size: int = Field(default=2000, ge=1, description="Max events per processing batch.")
    batch_within: float = Field(
        default=0.1, gt=0, description="Max seconds the oldest waiting message waits for its batch to fill."
    )
    commit_interval: float = Field(default=1.0, gt=0)
    session_timeout: float = Field(default=30.0, gt=0, description="Consumer group session timeout (s).")
    rebalance_timeout: float = Field(default=30.0, gt=0)
    heartbeat_interval: float = Field(default=3.0, gt=0)
    test_hold_after_output: float = Field(
        default=0.0,
        ge=0,
        description="For tests only (0: off): seconds each ingest batch waits after Kafka acknowledged its "
        "output, before its state and offsets are written, so a test can kill the worker in that window.",
    )
    test_forget_seek: str = Field(
        default="",
        pattern=r"^$|^[^:]+:[0-9]+$",
        description="For tests only (empty: off): a source partition, TOPIC:PARTITION, left after the first "
        "assignment as if its seek were missed, so a test can see the fetch watch seek it back.",
    )
    schema_max_fields: int = Field(
        default=500, ge=1, description="Most top-level fields the schema-drift check tracks per entity."
    )
    dev: bool = Field(default=False, description="Development mode: allows the built-in redaction key.")
    roles: str = Field(default=",".join(ROLES), description="Roles one worker process runs.")
    aws: AwsSettings = AwsSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    eventbridge: EventBridgeSettings = EventBridgeSettings()
    sink: SinkRuntimeSettings = SinkRuntimeSettings()
    limits: LimitsSettings = LimitsSettings()
    aggregations: AggregationRuntimeSettings = AggregationRuntimeSettings()
    #: set by ``--allow-dev-key`` only (:meth:`allowing_dev_key`), never from the environment
    _dev_key_allowed: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any) -> Any:
        """Values that are not UTF-8 are refused by name; only the redaction key may be any bytes."""
        bad = not_utf8(data, frozenset({("redaction", "key")})) if isinstance(data, dict) else []
        if bad:
            raise ValueError(f"{', '.join(bad)}: not valid UTF-8")
        return data

    @field_validator("schema_registry_url")
    @classmethod
    def _registry_url(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value().strip() if value is not None else ""
        if not text:
            return None
        if not http_urls(text):
            raise ValueError("not an http(s) URL or a comma-separated list of them (the value is not shown)")
        return value

    @property
    def dev_key_allowed(self) -> bool:
        """Whether ``--allow-dev-key`` lifts the embedded-broker-only rule of the development key."""
        return self._dev_key_allowed

    def allowing_dev_key(self) -> Settings:
        """A copy in dev mode whose development key may meet any broker (``--allow-dev-key``, tests)."""
        copy = self.model_copy(update={"dev": True})
        copy._dev_key_allowed = True
        return copy

    def role_list(self) -> list[str]:
        """The configured roles, validated (ConfigError names an unknown one)."""
        roles = [r.strip() for r in self.roles.split(",") if r.strip()]
        unknown = [r for r in roles if r not in ROLES]
        if unknown or not roles:
            raise ConfigError(
                f"STREAMPROC_ROLES / --role: unknown role {', '.join(unknown) or '(none)'}; "
                f"choose from {', '.join(ROLES)}"
            )
        return list(dict.fromkeys(roles))

    def sink_app_id(self, role: str) -> str:
        """Consumer group of a sink role: its own, so each sink is replayed and paused alone."""
        return f"{self.app_id.removesuffix('-ingest')}-sink-{role}"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}.dlq"

    @property
    def retry_topic(self) -> str:
        """DLQ records re-injected by ``streamproc dlq replay``; the ingest role consumes it."""
        return f"{self.topic_prefix}.retry"

    @property
    def audit_topic(self) -> str:
        """Compacted log of operator actions (``replay``, ``dlq replay``) and retry outcomes."""
        return f"{self.topic_prefix}.audit"

    def clean_topic(self, entity: str) -> str:
        return f"{self.topic_prefix}.events.{entity}"

    def aggregates_topic(self, aggregation: str) -> str:
        """The results of one aggregation."""
        return f"{self.topic_prefix}.aggregates.{aggregation}"

    @property
    def aggregates_late_topic(self) -> str:
        """Changes for windows no longer in state, of every aggregation."""
        return f"{self.topic_prefix}.aggregates.late"

    def weak_redaction_key(self) -> str | None:
        """What is weak about the key :meth:`redaction_key` gives, if anything (dev mode only):
        that it is the public development key, or shorter than :data:`MIN_REDACTION_KEY_BYTES`.
        Outside dev mode None: :meth:`redaction_key` refuses such keys itself."""
        if not self.dev:
            return None
        if self.redaction.key is None or not self.redaction.key.get_secret_value():
            return "the public development redaction key"
        key = self.redaction.key.get_secret_value()
        if key == DEV_REDACTION_KEY:
            return "the public development redaction key"
        if len(key.encode("utf-8", "surrogateescape")) < MIN_REDACTION_KEY_BYTES:
            return f"a redaction key shorter than {MIN_REDACTION_KEY_BYTES} bytes"
        return None

    def redaction_key(self) -> bytes:
        """The HMAC key for HASH/TOKENIZE: the configured key's bytes (as the environment held
        them). Outside dev mode a missing key, one shorter than :data:`MIN_REDACTION_KEY_BYTES`
        or the public development key is a ConfigError that never shows the key. In dev mode
        without a key: :data:`DEV_REDACTION_KEY`, which the worker accepts only on the embedded
        broker (:func:`streamproc.runtime.processor.redaction_key`)."""
        if self.redaction.key is not None and self.redaction.key.get_secret_value():
            key = self.redaction.key.get_secret_value().encode("utf-8", "surrogateescape")
            short = len(key) < MIN_REDACTION_KEY_BYTES
            if not self.dev and key == DEV_REDACTION_KEY.encode():
                raise ConfigError(
                    "STREAMPROC_REDACTION__KEY is the public development key; set a secret one "
                    "(e.g. `openssl rand -hex 32`)"
                )
            if short and not self.dev:
                raise ConfigError(
                    f"STREAMPROC_REDACTION__KEY is shorter than {MIN_REDACTION_KEY_BYTES} bytes; set a longer "
                    "secret (e.g. `openssl rand -hex 32`)"
                )
            if short:
                log.warning(
                    "STREAMPROC_REDACTION__KEY is shorter than %d bytes: accepted in dev mode only",
                    MIN_REDACTION_KEY_BYTES,
                )
            return key
        if self.dev:
            log.warning(
                "Using the built-in development redaction key; set STREAMPROC_REDACTION__KEY "
                "before processing real data."
            )
            return DEV_REDACTION_KEY.encode()
        raise ConfigError(
            "STREAMPROC_REDACTION__KEY is not set: HASH and TOKENIZE redaction need a secret key "
            "(use `streamproc dev` for local runs with a built-in development key)."
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:  # the input value is never shown: it may be a misplaced secret
        raise ConfigError(f"invalid settings: {'; '.join(validation_problems(exc))}") from None
    except SettingsError as exc:
        raise ConfigError(f"invalid settings: {settings_error_problem(exc)}") from None
