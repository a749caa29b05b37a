"""Pure planning of the OpenSearch sink: configuration, index names, document ids, versions,
bulk actions. No I/O here (opensearch-py lives in ``opensearch.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OpenSearchSpec"]


class OpenSearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_template: str = Field(
        default="{database}_{collection}",
        description="Index name per entity; {database}, {collection}, {entity}; lower-cased.",
    )
    entities: list[str] | Literal["all"] = "all"
    max_bulk_records: int = Field(default=1000, ge=1)
    max_bulk_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
