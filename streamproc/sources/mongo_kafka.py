"""MongoDB Kafka source connector (mongo-kafka) output: raw change stream event documents.

* The value may be an object, a JSON *string* of the event (StringConverter, or JsonConverter
  with a ``{"type": "string"}`` schema), or an ``output.format.value=schema`` struct whose
  ``fullDocument``/``documentKey``/``updatedFields``/``clusterTime`` are JSON strings.
  All ``output.json.formatter`` renderings decode (DefaultJson, ExtendedJson, SimplifiedJson —
  the last is already plain JSON: its dates stay the ISO strings it wrote).
* ``insert`` → insert (``copyingData`` resume token of ``startup.mode=copy_existing`` →
  snapshot), ``update`` → update (``update`` from ``updateDescription``; ``after`` =
  ``fullDocument`` when updateLookup was on; ``truncatedArrays`` are not represented, as in
  debezium-mongodb), ``replace`` → replace, ``delete`` → delete (``before`` =
  ``fullDocumentBeforeChange`` when pre-images are on). Every other ``operationType`` (drop,
  rename, dropDatabase, invalidate, DDL events) → skip ``control``.
* No ``operationType`` (``publish.full.document.only=true``): only recognisable with the
  format fixed → op upsert, ``after`` = the document, key ``{"_id": …}``, namespace from the
  topic, no position/time (``(offset,)`` if known).
* Key ``{"_id": documentKey._id}`` (shard-key fields dropped so that keys match across
  formats), else ``fullDocument._id``, else a Kafka key ``{"_id": x}`` that is not a resume
  token; else ``{}``.
* Position ``(clusterTime.t, clusterTime.i)``; copy-existing events without clusterTime →
  ``(0, 0)`` (before every change-stream event). A clusterTime that is not a BSON timestamp
  (e.g. the manual's ``"<Timestamp>"`` placeholder) → :class:`DecodeError`. Every event of one
  transaction carries the commit's clusterTime, so equal positions mean "the same commit" (a
  distinct commit has a distinct clusterTime in a replica set); the order inside it is not in
  the event (the resume token is opaque), so the pipeline tells such events apart by content
  and applies them in partition order, which is the change stream's order.
* ``ts_ms`` = ``wallTime`` (MongoDB 6.0+), else ``clusterTime.t * 1000``.
"""

from __future__ import annotations

from typing import Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip, Update
from streamproc.sources.common import (
    Message,
    as_int,
    epoch_us_from_iso,
    fallback_position,
    json_error_where,
    parse_json,
    require_object,
    topic_namespace,
)
from streamproc.sources.debezium_mongo import document
from streamproc.sources.jsontext import MAX_DEPTH

__all__ = ["FORMAT", "decode", "cluster_time", "wall_time_ms"]

FORMAT = "mongo-kafka"
_DATA_OPS = {"insert": Op.INSERT, "update": Op.UPDATE, "replace": Op.REPLACE, "delete": Op.DELETE}


def _parsed(value: Any, field: str, max_depth: int = MAX_DEPTH) -> Any:
    if type(value) is str:
        try:
            return parse_json(value, max_depth)
        except ValueError as exc:
            raise DecodeError(f"{FORMAT}: '{field}' string is not JSON ({json_error_where(exc)})") from None
    return value


def cluster_time(raw: Any) -> tuple[int, int] | None:
    """``{"$timestamp": {"t", "i"}}``, ``{"t", "i"}`` or a 64-bit int → ``(t, i)``."""
    if raw is None:
        return None
    value = raw
    if type(value) is str:
        try:
            value = parse_json(value)
        except ValueError:
            value = None
    if type(value) is dict:
        inner = value.get("$timestamp", value)
        if type(inner) is dict:
            t, i = as_int(inner.get("t")), as_int(inner.get("i"))
            if t is not None and i is not None:
                return t, i
    elif type(value) is int:
        return value >> 32, value & 0xFFFFFFFF
    raise DecodeError(f"{FORMAT}: 'clusterTime' is not a BSON timestamp")


