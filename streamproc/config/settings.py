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

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamproc.errors import ConfigError

__all__ = [
    "Settings",
    "RedactionSettings",
    "AwsSettings",
    "OpenSearchSettings",
    "WarehouseSettings",
    "SinkRuntimeSettings",
    "ROLES",
    "load_settings",
    "DEV_REDACTION_KEY",
]

log = logging.getLogger(__name__)

#: Used only by ``streamproc dev`` / the demo when no key is configured; never in ``worker``.
DEV_REDACTION_KEY = "streamproc-development-key-do-not-use-in-production"


class RedactionSettings(BaseModel):
    key: SecretStr | None = Field(default=None, description="Secret for HASH and TOKENIZE redaction (HMAC-SHA256).")


class AwsSettings(BaseModel):
    region: str = "us-east-1"
    endpoint_url: str | None = Field(
        default=None, description="S3 and SQS endpoint (moto, LocalStack); unset means AWS itself."
    )
    access_key_id: SecretStr | None = Field(default=None, description="Unset: boto3's default chain.")
    secret_access_key: SecretStr | None = None


class OpenSearchSettings(BaseModel):
    url: str | None = Field(default=None, description="http(s)://host:port; unset disables the role.")
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True
    timeout: float = Field(default=10.0, gt=0)


class WarehouseSettings(BaseModel):
    dsn: SecretStr | None = Field(
        default=None, description="postgresql://user:pass@host:port/db or duckdb:///path/file.duckdb"
    )


class SinkRuntimeSettings(BaseModel):
    """Batching, retry and circuit-breaker settings shared by every sink role."""

    batch_records: int = Field(default=500, ge=1, description="Max records per sink batch.")
    batch_bytes: int = Field(default=8 * 1024 * 1024, ge=1, description="Max bytes per sink batch.")
    batch_seconds: float = Field(default=0.5, gt=0, description="Max seconds to wait to fill a batch.")
    retry_initial: float = Field(default=0.2, gt=0, description="First retry delay (s); doubles, with jitter.")
    retry_max: float = Field(default=10.0, gt=0, description="Longest retry delay (s).")
    breaker_failures: int = Field(default=5, ge=1, description="Consecutive failures that open the breaker.")
    breaker_reset: float = Field(default=10.0, gt=0, description="Seconds the breaker stays open before a probe.")
    create_missing: bool = Field(
        default=False,
        description="Create missing buckets and queues (local runs); else a missing one stops the worker.",
    )


ROLES: tuple[str, ...] = ("ingest", "s3", "opensearch", "warehouse")


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
    schema_registry_url: str | None = None
    redaction: RedactionSettings = RedactionSettings()
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
    dev: bool = Field(default=False, description="Development mode: allows the built-in redaction key.")
    roles: str = Field(default=",".join(ROLES), description="Roles one worker process runs.")
    aws: AwsSettings = AwsSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    sink: SinkRuntimeSettings = SinkRuntimeSettings()

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

    def clean_topic(self, entity: str) -> str:
        return f"{self.topic_prefix}.events.{entity}"

    def redaction_key(self) -> bytes:
        """The HMAC key for HASH/TOKENIZE. Outside dev mode a missing key is a ConfigError."""
        if self.redaction.key is not None and self.redaction.key.get_secret_value():
            return self.redaction.key.get_secret_value().encode()
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
    except ValidationError as exc:
        problems = "; ".join(
            f"STREAMPROC_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
