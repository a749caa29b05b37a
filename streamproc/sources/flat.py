"""Records flattened by Debezium's SMTs: ExtractNewDocumentState (MongoDB) → format
``debezium-mongodb-flat``; ExtractNewRecordState (relational) → ``debezium-sql-flat``.

Every field whose name starts with ``__`` is SMT metadata (``add.fields``: ``__op``,
``__table``, ``__lsn``, ``__source_ts_ms``, …; ``__deleted``) and is removed from the row.

* Delete: ``__deleted`` true (a boolean from the MongoDB SMT, the string ``"true"`` from the
  relational one) or ``__op == "d"`` → op delete, ``before`` = the remaining fields (or
  ``None`` when there are none).
* ``__op``: ``c`` insert, ``r`` snapshot, ``u`` update (with ``after``), ``t`` truncate.
* MongoDB, partial documents: every MongoDB document has ``_id``, so a flattened record
  without ``_id`` (and not an insert/snapshot) can only be the changed-fields output of an
  update captured without full documents → op update, ``after=None``, ``update.set`` = the
  non-null fields, ``update.unset`` = fields that are null (``$unset``/removedFields).
* Without ``__op`` and not partial: op upsert with ``after`` (insert/update/replace cannot be
  told apart).
* Relational: the unchanged-TOAST placeholder is handled as in ``debezium-sql`` (partial update;
  a column name containing ``.`` in one is a :class:`DecodeError`).
* Namespace from ``__db``/``__collection`` resp. ``__schema``/``__table`` (also their
  ``__source_`` forms), missing parts taken from the topic, else the topic alone.
* Key: MongoDB — Kafka key ``{"id": …}`` → ``{"_id": …}``, else the record's ``_id``;
  relational — Kafka key payload, else the topic's ``key_fields``; else ``{}``.
* Position: relational ``(__lsn,)``, else ``(__source_ts_ms,)``; MongoDB
  ``(__source_ts_ms, __source_ord|__ord or 0)``; else ``(offset,)``/``()``.
  ``ts_ms`` = ``__source_ts_ms``, else ``__ts_ms``. The SMTs drop the transaction block, so
  changes of one MongoDB transaction, and changes committed in the same millisecond when only
  a timestamp is added, get *equal* positions: the pipeline tells those apart by content and
  applies them in partition order (never dropped as duplicates of one another).
"""

from __future__ import annotations

from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip, Update
from streamproc.sources.common import Message, as_int, fallback_position, require_object, topic_namespace
from streamproc.sources.connect import convert
from streamproc.sources.debezium_mongo import mongo_key
from streamproc.sources.debezium_sql import drop_placeholders, partial_update, sql_key
from streamproc.sources.detect import DEBEZIUM_OPS, debezium_control

__all__ = ["MONGO_FORMAT", "SQL_FORMAT", "decode_mongo", "decode_sql"]

MONGO_FORMAT = "debezium-mongodb-flat"
SQL_FORMAT = "debezium-sql-flat"
_OPS = DEBEZIUM_OPS  # __op carries the Debezium op codes


def _split(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    for k in row:
        if k[:2] == "__":
            break
    else:
        return row, {}
    data: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for k, v in row.items():
        if k[:2] == "__":
            meta[k] = v
        else:
            data[k] = v
    return data, meta


def _meta(meta: dict[str, Any], name: str) -> Any:
    value = meta.get("__" + name)
    return meta.get("__source_" + name) if value is None else value


def _deleted(meta: dict[str, Any]) -> bool:
    flag = meta.get("__deleted")
    if type(flag) is str:
        return flag.lower() == "true"
    return flag is True


def _namespace(topic: str, container: Any, name: Any) -> str:
    if name and type(name) is str:
        if container and type(container) is str:
            return f"{container}.{name}"
        derived = topic_namespace(topic).split(".")
        return f"{derived[0]}.{name}" if len(derived) >= 2 else name
    return topic_namespace(topic)


def _prepare(fmt: str, msg: Message) -> tuple[dict[str, Any], dict[str, Any], Op | None, int | None]:
    row = require_object(fmt, msg.value)
    if msg.schema is not None:
        try:
            row = convert(msg.schema, row)
        except DecodeError as exc:
            raise DecodeError(f"{fmt}: record: {exc}") from None
        except ValueError:
            raise DecodeError(f"{fmt}: record does not match its Connect schema") from None
    data, meta = _split(row)
    code = _meta(meta, "op")
    op = Op.DELETE if _deleted(meta) else (_OPS.get(code) if type(code) is str else None)
    ts = as_int(meta.get("__source_ts_ms"))
    if ts is None:
        ts = as_int(meta.get("__ts_ms"))
    return data, meta, op, ts


def decode_mongo(msg: Message) -> ChangeEvent | Skip:
    require_object(MONGO_FORMAT, msg.value)
    reason = debezium_control(msg)
    if reason is not None:
        return Skip(MONGO_FORMAT, reason)
    data, meta, op, ts_ms = _prepare(MONGO_FORMAT, msg)
    key = mongo_key(MONGO_FORMAT, msg.key, msg.max_depth)
    if key is None:
        key = {"_id": data["_id"]} if "_id" in data else {}
    before = after = None
    update: Update | None = None
    if op is Op.DELETE:
        before = data or None
    elif op is Op.INSERT or op is Op.SNAPSHOT or (op is Op.UPDATE and "_id" in data):
        after = data
    elif op is Op.TRUNCATE:
        key = {}
    elif "_id" in data:
        op, after = Op.UPSERT, data
    else:
        op = Op.UPDATE
        update = Update(
            {k: v for k, v in data.items() if v is not None},
            tuple(k for k, v in data.items() if v is None),
        )
    ord_ = as_int(_meta(meta, "ord"))
    position = (ts_ms, ord_ or 0) if ts_ms is not None else fallback_position(msg.offset)
    return ChangeEvent(
        format=MONGO_FORMAT,
        op=op,
        namespace=_namespace(msg.topic, _meta(meta, "db"), _meta(meta, "collection")),
        key=key,
        before=before,
        after=after,
        update=update,
        position=position,
        ts_ms=ts_ms,
    )


def decode_sql(msg: Message) -> ChangeEvent | Skip:
    require_object(SQL_FORMAT, msg.value)
    reason = debezium_control(msg)
    if reason is not None:
        return Skip(SQL_FORMAT, reason)
    data, meta, op, ts_ms = _prepare(SQL_FORMAT, msg)
    before = after = None
    update: Update | None = None
    if op is Op.DELETE:
        before, _ = drop_placeholders(data)
        before = before or None
    elif op is not Op.TRUNCATE:
        op = op or Op.UPSERT
        after, partial = drop_placeholders(data)
        if partial and (op is Op.UPDATE or op is Op.UPSERT):
            op, update, after = Op.UPDATE, partial_update(SQL_FORMAT, after), None
    if op is Op.TRUNCATE:
        key: dict[str, Any] = {}
    else:
        key = sql_key(SQL_FORMAT, msg, after or (update.set if update else None), before)
    lsn = as_int(_meta(meta, "lsn"))
    if lsn is not None:
        position: tuple[int, ...] = (lsn,)
    elif ts_ms is not None:
        position = (ts_ms,)
    else:
        position = fallback_position(msg.offset)
    return ChangeEvent(
        format=SQL_FORMAT,
        op=op,
        namespace=_namespace(msg.topic, _meta(meta, "schema"), _meta(meta, "table")),
        key=key,
        before=before,
        after=after,
        update=update,
        position=position,
        ts_ms=ts_ms,
    )
