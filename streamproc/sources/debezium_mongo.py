"""Debezium MongoDB connector change events (change-stream and legacy oplog capture modes).

* ``after``/``before``/``updateDescription.updatedFields``/``patch``/``filter`` are JSON
  *strings* of Extended JSON (any ``json.serialization.mode``) and are decoded to plain JSON.
* Key: the Kafka key ``{"id": "<relaxed Extended JSON>"}`` → ``{"_id": <plain>}``
  (``"1004"`` → 1004, ``"\\"abc\\""`` → "abc", ObjectId → hex, binary → base64); without a
  key, ``_id`` of ``after``/``before``/``filter``; else ``{}``.
* ``u`` with ``updateDescription`` → op update, ``update.set`` = updatedFields,
  ``update.unset`` = removedFields (``after``/``before`` kept when the capture mode provides
  them). ``truncatedArrays`` are NOT represented in ``update`` (the remaining elements are not
  known); the event stays an update and consumers that need exact arrays must use ``after``.
* Legacy oplog ``patch``: ``$set``/``$unset`` → ``update``; a patch without ``$`` operators is
  a full replacement → op replace with ``after``; other operators (``$inc``, ``$v:2`` diffs)
  cannot be applied without the stored document → :class:`DecodeError` (naming a known update
  operator, never a key of the input).
* ``d`` → op delete with the pre-image ``before`` when present, else ``None``.
* ``position`` = ``(source.ts_ms, source.ord, transaction.total_order or 0)`` — always three
  integers; ``(ts_ms, ord)`` is the BSON cluster time of the commit, and every event of one
  transaction shares it, so ``total_order`` (present with ``provide.transaction.metadata=true``,
  as the shipped connector config sets it) orders them in commit order. Per key that suffices:
  ``data_collection_order`` orders the same events within one collection, which ``total_order``
  already does. Without transaction metadata the events of one transaction get *equal*
  positions (the pipeline then tells them apart by content). Without ``source.ts_ms``:
  ``(offset,)`` when an offset is known, else ``()``.
"""

from __future__ import annotations

from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip, Update
from streamproc.sources import extjson
from streamproc.sources.common import Message, as_int, fallback_position, topic_namespace
from streamproc.sources.detect import debezium_envelope
from streamproc.sources.jsontext import MAX_DEPTH, JSONLimitError, JSONTextError

__all__ = ["FORMAT", "decode", "document", "mongo_key"]

FORMAT = "debezium-mongodb"
#: MongoDB update operators a legacy oplog patch may hold (named in errors; others are not).
_OPERATORS = frozenset(
    ("$inc", "$mul", "$rename", "$setOnInsert", "$min", "$max", "$currentDate", "$addToSet", "$pop", "$pull")
    + ("$push", "$pullAll", "$bit", "$each", "$position", "$slice", "$sort")
)


def document(fmt: str, raw: Any, field: str, max_depth: int = MAX_DEPTH) -> dict[str, Any] | None:
    """An Extended JSON string (or already parsed object) → plain document, or ``None``."""
    if raw is None:
        return None
    try:
        if type(raw) is str:
            doc = extjson.loads(raw, max_depth)
        else:
            doc = extjson.to_plain(raw)
    except JSONLimitError as exc:
        raise DecodeError(f"{fmt}: '{field}' refused: {exc}") from None
    except ValueError as exc:
        why = str(exc) if isinstance(exc, (extjson.ExtJSONError, JSONTextError)) else type(exc).__name__
        raise DecodeError(f"{fmt}: '{field}' is not valid Extended JSON ({why})") from None
    if type(doc) is not dict:
        raise DecodeError(f"{fmt}: '{field}' is not a document")
    return doc


def mongo_key(fmt: str, key: Any, max_depth: int = MAX_DEPTH) -> dict[str, Any] | None:
    """The Debezium MongoDB Kafka key ``{"id": …}`` → ``{"_id": plain}`` (``None`` if absent)."""
    if type(key) is not dict or "id" not in key:
        return None
    raw = key["id"]
    try:
        value = extjson.loads(raw, max_depth) if type(raw) is str else extjson.to_plain(raw)
    except ValueError:
        raise DecodeError(f"{fmt}: key 'id' is not valid Extended JSON") from None
    return {"_id": value}


def _patch_update(patch: dict[str, Any]) -> Update:
    set_: dict[str, Any] = {}
    unset: list[str] = []
    for operator, arg in patch.items():
        if operator == "$set" and type(arg) is dict:
            set_.update(arg)
        elif operator == "$unset" and type(arg) is dict:
            unset.extend(arg)
        elif operator == "$v":
            continue
        else:
            name = operator if operator in _OPERATORS else ("diff ($v: 2)" if operator == "diff" else "(unknown)")
            raise DecodeError(f"{FORMAT}: oplog 'patch' operator {name} is not supported")
    return Update(set_, tuple(unset))


def decode(msg: Message) -> ChangeEvent | Skip:
    envelope = debezium_envelope(FORMAT, msg)
    if isinstance(envelope, Skip):
        return envelope
    v, op, source = envelope

    depth = msg.max_depth
    after = document(FORMAT, v.get("after"), "after", depth)
    before = document(FORMAT, v.get("before"), "before", depth)
    update: Update | None = None
    if op is Op.UPDATE:
        ud = v.get("updateDescription")
        patch = v.get("patch")
        if type(ud) is dict:
            fields = document(FORMAT, ud.get("updatedFields"), "updateDescription.updatedFields", depth)
            removed = ud.get("removedFields")
            if removed is None:
                removed = []
            if not isinstance(removed, list) or not all(type(p) is str for p in removed):
                raise DecodeError(f"{FORMAT}: 'updateDescription.removedFields' is not a list of paths")
            update = Update(fields or {}, tuple(removed))
        elif patch is not None:
            doc = document(FORMAT, patch, "patch", depth)
            assert doc is not None
            if any(k[:1] == "$" for k in doc):
                update = _patch_update(doc)
            else:
                op = Op.REPLACE
                after = doc if after is None else after
        elif after is None:
            raise DecodeError(f"{FORMAT}: update without 'after', 'updateDescription' or 'patch'")

    key = mongo_key(FORMAT, msg.key, depth)
    if key is None:
        for doc in (after, before, document(FORMAT, v.get("filter"), "filter", depth)):
            if doc is not None and "_id" in doc:
                key = {"_id": doc["_id"]}
                break
        else:
            key = {}

    db, coll = source.get("db"), source.get("collection")
    if db and coll and type(db) is str and type(coll) is str:
        namespace = f"{db}.{coll}"
    else:
        namespace = topic_namespace(msg.topic)

    ts_ms = as_int(source.get("ts_ms"))
    if ts_ms is not None:
        txn = v.get("transaction")
        total = as_int(txn.get("total_order")) if type(txn) is dict else None
        position: tuple[int, ...] = (ts_ms, as_int(source.get("ord")) or 0, total or 0)
    else:
        position = fallback_position(msg.offset)

    if op is Op.DELETE or op is Op.TRUNCATE:
        after = None
    return ChangeEvent(
        format=FORMAT,
        op=op,
        namespace=namespace,
        key=key,
        before=before,
        after=after,
        update=update,
        position=position,
        ts_ms=ts_ms,
    )
