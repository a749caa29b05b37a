"""The ``sinks:`` section of config/pipelines.yaml: which sink writes which entities, and how.

Each section is optional; an absent section disables that sink's role for every entity. The
models of each section live in ``sink_s3.py``, ``sink_opensearch.py`` and ``sink_warehouse.py``;
this module only gathers them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from streamproc.config.sink_eventbridge import EventBridgeSpec
from streamproc.config.sink_opensearch import OpenSearchSpec
from streamproc.config.sink_s3 import S3ArchiveSpec, S3TriggerSpec
from streamproc.config.sink_warehouse import WarehouseSpec

__all__ = ["SinksSpec"]


class SinksSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3_trigger: S3TriggerSpec | None = None
    s3_archive: S3ArchiveSpec | None = None
    opensearch: OpenSearchSpec | None = None
    warehouse: WarehouseSpec | None = None
    eventbridge: EventBridgeSpec | None = None
