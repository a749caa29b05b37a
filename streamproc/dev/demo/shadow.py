"""The demo's shadow run: the Atlas triggers played beside streamproc, then parity per collection.

:func:`trigger_objects` replays the generated changes as the trigger functions saw them — in
MongoDB's order (by cluster time; the transport's duplicates, reorderings, tombstones and
malformed records never reached a trigger), including the changes the shipped rules warn about —
and yields what each trigger wrote: ``JSON.stringify(fullDocument || documentKey)`` of the
unredacted document at ``prod/<collection>/<documentId>-<sourceMillis>``. A partial update's
``fullDocument`` is the document after the update (the triggers' ``fullDocument: updateLookup``).
The triggers' JSON.stringify spelling of BSON values: an ObjectId as its hex string, a Date as its
ISO string (``toJSON``), Decimal128 as ``{"$numberDecimal": "…"}`` and Int64 as
``{"$numberLong": "…"}`` (the BSON types' ``toJSON``): the numeric-representation class.

streamproc writes the same collections under ``dev/`` (:func:`shadow_config`); :func:`parity_table`
compares them per collection through the pipeline and returns the report lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from streamproc.sinks.s3.js_json import js_json
from streamproc.sinks.s3.layout import base_key
from streamproc.sinks.s3.parity import S3Url, list_tree
from streamproc.sinks.s3.parity_compare import ParityReport, compare
from streamproc.sources.common import iso_from_epoch

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec
    from streamproc.config.settings import Settings
    from streamproc.dev.demo.generator import Record

__all__ = ["SHADOW_ENV", "TRIGGER_ENV", "shadow_config", "trigger_objects", "put_objects", "parity_table"]

TRIGGER_ENV = "prod/"
SHADOW_ENV = "dev/"
_TRANSPORT_FAULTS = ("duplicate", "malformed", "tombstone")


def shadow_config(shipped: Path, out: Path) -> Path:
    """The pipelines file ``shipped`` with the trigger-compatible sink writing ``dev/``."""
    cfg = yaml.safe_load(shipped.read_text())
    cfg["sinks"]["s3_trigger"]["env"] = SHADOW_ENV
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def _stringify(value: Any) -> Any:
    """An Extended JSON value as JSON.stringify printed the BSON value in a trigger function."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((k, inner),) = value.items()
            if k == "$oid":
                return inner
            if k == "$date" and isinstance(inner, int):
                return iso_from_epoch(inner, 1000, 3)
            if k in ("$numberDecimal", "$numberLong"):
                return value
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return value


def _changes(records: Sequence[Record]) -> list[tuple[str, dict[str, Any]]]:
    """(document id, Debezium change value) of every change a trigger would have seen, in
    MongoDB's (cluster time) order."""
    out = []
    for r in records:
        if r.kind in _TRANSPORT_FAULTS or r.value is None or r.key is None:
            continue
        doc_id = json.loads(json.loads(r.key)["id"])["$oid"]
        out.append((doc_id, json.loads(r.value)))
    out.sort(key=lambda c: (c[1]["source"]["ts_ms"], c[1]["source"]["ord"]))
    return out


def trigger_objects(records: Sequence[Record], collections: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """(object key, body) of every trigger write for the collections in ``collections``
    (collection name → the key's collection segment), later writes of one key last."""
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for doc_id, value in _changes(records):
        src = value["source"]
        coll = src["collection"]
        if coll not in collections:
            continue
        after = json.loads(value["after"]) if value.get("after") else None
        upd = value.get("updateDescription") or {}
        key = (coll, doc_id)
        if value["op"] == "d":
            docs.pop(key, None)
            body: dict[str, Any] = {"_id": doc_id}
        else:
            doc = after if after is not None else dict(docs.get(key, {"_id": {"$oid": doc_id}}))
            if after is None and upd.get("updatedFields"):
                doc.update(json.loads(upd["updatedFields"]))
            for name in upd.get("removedFields") or ():
                doc.pop(name, None)
            docs[key] = doc
            body = _stringify(doc)
        yield base_key(TRIGGER_ENV, collections[coll], key[1], src["ts_ms"]), js_json(body)


def put_objects(s3: Any, bucket: str, objects: Sequence[tuple[str, bytes]], workers: int = 8) -> int:
    """Write the objects in order per key (the last write of a key wins, as on S3)."""
    last: dict[str, bytes] = {}
    for key, body in objects:
        last[key] = body
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), last.items()))
    return len(last)


def parity_table(
    s3: Any, settings: Settings, spec: PipelinesSpec, bucket: str, explain: int = 3
) -> tuple[list[str], list[ParityReport]]:
    """``streamproc parity --config --numeric-equal`` per trigger collection: the table lines and the reports."""
    from streamproc.runtime.parity_pipeline import parity_pipeline
    from streamproc.runtime.processor import build_processor

    trig = spec.sinks.s3_trigger
    assert trig is not None
    short = {
        "identical": "ident",
        "equal-after-pipeline": "eq-pipe",
        "numeric-representation": "numeric",
        "fields-differ": "fields",
        "missing-left": "miss-L",
        "missing-right": "miss-R",
        "dlq-by-rule": "dlq-rule",
    }
    lines = [f"  {'collection':<34}" + "".join(f"{h:>9}" for h in short.values()) + f"{'strict':>9}{'match':>9}"]
    reports = []
    processor = build_processor(settings, spec, offline=True)
    for entity in trig.entities:
        coll = trig.collection(entity)
        left = list_tree(s3, S3Url(bucket, f"{TRIGGER_ENV}{coll}/"))
        right = list_tree(s3, S3Url(bucket, f"{SHADOW_ENV}{coll}/"))
        pipeline = parity_pipeline(settings, spec, entity, processor)
        r = compare(s3, left, right, 99.9, pipeline=pipeline, entity=entity, explain=explain, numeric_equal=True)
        reports.append(r)
        strict = (r.classes["identical"] + r.classes["equal-after-pipeline"]) / r.pairs * 100 if r.pairs else 0.0
        lines.append(
            f"  {coll:<34}" + "".join(f"{r.classes[c]:>9}" for c in short) + f"{strict:>8.2f}%{r.match_rate:>8.2f}%"
        )
        for cls in ("fields-differ", "missing-left", "missing-right", "dlq-by-rule"):
            for ex in r.examples.get(cls, []):
                why = ", ".join(ex.get("paths", [])) or ex.get("rule", "")
                lines.append(f"      {cls}: {ex['key']}" + (f" ({why})" if why else ""))
    return lines, reports
