"""The ``sinks.s3_trigger`` and ``sinks.s3_archive`` sections of config/pipelines.yaml.

:class:`S3TriggerSpec` configures the trigger-compatible sink (``streamproc.sinks.s3.trigger``),
:class:`S3ArchiveSpec` the archive sink (``streamproc.sinks.s3.archive``). The layout they
describe (keys, parts, messages, archive objects) is in ``streamproc.sinks.s3.layout`` and
``archive_format``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streamproc.sinks.s3.layout import MAX_PART_BYTES

__all__ = ["S3TriggerEntity", "S3TriggerSpec", "S3ArchiveSpec"]

_STRICT = ConfigDict(extra="forbid")


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

    def collection(self, entity: str) -> str:
        conf = self.entities.get(entity)
        return (conf.collection if conf is not None and conf.collection else None) or entity

    def queue(self, entity: str) -> str | None:
        conf = self.entities.get(entity)
        return conf.queue if conf is not None else None

    def queues(self) -> list[str]:
        """Every configured queue (name or URL), once, in configuration order."""
        return list(dict.fromkeys(e.queue for e in self.entities.values() if e.queue))


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

    def wants(self, entity: str) -> bool:
        return self.entities == "all" or entity in self.entities
