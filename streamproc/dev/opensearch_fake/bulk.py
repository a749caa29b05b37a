"""The bulk API of the fake OpenSearch: NDJSON ``index``/``create``/``delete`` actions (no
``update``), with OpenSearch's internal and external (``external``, ``external_gte``) versioning.

A request-level problem (no final newline, a malformed action line, a missing external version)
fails the whole request with 400; a per-document problem (a version conflict: 409
``version_conflict_engine_exception``; a mapping error; an injected rejection) is an item error
in an HTTP 200 answer. Deleting a missing document answers 404 ``not_found``; a delete leaves a
tombstone that keeps its version (like ``index.gc_deletes``, forever).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from streamproc.dev.opensearch_fake.cluster import Cluster
from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.mapping import Mapper
from streamproc.dev.opensearch_fake.store import Doc, Index

__all__ = ["bulk", "write_item"]

_MAX_LONG = 2**63 - 1


def bulk(c: Cluster, raw: bytes, default_index: str | None, query: dict[str, str]) -> dict[str, Any]:
    """Answer a ``_bulk`` request body (``default_index``: the index of ``/<index>/_bulk``)."""
    started = time.perf_counter()
    if raw and not raw.endswith(b"\n"):
        raise FakeError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
    lines = [ln for ln in raw.split(b"\n") if ln.strip()]
    ops: list[tuple[str, dict[str, Any], Any]] = []
    i = 0
    while i < len(lines):
        try:
            action = json.loads(lines[i])
        except ValueError:
            raise FakeError(400, "illegal_argument_exception", f"Malformed action/metadata line [{i + 1}]") from None
        if not isinstance(action, dict) or len(action) != 1:
            raise FakeError(
                400,
                "illegal_argument_exception",
                f"Malformed action/metadata line [{i + 1}], expected a simple value for field [_index]",
            )
        ((op, meta),) = action.items()
        if op not in ("index", "create", "delete", "update"):
            raise FakeError(
                400,
                "illegal_argument_exception",
                f"Action/metadata line [{i + 1}] contains an unknown parameter [{op}]",
            )
        if op == "update":
            raise FakeError(400, "illegal_argument_exception", "the fake does not implement bulk update")
        vtype = meta.get("version_type", query.get("version_type", "internal"))
        version = meta.get("version")
        if vtype in ("external", "external_gte"):
            if version is None:
                raise FakeError(
                    400, "action_request_validation_exception", "Validation Failed: 1: an external version is required;"
                )
            if type(version) is not int or version < 0 or version > _MAX_LONG:
                raise FakeError(
                    400,
                    "action_request_validation_exception",
                    f"Validation Failed: 1: illegal version value [{version}] for version type [{vtype.upper()}];",
                )
        meta = {**meta, "version_type": vtype}
        if op == "delete":
            ops.append((op, meta, None))
            i += 1
        else:
            if i + 1 >= len(lines):
                raise FakeError(400, "illegal_argument_exception", "Validation Failed: 1: no requests added;")
            try:
                source = json.loads(lines[i + 1])
            except ValueError:
                source = None
            ops.append((op, meta, source))
            i += 2
    items = [{op: write_item(c, op, meta, source, default_index)} for op, meta, source in ops]
    errors = any("error" in next(iter(it.values())) for it in items)
    return {"took": int((time.perf_counter() - started) * 1000), "errors": errors, "items": items}


def _conflict(reason: str, index: Index) -> FakeError:
    return FakeError(
        409, "version_conflict_engine_exception", reason, index=index.name, shard="0", index_uuid=index.uuid
    )


def write_item(c: Cluster, op: str, meta: dict[str, Any], source: Any, default_index: str | None) -> dict[str, Any]:
    """Apply one bulk action; its item of the bulk answer (``error`` set when it failed)."""
    name = meta.get("_index") or default_index
    doc_id = meta.get("_id")
    vtype = meta.get("version_type", "internal")
    version: Any = meta.get("version")
    base = {"_index": name, "_id": doc_id}
    try:
        if name is None:
            raise FakeError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
        if op in ("index", "create") and doc_id is None:
            doc_id = base["_id"] = uuid.uuid4().hex[:20]
        if doc_id is None:
            raise FakeError(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
        if len(str(doc_id).encode()) > 512:
            raise FakeError(
                400,
                "action_request_validation_exception",
                f"Validation Failed: 1: id [{doc_id}] is too long, must be no longer than 512 bytes but was: "
                f"{len(str(doc_id).encode())};",
            )
        external = vtype in ("external", "external_gte")
        auto = op != "delete" or external
        index = c.write_index(name, auto_create=auto)
        base["_index"] = index.name
        for fault in c.item_faults:
            if fault[0] > 0:
                fault[0] -= 1
                raise FakeError(fault[1], fault[2], "rejected execution of primary operation (injected by the fake)")
        current = index.docs.get(doc_id)
        if external:
            if current is not None:
                ok = version > current.version if vtype == "external" else version >= current.version
                if not ok:
                    raise _conflict(
                        f"[{doc_id}]: version conflict, current version [{current.version}] is higher or "
                        f"equal to the one provided [{version}]",
                        index,
                    )
            new_version = version
        else:
            if version is not None and (current is None or current.source is None or current.version != version):
                raise _conflict(f"[{doc_id}]: version conflict, required version [{version}]", index)
            new_version = (current.version + 1) if current is not None else 1
        live = current is not None and current.source is not None
        if op == "create" and current is not None and current.source is not None:
            raise _conflict(
                f"[{doc_id}]: version conflict, document already exists (current version [{current.version}])",
                index,
            )
        if op == "delete":
            index.seq_no += 1
            index.docs[doc_id] = Doc(new_version, index.seq_no, None)
            status, result = (200, "deleted") if live else (404, "not_found")
        else:
            if not isinstance(source, dict):
                raise FakeError(
                    400,
                    "mapper_parsing_exception",
                    "failed to parse",
                    caused_by={
                        "type": "not_x_content_exception",
                        "reason": "Compressor detection can only be called on some xcontent bytes",
                    },
                )
            index.mappings = Mapper(index, str(doc_id)).apply(source)
            index.seq_no += 1
            index.docs[doc_id] = Doc(new_version, index.seq_no, source)
            status, result = (200, "updated") if live else (201, "created")
        return {
            **base,
            "_version": new_version,
            "result": result,
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": index.seq_no,
            "_primary_term": 1,
            "status": status,
        }
    except FakeError as exc:
        return {**base, "status": exc.status, "error": {**exc.item_error(), "index": base["_index"]}}
