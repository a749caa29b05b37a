"""Debezium relational connector change events (PostgreSQL first; the envelope is shared).

* ``before``/``after`` rows are converted with the Connect schema when the message carries
  one (``schemas.enable=true``): decimals → strings, Debezium/Kafka time types → ISO strings
  (see :mod:`streamproc.sources.connect`). Without a schema values stay as on the wire.
* Key = the Kafka key payload (converted with the key schema if any); without a Kafka key the
  configured ``key_fields`` of the topic are read from ``after``/``before``; else ``{}``.
* Namespace = ``source.schema`` (``source.db`` for MySQL) + ``.`` + ``source.table``.
* ``c`` insert, ``u`` update, ``d`` delete (``before`` as the source gives it), ``r`` snapshot,
  ``t`` truncate (key ``{}``), ``m`` logical-decoding message → skip ``message``.

Unchanged TOASTed columns
-------------------------
With REPLICA IDENTITY DEFAULT, PostgreSQL does not log an unchanged large column, and Debezium
writes the placeholder ``__debezium_unavailable_value`` instead (``["…"]`` for array columns,
its base64 bytes for ``bytea``). The placeholder is never passed on as data: an update whose
``after`` holds one becomes a *partial* update — op update, ``after=None``,
``update={"set": <after minus placeholder columns>, "unset": []}`` — so the merge step applies
the known columns to the last stored row and keeps the stored value of the others.
Placeholder columns are also dropped from ``before`` (and from any other image). The keys of
``update.set`` are paths, split on ``.``, while a column name is one literal key: a partial
update that names a column containing ``.`` cannot be expressed and is a :class:`DecodeError`
(the DLQ) rather than a write to a different, nested field (``REPLICA IDENTITY FULL`` on the
table avoids partial updates altogether).

Position
--------
``(source.lsn,)``. Chosen over ``[commit LSN, lsn]`` from ``source.sequence`` because the
position only has to order events *of one key*: PostgreSQL row locks make the second writer
of a row log its change after the first writer committed, so per key the change LSN is
strictly increasing in commit order, and a redelivered event has the same LSN. ``sequence``
is absent from older connector versions and abbreviated events and its first element's
meaning changed across versions; a shape that depends on it could compare events of one key
written by two connector versions wrongly. Transaction metadata (``transaction.total_order``,
``provide.transaction.metadata=true``) adds nothing here: unlike MongoDB's shared cluster time,
every change of a PostgreSQL transaction has its own LSN. Without ``lsn`` (other connectors,
abbreviated events): ``(offset,)`` when known, else ``()``.
"""

from __future__ import annotations

import base64
from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip, Update
from streamproc.sources.common import (
    PLACEHOLDER,
    Message,
    as_int,
    fallback_position,
    key_from_fields,
    topic_namespace,
)
from streamproc.sources.connect import convert
from streamproc.sources.detect import debezium_envelope

__all__ = ["FORMAT", "decode", "drop_placeholders", "partial_update", "sql_key"]

FORMAT = "debezium-sql"
_PLACEHOLDER_LIST = [PLACEHOLDER]
_PLACEHOLDER_B64 = base64.b64encode(PLACEHOLDER.encode()).decode()


def drop_placeholders(row: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """``(row without placeholder columns, whether any was dropped)``; no copy when none."""
    if not row:
        return row, False
    values = row.values()
    if PLACEHOLDER in values or _PLACEHOLDER_LIST in values or _PLACEHOLDER_B64 in values:
        return {
            k: v for k, v in row.items() if v != PLACEHOLDER and v != _PLACEHOLDER_LIST and v != _PLACEHOLDER_B64
        }, True
    return row, False


def partial_update(fmt: str, row: dict[str, Any] | None) -> Update:
    """The known columns of a row with unchanged TOAST columns, as a partial update."""
    row = row or {}
    for column in row:
        if "." in column:
            raise DecodeError(
                f"{fmt}: a partial update (unchanged TOAST column) names a column containing '.', "
                "which update paths cannot express; set REPLICA IDENTITY FULL on the table"
            )
    return Update(row, ())


def sql_key(fmt: str, msg: Message, *rows: dict[str, Any] | None) -> dict[str, Any]:
    key = msg.key
    if type(key) is dict:
        if msg.key_schema is not None:
            try:
                key = convert(msg.key_schema, key)
            except DecodeError as exc:
                raise DecodeError(f"{fmt}: key: {exc}") from None
            except ValueError:
                raise DecodeError(f"{fmt}: key does not match its Connect schema") from None
        return key
    if msg.key_fields:
        return key_from_fields(msg.key_fields, *rows)
    return {}


def _row(fmt: str, value: Any, schema: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise DecodeError(f"{fmt}: '{field}' is not an object")
    if schema is not None:
        try:
            value = convert(schema, value)
        except DecodeError as exc:
            raise DecodeError(f"{fmt}: '{field}': {exc}") from None
        except ValueError:
            raise DecodeError(f"{fmt}: '{field}' does not match its Connect schema") from None
    return value


def _field_schemas(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    fields = schema.get("fields")
    if not isinstance(fields, list):
        return {}
    return {f["field"]: f for f in fields if type(f) is dict and type(f.get("field")) is str}


def decode(msg: Message) -> ChangeEvent | Skip:
    envelope = debezium_envelope(FORMAT, msg)
    if isinstance(envelope, Skip):
        return envelope
    v, op, source = envelope
    schemas = _field_schemas(msg.schema)
    before, _ = drop_placeholders(_row(FORMAT, v.get("before"), schemas.get("before"), "before"))
    after = _row(FORMAT, v.get("after"), schemas.get("after"), "after")
    update: Update | None = None
    if after is not None:
        after, partial = drop_placeholders(after)
        if partial and op is Op.UPDATE:
            update = partial_update(FORMAT, after)
            after = None

    if op is Op.TRUNCATE:
        key: dict[str, Any] = {}
        before = after = None
    else:
        key = sql_key(FORMAT, msg, after if update is None else update.set, before)
        if op is Op.DELETE:
            after = None

    table = source.get("table")
    schema_name = source.get("schema") or source.get("db")
    if table and schema_name and type(table) is str and type(schema_name) is str:
        namespace = f"{schema_name}.{table}"
    else:
        namespace = topic_namespace(msg.topic)

    lsn = as_int(source.get("lsn"))
    position = (lsn,) if lsn is not None else fallback_position(msg.offset)
    return ChangeEvent(
        format=FORMAT,
        op=op,
        namespace=namespace,
        key=key,
        before=before,
        after=after,
        update=update,
        position=position,
        ts_ms=as_int(source.get("ts_ms")),
    )
