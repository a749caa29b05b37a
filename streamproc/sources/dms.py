"""AWS DMS JSON records (Kafka and Kinesis targets): ``{"data": row, "metadata": {…}}``.

* ``record-type: control`` (create-table, drop-table, …), a ``control`` member, or no ``data``
  → skip ``control``.
* ``operation``: ``load`` (full load) → snapshot, ``insert``, ``update`` (``data`` = row after
  the change), ``delete`` (``data`` = the deleted row → ``before``). No metadata at all (an
  object-mapping fragment) → upsert.
* Before image: the ``BeforeImageSettings`` attribute ``before-image`` (top level), or
  ``BI_``-prefixed columns of the ``add-before-image-columns`` transformation (moved out of
  ``after`` into ``before`` without the prefix).
* Columns are kept exactly as sent: an absent column (``IncludeNullAndEmpty=false``) stays
  absent, it is not turned into ``null``.
* Key: the topic's configured ``key_fields`` read from the row; else the Kafka key when it is a
  JSON object; else the fields named ``id`` in any letter case; else ``{}``.
* Namespace ``schema-name.table-name``.
* Position: ``(commit-timestamp µs,)`` (``IncludeTransactionDetails``), else
  ``(timestamp µs,)``; full-load rows ``(0,)``. ``transaction-id`` is *not* used: it is the
  source's transaction id (a PostgreSQL xid is assigned at a transaction's first write, a MySQL
  one at its start), so a transaction that began earlier can commit later with a smaller id,
  and ordering by it would drop that later commit as stale. The commit timestamp is in commit
  order; DMS writes the changes of a task in commit order, so a later commit never has a
  smaller timestamp. Its resolution is the source's (MySQL: whole seconds): two commits of one
  key within it, like the changes of one transaction, get *equal* positions, which the pipeline
  tells apart by content and applies in partition order (commit order). Without transaction
  details ``timestamp`` (when DMS built the message, also in commit order) stands in. A load
  row is a snapshot that precedes every change of its key: ``(0,)`` sorts below them all, and
  equal load rows are again told apart by content. ``ts_ms`` = commit-timestamp, else metadata
  ``timestamp``.
"""

from __future__ import annotations

from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip
from streamproc.sources.common import (
    Message,
    epoch_us_from_iso,
    fallback_position,
    key_from_fields,
    require_object,
    topic_namespace,
)

__all__ = ["FORMAT", "decode"]

FORMAT = "dms"
_OPS = {"load": Op.SNAPSHOT, "insert": Op.INSERT, "update": Op.UPDATE, "delete": Op.DELETE}
_BEFORE_IMAGE = "before-image"


def _split_before_image(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    for k in row:
        if k[:3] == "BI_":
            break
    else:
        return row, None
    after = {k: v for k, v in row.items() if k[:3] != "BI_"}
    before = {k[3:]: v for k, v in row.items() if k[:3] == "BI_"}
    return after, before


def _key(msg: Message, *rows: dict[str, Any] | None) -> dict[str, Any]:
    if msg.key_fields:
        return key_from_fields(msg.key_fields, *rows)
    if type(msg.key) is dict:
        return msg.key
    for row in rows:
        if row:
            ids = {k: v for k, v in row.items() if k.lower() == "id"}
            if ids:
                return ids
    return {}


def decode(msg: Message) -> ChangeEvent | Skip:
    v = require_object(FORMAT, msg.value)
    md = v.get("metadata")
    if md is None:
        md = {}
    elif type(md) is not dict:
        raise DecodeError(f"{FORMAT}: 'metadata' is not an object")
    record_type = md.get("record-type")
    data = v.get("data")
    if record_type == "control" or "control" in v or data is None:
        return Skip(FORMAT, "control")
    if record_type not in (None, "data"):
        return Skip(FORMAT, "control")
    if type(data) is not dict:
        raise DecodeError(f"{FORMAT}: 'data' is not an object")

    operation = md.get("operation")
    op: Op | None
    if operation is None:
        op = Op.UPSERT
    else:
        op = _OPS.get(operation) if type(operation) is str else None
        if op is None:
            raise DecodeError(f"{FORMAT}: unsupported operation in a data record")

    row, before = _split_before_image(data)
    image = v.get(_BEFORE_IMAGE)
    if type(image) is dict:
        before = image
    after: dict[str, Any] | None = row
    if op is Op.DELETE:
        before, after = (before or row), None

    schema, table = md.get("schema-name"), md.get("table-name")
    if table and type(table) is str:
        namespace = f"{schema}.{table}" if schema and type(schema) is str else table
    else:
        namespace = topic_namespace(msg.topic)

    commit_us = epoch_us_from_iso(md.get("commit-timestamp"))
    built_us = epoch_us_from_iso(md.get("timestamp"))
    when_us = commit_us if commit_us is not None else built_us
    position: tuple[int, ...]
    if op is Op.SNAPSHOT:
        position = (0,)
    elif when_us is not None and when_us > 0:
        position = (when_us,)
    else:
        position = fallback_position(msg.offset)

    return ChangeEvent(
        format=FORMAT,
        op=op,
        namespace=namespace,
        key=_key(msg, after, before),
        before=before,
        after=after,
        position=position,
        ts_ms=None if when_us is None else when_us // 1000,
    )
