"""Pure layout of the S3 (+SQS) sinks: configuration models, object keys, parts, messages.

No I/O here (boto3 lives in ``s3.py``); ``write()`` and ``dry-run`` both use these functions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["S3TriggerEntity", "S3TriggerSpec", "S3ArchiveSpec", "MAX_PART_BYTES"]

_STRICT = ConfigDict(extra="forbid")

#: Parts of a trigger-compatible object are at most this many bytes (what the triggers used).
MAX_PART_BYTES = 4_194_304


class S3TriggerEntity(BaseModel):
    model_config = _STRICT

    collection: str | None = Field(default=None, description="Path segment; default: the entity name.")
    queue: str | None = Field(default=None, description="SQS queue name or URL; none: S3 only.")


class S3TriggerSpec(BaseModel):
    """Trigger-compatible mode: one object per change at ``<env><collection>/<documentId>-<sourceMillis>``."""

    model_config = _STRICT

    bucket: str
    env: str = Field(default="prod/", description="Key prefix, e.g. prod/ or dev/ for a shadow run.")
    max_part_bytes: int = Field(default=MAX_PART_BYTES, ge=16)
    entities: dict[str, S3TriggerEntity] = Field(default_factory=dict)


class S3ArchiveSpec(BaseModel):
    """Archive mode: batched events per entity under ``<prefix>/<entity>/year=…/month=…/day=…/hour=…/``."""

    model_config = _STRICT

    bucket: str
    prefix: str = "archive"
    format: Literal["avro", "jsonl"] = "avro"
    codec: Literal["deflate", "snappy", "null"] = "deflate"
    max_records: int = Field(default=10_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_seconds: float = Field(default=300.0, gt=0)
    entities: list[str] | Literal["all"] = "all"
