"""The nested sections of :class:`~streamproc.config.settings.Settings` (``STREAMPROC_<SECTION>__…``):
redaction, AWS, OpenSearch, the warehouse, EventBridge, the sink runtime, the aggregation runtime
and the per-record limits. Plain models: only ``config/settings.py`` reads the environment."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from streamproc.config.env_checks import endpoint_url
from streamproc.config.sink_eventbridge import bus_problem, source_problem

__all__ = [
    "RedactionSettings",
    "AwsSettings",
    "OpenSearchSettings",
    "WarehouseSettings",
    "EventBridgeSettings",
    "SinkRuntimeSettings",
    "AggregationRuntimeSettings",
    "LimitsSettings",
]


class RedactionSettings(BaseModel):
    key: SecretStr | None = Field(default=None, description="Secret for HASH and TOKENIZE redaction (HMAC-SHA256).")


class AwsSettings(BaseModel):
    region: str = "us-east-1"
    endpoint_url: str | None = Field(
        default=None, description="S3 and SQS endpoint (moto, LocalStack); unset means AWS itself."
    )
    access_key_id: SecretStr | None = Field(default=None, description="Unset: boto3's default chain.")
    secret_access_key: SecretStr | None = None

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return endpoint_url(value)


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


class EventBridgeSettings(BaseModel):
    """The EventBridge sink's bus, Source prefix and endpoint; set ones win over ``sinks.eventbridge``."""

    bus: str | None = Field(
        default=None, description="Event bus name or ARN; unset: sinks.eventbridge.bus, else 'default'."
    )
    source_prefix: str | None = Field(
        default=None,
        description="Entries' Source is <source_prefix>.<entity>; unset: sinks.eventbridge.source_prefix, "
        "else 'streamproc'.",
    )
    endpoint_url: str | None = Field(
        default=None, description="EventBridge endpoint (moto, LocalStack); unset: STREAMPROC_AWS__ENDPOINT_URL."
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return endpoint_url(value)

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str | None) -> str | None:
        if value and (why := bus_problem(value)):
            raise ValueError(why)
        return value or None

    @field_validator("source_prefix")
    @classmethod
    def _source_prefix(cls, value: str | None) -> str | None:
        if value and (why := source_problem(value)):
            raise ValueError(why)
        return value or None


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


class AggregationRuntimeSettings(BaseModel):
    """The ``aggregations`` role (windowed aggregations of the ``aggregations:`` list)."""

    tick_interval: float = Field(
        default=0.5,
        gt=0,
        description="Seconds between the checks for idle clean partitions (idle close) and the "
        "flushes of emit: updates.",
    )


class LimitsSettings(BaseModel):
    """Bounded work per record (``streamproc.pipeline.limits.Limits``); a record over a limit goes to
    the DLQ as ``poison`` with a reason naming the limit."""

    max_document_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1, description="Largest document (MongoDB's own limit); a message may hold two."
    )
    max_depth: int = Field(default=200, ge=1, description="Deepest nesting of a document (MongoDB allows 100).")
    max_update_path_segments: int = Field(default=200, ge=1, description="Most segments in one dotted update key.")
    max_array_pad: int = Field(
        default=100_000, ge=1, description="Most null elements one update may add to reach the array indexes it sets."
    )
    max_fields: int = Field(
        default=1_000_000, ge=1, description="Most object members and array elements in one record."
    )
