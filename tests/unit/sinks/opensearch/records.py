"""The configuration and records shared by the OpenSearch sink tests."""

from __future__ import annotations

from streamproc.config.sink_opensearch import OpenSearchSpec
from streamproc.sinks.base import SinkRecord

#: The default ``sinks.opensearch`` section.
SPEC = OpenSearchSpec()


def rec(
    op: str = "insert", key=None, position=(5,), doc=None, entity="users", namespace="app.users", complete=True
) -> SinkRecord:
    if doc is None and op not in ("delete", "truncate") and complete:
        doc = {"_id": "a1", "name": "Ada"}
    return SinkRecord(
        "t",
        0,
        0,
        entity,
        op,
        f"{entity}.{op}",
        namespace,
        {"_id": "a1"} if key is None else key,
        tuple(position),
        None,
        doc,
        None,
        complete,
    )