def wall_time_ms(raw: Any) -> int | None:
    """``wallTime`` in any formatter rendering → epoch ms (``None`` when unreadable)."""
    value = raw.get("$date") if type(raw) is dict else raw
    if type(value) is dict:
        value = as_int(value.get("$numberLong"))
    if type(value) is int:
        return value
    us = epoch_us_from_iso(value)
    return None if us is None else us // 1000


def _full_document(msg: Message, value: dict[str, Any]) -> ChangeEvent:
    after = document(FORMAT, value, "value", msg.max_depth)
    assert after is not None
    return ChangeEvent(
        format=FORMAT,
        op=Op.UPSERT,
        namespace=topic_namespace(msg.topic),
        key={"_id": after["_id"]} if "_id" in after else {},
        after=after,
        position=fallback_position(msg.offset),
    )


def _key(msg: Message, document_key: dict[str, Any] | None, full: dict[str, Any] | None) -> dict[str, Any]:
    for doc in (document_key, full):
        if doc is not None and "_id" in doc:
            return {"_id": doc["_id"]}
    key = msg.key
    if type(key) is dict and "_id" in key:
        kid = key["_id"]
        if not (type(kid) is dict and "_data" in kid):
            plain = document(FORMAT, {"_id": kid}, "key")
            assert plain is not None
            return plain
    return {}


def decode(msg: Message) -> ChangeEvent | Skip:
    depth = msg.max_depth
    event = require_object(FORMAT, _parsed(msg.value, "value", depth))
    kind = event.get("operationType")
    if kind is None:
        return _full_document(msg, event)
    op = _DATA_OPS.get(kind) if type(kind) is str else None
    if op is None:
        return Skip(FORMAT, "control")

    full = document(FORMAT, _parsed(event.get("fullDocument"), "fullDocument", depth), "fullDocument", depth)
    before = document(
        FORMAT,
        _parsed(event.get("fullDocumentBeforeChange"), "fullDocumentBeforeChange", depth),
        "fullDocumentBeforeChange",
        depth,
    )
    document_key = document(FORMAT, _parsed(event.get("documentKey"), "documentKey", depth), "documentKey", depth)
    resume = _parsed(event.get("_id"), "_id", depth)
    copying = type(resume) is dict and resume.get("copyingData") is True

    update: Update | None = None
    after = full
    if op is Op.INSERT:
        if full is None:
            raise DecodeError(f"{FORMAT}: insert without 'fullDocument'")
        if copying:
            op = Op.SNAPSHOT
    elif op is Op.REPLACE:
        if full is None:
            raise DecodeError(f"{FORMAT}: replace without 'fullDocument'")
    elif op is Op.UPDATE:
        ud = _parsed(event.get("updateDescription"), "updateDescription", depth)
        if type(ud) is not dict:
            raise DecodeError(f"{FORMAT}: update without 'updateDescription'")
        fields = document(FORMAT, _parsed(ud.get("updatedFields"), "updatedFields", depth), "updatedFields", depth)
        removed = ud.get("removedFields")
        if removed is None:
            removed = []
        if not isinstance(removed, list) or not all(type(p) is str for p in removed):
            raise DecodeError(f"{FORMAT}: 'updateDescription.removedFields' is not a list of paths")
        update = Update(fields or {}, tuple(removed))
    else:
        after = None

    ns = event.get("ns")
    db = ns.get("db") if type(ns) is dict else None
    coll = ns.get("coll") if type(ns) is dict else None
    if db and coll and type(db) is str and type(coll) is str:
        namespace = f"{db}.{coll}"
    else:
        namespace = topic_namespace(msg.topic)

    ct = cluster_time(event.get("clusterTime"))
    if ct is not None:
        position: tuple[int, ...] = ct
    elif copying:
        position = (0, 0)
    else:
        position = fallback_position(msg.offset)
    ts_ms = wall_time_ms(event.get("wallTime"))
    if ts_ms is None and ct is not None:
        ts_ms = ct[0] * 1000
    return ChangeEvent(
        format=FORMAT,
        op=op,
        namespace=namespace,
        key=_key(msg, document_key, full),
        before=before,
        after=after,
        update=update,
        position=position,
        ts_ms=ts_ms,
    )
