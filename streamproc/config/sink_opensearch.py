"""The ``sinks.opensearch`` section of config/pipelines.yaml: :class:`OpenSearchSpec` and its
ISM policy, :class:`OpenSearchIsmSpec`.

The sink that reads them is ``streamproc.sinks.opensearch.sink``; index names, ids and actions
are planned in ``streamproc.sinks.opensearch.plan``, whose :func:`check_index_template` checks
``index_template`` here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamproc.sinks.opensearch.plan import check_index_template

__all__ = ["OpenSearchIsmSpec", "OpenSearchSpec"]

_DURATION = re.compile(r"^[0-9]+(d|h|m|s|ms|micros|nanos)$")
_SIZE = re.compile(r"^[0-9]+(b|kb|mb|gb|tb|pb)$")


class OpenSearchIsmSpec(BaseModel):
    """The ISM rollover/retention policy that ``streamproc opensearch init`` installs.

    It is attached (through its ``ism_template``) only to the indices of ``entities``: append-only
    entities written through a rollover alias named like their index (``<index>-000001``, …).
    Rolling over or deleting the index of a mutable entity would lose or duplicate documents, so
    the list is empty by default and the policy is then installed but attached to nothing.
    """

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(default="streamproc-rollover", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    rollover_min_age: str | None = Field(default="1d", description="Roll over after this age (e.g. 1d, 12h).")
    rollover_min_size: str | None = Field(default="30gb", description="…or this total size (e.g. 30gb).")
    rollover_min_doc_count: int | None = Field(default=None, ge=1, description="…or this many documents.")
    delete_after_days: int = Field(default=30, ge=1, description="Delete an index this many days after creation.")
    priority: int = Field(default=100, ge=0)
    entities: list[str] = Field(
        default_factory=list, description="Append-only entities written through a rollover alias."
    )

    @field_validator("rollover_min_age")
    @classmethod
    def _age(cls, v: str | None) -> str | None:
        if v is not None and not _DURATION.match(v):
            raise ValueError("rollover_min_age: expected a number and a unit (d, h, m, s, ms), e.g. 1d")
        return v

    @field_validator("rollover_min_size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is not None and not _SIZE.match(v):
            raise ValueError("rollover_min_size: expected a number and a unit (b, kb, mb, gb, tb), e.g. 30gb")
        return v

    @model_validator(mode="after")
    def _one_condition(self) -> OpenSearchIsmSpec:
        if self.rollover_min_age is None and self.rollover_min_size is None and self.rollover_min_doc_count is None:
            raise ValueError("ism: set at least one of rollover_min_age, rollover_min_size, rollover_min_doc_count")
        return self


class OpenSearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_template: str = Field(
        default="{database}_{collection}",
        description="Index name per entity; {database}, {collection}, {entity}; lower-cased.",
    )
    entities: list[str] | Literal["all"] = "all"
    max_bulk_records: int = Field(default=1000, ge=1)
    max_bulk_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    template_name: str = Field(default="streamproc", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    template_priority: int = Field(default=100, ge=0)
    date_fields: list[str] = Field(
        default_factory=lambda: ["*_at", "*At"],
        description="Field-name patterns mapped as dates (strings and epoch-millisecond numbers).",
    )
    keyword_ignore_above: int = Field(default=1024, ge=1, description="Longer strings are not indexed as keyword.")
    number_of_shards: int | None = Field(default=None, ge=1)
    number_of_replicas: int | None = Field(default=None, ge=0)
    metadata_field_prefix: str = Field(
        default="src",
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="Top-level metadata-named fields (_id, …) are renamed with this prefix (_id → src_id).",
    )
    backpressure_seconds: float = Field(default=1.0, gt=0, description="Pause after an HTTP 429.")
    ism: OpenSearchIsmSpec = Field(default_factory=OpenSearchIsmSpec)

    @field_validator("index_template")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_index_template(v)

    @model_validator(mode="after")
    def _ism_entities_written(self) -> OpenSearchSpec:
        if self.entities != "all":
            missing = [e for e in self.ism.entities if e not in self.entities]
            if missing:
                raise ValueError(f"ism.entities lists {', '.join(missing)}, which 'entities' does not write")
        return self

    def wants(self, entity: str) -> bool:
        return self.entities == "all" or entity in self.entities
