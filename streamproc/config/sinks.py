"""The ``sinks:`` section of config/pipelines.yaml: which sink writes which entities, and how.

Each section is optional; an absent section disables that sink's role for every entity. The
models live beside each sink's pure planning code; this module only gathers them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from streamproc.sinks.opensearch.plan import OpenSearchSpec
from streamproc.sinks.s3.layout import S3ArchiveSpec, S3TriggerSpec
from streamproc.sinks.warehouse.plan import WarehouseSpec

__all__ = ["SinksSpec"]


class SinksSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3_trigger: S3TriggerSpec | None = None
    s3_archive: S3ArchiveSpec | None = None
    opensearch: OpenSearchSpec | None = None
    warehouse: WarehouseSpec | None = None
