"""Per-message format auto-detection by cheap key-membership checks.

Order (first match wins), on the value after Connect-envelope unwrapping:

1. ``op`` plus one of ``source``/``after``/``before``/``patch``/``filter`` → Debezium;
   ``source.connector == "mongodb"``, string ``after``/``before``/``patch``/``filter`` or an
   ``updateDescription`` → ``debezium-mongodb``, otherwise ``debezium-sql``.
2. ``operationType`` → ``mongo-kafka``.
3. ``metadata`` with ``record-type``/``operation``, or ``control`` → ``dms``.
4. Debezium control messages → :class:`Skip`: transaction BEGIN/END (``status`` + ``id`` +
   ``data_collections``/``event_count``), heartbeats (topic ``__debezium-heartbeat…``, value
   holding only ``ts_ms``, or key with ``serverName``).
5. Flattening-SMT markers (``__deleted``, ``__op``, ``__source_ts_ms``, ``__lsn``,
   ``__collection``, ``__table``, …) → ``debezium-mongodb-flat`` when the marker says MongoDB
   (boolean ``__deleted``, ``__collection``, ``__rs``, ``__ord`` or an ``_id`` field),
   otherwise ``debezium-sql-flat``.
6. Anything else is a plain document: :class:`DecodeError` asking to fix the topic's format.

The format attached to a skipped control message is a best guess (the message itself does not
say): transaction ids containing ``:`` (``txId:LSN``, GTIDs) → ``debezium-sql``, others →
``debezium-mongodb``; heartbeats → ``debezium-sql``. Tombstones: see
:func:`guess_tombstone_format`.
"""

from __future__ import annotations

from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import Op, Skip
from streamproc.sources.common import Message, kind_of, require_object

__all__ = ["detect", "debezium_control", "guess_tombstone_format"]

_HEARTBEAT_TOPIC = "__debezium-heartbeat"
_FLAT_MARKERS = (
    "__deleted",
    "__op",
    "__source_ts_ms",
    "__ts_ms",
    "__lsn",
    "__source_lsn",
    "__collection",
    "__source_collection",
    "__table",
    "__source_table",
    "__db",
    "__source_db",
    "__schema",
    "__rs",
    "__ord",
    "__source_ord",
)
_MONGO_FLAT_MARKERS = ("__collection", "__source_collection", "__rs", "__ord", "__source_ord")
_SQL_FLAT_MARKERS = ("__table", "__source_table", "__lsn", "__source_lsn", "__schema")


def debezium_control(msg: Message) -> str | None:
    """Skip reason for a Debezium transaction marker or heartbeat, else ``None``."""
    v = msg.value
    if "op" in v:
        return None
    if "status" in v and "id" in v and ("data_collections" in v or "event_count" in v):
        return "transaction"
    if msg.topic.startswith(_HEARTBEAT_TOPIC):
        return "heartbeat"
    if len(v) == 1 and "ts_ms" in v:
        return "heartbeat"
    key = msg.key
    if type(key) is dict and "serverName" in key:
        return "heartbeat"
    return None


def guess_tombstone_format(key: Any, key_schema: dict[str, Any] | None) -> str:
    """MongoDB-style key ``{"id": "<Extended JSON>"}`` → debezium-mongodb; ``{"_id": …}`` →
    mongo-kafka; anything else → debezium-sql. A key schema, when present, decides whether
    ``id`` is a string field (MongoDB) or not (e.g. an INT32 primary key)."""
    if type(key) is dict:
        if len(key) == 1 and type(key.get("id")) is str:
            if key_schema is None:
                return "debezium-mongodb"
            fields = key_schema.get("fields")
            if (
                isinstance(fields, list)
                and len(fields) == 1
                and type(fields[0]) is dict
                and fields[0].get("field") == "id"
                and fields[0].get("type") == "string"
            ):
                return "debezium-mongodb"
            return "debezium-sql"
        if "_id" in key:
            return "mongo-kafka"
    return "debezium-sql"


def _debezium_kind(v: dict[str, Any]) -> str:
    source = v.get("source")
    if type(source) is dict:
        connector = source.get("connector")
        if connector is not None:
            return "debezium-mongodb" if connector == "mongodb" else "debezium-sql"
    if "updateDescription" in v:
        return "debezium-mongodb"
    for field in ("after", "before", "patch", "filter"):
        if type(v.get(field)) is str:
            return "debezium-mongodb"
    return "debezium-sql"


def _flat_kind(v: dict[str, Any]) -> str:
    deleted = v.get("__deleted")
    if type(deleted) is bool:
        return "debezium-mongodb-flat"
    if type(deleted) is str:
        return "debezium-sql-flat"
    for marker in _MONGO_FLAT_MARKERS:
        if marker in v:
            return "debezium-mongodb-flat"
    for marker in _SQL_FLAT_MARKERS:
        if marker in v:
            return "debezium-sql-flat"
    return "debezium-mongodb-flat" if "_id" in v else "debezium-sql-flat"


def detect(msg: Message) -> str | Skip:
    """The format of ``msg`` (a name from ``FORMATS``) or a :class:`Skip` for control records."""
    v = msg.value
    if type(v) is not dict:
        raise DecodeError(
            f"format not recognised: value is a JSON {kind_of(v)}, not an object; "
            f"set the format for topic {msg.topic!r}"
        )
    if "op" in v and ("source" in v or "after" in v or "before" in v or "patch" in v or "filter" in v):
        return _debezium_kind(v)
    if "operationType" in v:
        return "mongo-kafka"
    md = v.get("metadata")
    if (type(md) is dict and ("record-type" in md or "operation" in md)) or (
        "control" in v and ("metadata" in v or len(v) == 1)
    ):
        return "dms"
    reason = debezium_control(msg)
    if reason is not None:
        if reason == "transaction":
            fmt = "debezium-sql" if ":" in str(v.get("id")) else "debezium-mongodb"
        else:
            fmt = "debezium-sql"
        return Skip(fmt, reason)
    for marker in _FLAT_MARKERS:
        if marker in v:
            return _flat_kind(v)
    raise DecodeError(
        f"format not recognised: a plain document without an envelope; set the format for topic {msg.topic!r}"
    )


DEBEZIUM_OPS = {"c": Op.INSERT, "u": Op.UPDATE, "d": Op.DELETE, "r": Op.SNAPSHOT, "t": Op.TRUNCATE}


def debezium_envelope(fmt: str, msg: Message) -> tuple[dict[str, Any], Op, dict[str, Any]] | Skip:
    """``(value, op, source)`` of a Debezium envelope, or the Skip of a non-data message."""
    v = require_object(fmt, msg.value)
    reason = debezium_control(msg)
    if reason is not None:
        return Skip(fmt, reason)
    code = v.get("op")
    if code == "m":
        return Skip(fmt, "message")
    op = DEBEZIUM_OPS.get(code) if type(code) is str else None
    if op is None:
        raise DecodeError(f"{fmt}: value has no 'op' field" if code is None else f"{fmt}: unsupported op")
    source = v.get("source")
    return v, op, source if type(source) is dict else {}
