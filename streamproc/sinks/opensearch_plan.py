"""Pure planning of the OpenSearch sink: configuration, index names, document ids, versions,
bulk action lines, bulk chunks, bulk item outcomes, the index template and the ISM policy.

No I/O here (opensearch-py lives in ``opensearch.py``); ``write()``, ``plan()`` (dry-run) and
``streamproc opensearch init`` all use these functions. The rules are documented in
docs/SINKS-OPENSEARCH.md; the short form:

* index: ``spec.index_template`` rendered with ``{database}``, ``{collection}`` (the namespace
  split at its first ``.``; no namespace → database ``""``, collection = the entity) and
  ``{entity}``, lower-cased, every character outside ``[a-z0-9_.+-]`` replaced by ``_``, leading
  ``_ - + .`` stripped, names over 255 bytes shortened with a hash suffix;
* id: one key field → its value (a string as is, an integer in decimal, anything else canonical
  JSON); several → the canonical JSON array of the values ordered by field name; over 512 bytes
  → ``sha256-<hex>`` of that text;
* version: :func:`version_of` (``version_type=external``), so OpenSearch itself refuses a stale
  or repeated write with 409, which counts as done.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamproc.jsonutil import dumps
from streamproc.sinks.base import SinkRecord

__all__ = [
    "OpenSearchIsmSpec",
    "OpenSearchSpec",
    "Unplannable",
    "MAX_ID_BYTES",
    "MAX_INDEX_BYTES",
    "MAX_VERSION",
    "METADATA_FIELDS",
    "version_of",
    "index_name",
    "rollover_index_names",
    "document_id",
    "source_document",
    "OsAction",
    "plan_record",
    "action_lines",
    "bulk_chunks",
    "Outcome",
    "item_outcome",
    "safe_reason",
    "index_template_body",
    "rollover_template_body",
    "bootstrap_index_body",
    "ism_policy_body",
    "entity_indices",
]

#: OpenSearch refuses ids longer than this many UTF-8 bytes.
MAX_ID_BYTES = 512
#: OpenSearch refuses index names longer than this many UTF-8 bytes.
MAX_INDEX_BYTES = 255
#: The largest external version OpenSearch accepts (a Java long).
MAX_VERSION = 2**63 - 1
#: Top-level fields OpenSearch refuses inside a document (its metadata fields).
METADATA_FIELDS = frozenset({
    "_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_type",
    "_field_names", "_ignored", "_nested_path", "_data_stream_timestamp", "_doc_count", "_tier",
})

_TEMPLATE_FIELDS = frozenset({"database", "collection", "entity"})
_NAME_CHAR = re.compile(r"[^a-z0-9_.+-]")
_LITERAL_OK = re.compile(r"^[A-Za-z0-9_.+-]*$")
_DURATION = re.compile(r"^[0-9]+(d|h|m|s|ms|micros|nanos)$")
_SIZE = re.compile(r"^[0-9]+(b|kb|mb|gb|tb|pb)$")


class Unplannable(ValueError):
    """A record the sink cannot turn into an action; ``reason`` names fields and limits, never values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------- configuration


def _check_index_template(template: str) -> str:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"index_template is not a valid format string ({exc})") from None
    fields = set()
    for literal, field, spec, conversion in parts:
        if not _LITERAL_OK.match(literal):
            raise ValueError(
                "index_template: literal text may use letters, digits, '_', '-', '+' and '.' only "
                "(OpenSearch index names forbid spaces and \\ / * ? \" < > | , # :)"
            )
        if field is None:
            continue
        if field not in _TEMPLATE_FIELDS:
            raise ValueError(f"index_template: unknown field {{{field}}}; use {{database}}, {{collection}}, {{entity}}")
        if spec or conversion:
            raise ValueError(f"index_template: {{{field}}} takes no format spec or conversion")
        fields.add(field)
    if not fields & {"collection", "entity"}:
        raise ValueError("index_template must contain {collection} or {entity} (one index per entity)")
    if template[:1] in ("_", "-", "+", "."):
        raise ValueError("index_template must not start with '_', '-', '+' or '.'")
    return template


class OpenSearchIsmSpec(BaseModel):
    """The ISM rollover/retention policy that ``streamproc opensearch init`` installs.

    It is attached (through its ``ism_template``) only to the indices of ``entities``: append-only
    entities written through a rollover alias named like their index (``<index>-000001``, …).
    Rolling over or deleting the index of a mutable entity would lose or duplicate documents, so
    the list is empty by default and the policy is then installed but attached to nothing.
    """

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(default="streamproc-rollover", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    rollover_min_age: str | None = Field(default="1d", description="Roll over after this age (e.g. 1d, 12h).")
    rollover_min_size: str | None = Field(default="30gb", description="…or this total size (e.g. 30gb).")
    rollover_min_doc_count: int | None = Field(default=None, ge=1, description="…or this many documents.")
    delete_after_days: int = Field(default=30, ge=1, description="Delete an index this many days after creation.")
    priority: int = Field(default=100, ge=0)
    entities: list[str] = Field(default_factory=list, description="Append-only entities written through a rollover alias.")

    @field_validator("rollover_min_age")
    @classmethod
    def _age(cls, v: str | None) -> str | None:
        if v is not None and not _DURATION.match(v):
            raise ValueError("rollover_min_age: expected a number and a unit (d, h, m, s, ms), e.g. 1d")
        return v

    @field_validator("rollover_min_size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is not None and not _SIZE.match(v):
            raise ValueError("rollover_min_size: expected a number and a unit (b, kb, mb, gb, tb), e.g. 30gb")
        return v

    @model_validator(mode="after")
    def _one_condition(self) -> "OpenSearchIsmSpec":
        if self.rollover_min_age is None and self.rollover_min_size is None and self.rollover_min_doc_count is None:
            raise ValueError("ism: set at least one of rollover_min_age, rollover_min_size, rollover_min_doc_count")
        return self


class OpenSearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_template: str = Field(
        default="{database}_{collection}",
        description="Index name per entity; {database}, {collection}, {entity}; lower-cased.",
    )
    entities: list[str] | Literal["all"] = "all"
    max_bulk_records: int = Field(default=1000, ge=1)
    max_bulk_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    template_name: str = Field(default="streamproc", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    template_priority: int = Field(default=100, ge=0)
    date_fields: list[str] = Field(
        default_factory=lambda: ["*_at", "*At"],
        description="Field-name patterns mapped as dates (strings and epoch-millisecond numbers).",
    )
    keyword_ignore_above: int = Field(default=1024, ge=1, description="Longer strings are not indexed as keyword.")
    number_of_shards: int | None = Field(default=None, ge=1)
    number_of_replicas: int | None = Field(default=None, ge=0)
    metadata_field_prefix: str = Field(
        default="src",
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="Top-level metadata-named fields (_id, …) are renamed with this prefix (_id → src_id).",
    )
    backpressure_seconds: float = Field(default=1.0, gt=0, description="Pause after an HTTP 429.")
    ism: OpenSearchIsmSpec = Field(default_factory=OpenSearchIsmSpec)

    @field_validator("index_template")
    @classmethod
    def _template(cls, v: str) -> str:
        return _check_index_template(v)

    @model_validator(mode="after")
    def _ism_entities_written(self) -> "OpenSearchSpec":
        if self.entities != "all":
            missing = [e for e in self.ism.entities if e not in self.entities]
            if missing:
                raise ValueError(f"ism.entities lists {', '.join(missing)}, which 'entities' does not write")
        return self

    def wants(self, entity: str) -> bool:
        return self.entities == "all" or entity in self.entities


# --------------------------------------------------------------------------------- names, ids


def _name_part(value: str) -> str:
    return _NAME_CHAR.sub("_", value.lower())


def _namespace_parts(namespace: str | None, entity: str) -> tuple[str, str]:
    if not namespace:
        return "", entity
    database, dot, collection = namespace.partition(".")
    return (database, collection) if dot else ("", namespace)


def index_name(spec: OpenSearchSpec, entity: str, namespace: str | None) -> str:
    """The index (or, for an ISM entity, the rollover alias) of an entity's records."""
    database, collection = _namespace_parts(namespace, entity)
    raw = spec.index_template.format(
        database=_name_part(database), collection=_name_part(collection), entity=_name_part(entity)
    )
    name = _name_part(raw).lstrip("_-+.")
    if not name:
        raise Unplannable(f"index_template renders an empty index name for entity {entity}")
    if len(name.encode()) > MAX_INDEX_BYTES:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[: MAX_INDEX_BYTES - 13]}-{digest}"
    return name


def rollover_index_names(alias: str) -> tuple[str, str]:
    """(index pattern, first index) behind a rollover alias."""
    return f"{alias}-*", f"{alias}-000001"


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def document_id(key: Mapping[str, Any]) -> str:
    """The document id of a key (see the module docstring); :class:`Unplannable` when there is none."""
    if not key:
        raise Unplannable("record has no key fields")
    if len(key) == 1:
        ((field, value),) = key.items()
        if value is None:
            raise Unplannable(f"key field {field} is null")
        if type(value) is str:
            text = value
        elif type(value) is int:
            text = str(value)
        else:
            text = _canonical(value)
    else:
        text = _canonical([key[f] for f in sorted(key)])
    if not text:
        raise Unplannable("key is an empty string")
    if len(text.encode()) > MAX_ID_BYTES:
        text = "sha256-" + hashlib.sha256(text.encode()).hexdigest()
    return text


def source_document(spec: OpenSearchSpec, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``_source`` to index: ``doc`` with top-level metadata-named fields renamed (``_id`` → ``src_id``)."""
    if not any(k in METADATA_FIELDS for k in doc):
        return dict(doc)
    prefix = spec.metadata_field_prefix
    return {(prefix + k if k in METADATA_FIELDS else k): v for k, v in doc.items()}


# --------------------------------------------------------------------------------- versions

_B52 = 1 << 52


def version_of(position: Sequence[int]) -> int:
    """The external version of a source position: ``1 <= v <= 2**63 - 1`` and, for positions of
    one shape, ``p < q  ⇒  version_of(p) < version_of(q)`` (strictly order-preserving).

    ===================================  ==========================================================
    shape                                version
    ===================================  ==========================================================
    ``(x,)`` lsn, ts, µs or offset       ``x + 1``                         (x < 2**63 - 1)
    ``(0, b)`` snapshot before changes   ``b + 1``                         (b < 2**52)
    ``(a, b)``, ``a >= 1``               ``2**52 + a·2**20 + b``           (a < 2**42, b < 2**20)
    ``(ts_ms, ord, txn)`` Debezium Mongo ``(ts_ms/1000)·2**31 + ord·2**12 + txn + 1``
                                         (ts_ms whole seconds < 2**32 s, ord < 2**19, txn < 2**12)
    ===================================  ==========================================================

    Pairs cover mongo-kafka ``(clusterTime seconds, increment)`` and its ``(0, 0)`` copy-existing
    events, flattened Debezium MongoDB ``(ts_ms, ord)``, and AWS DMS ``(transaction id, record id)``
    with full-load rows ``(0, µs)`` — which all sort below every pair with ``a >= 1``, as they do
    as tuples. Debezium MongoDB's ``source.ts_ms`` is the BSON cluster time (whole seconds × 1000).
    Positions of different lengths are not comparable (they never describe one key).
    Raises :class:`Unplannable` (the record goes to the DLQ) for an empty position, a negative
    component, a component over its bit budget, or another shape.
    """
    p = tuple(position)
    if any(type(x) is not int for x in p):
        raise Unplannable("position holds a non-integer")
    if any(x < 0 for x in p):
        raise Unplannable("position holds a negative component")
    n = len(p)
    if n == 0:
        raise Unplannable("position is empty: no source order to derive an external version from")
    if n == 1:
        v = p[0] + 1
    elif n == 2:
        a, b = p
        if a == 0:
            _budget(b, 52, "position[1] of a (0, b) position")
            v = b + 1
        else:
            _budget(a, 42, "position[0] of a pair")
            _budget(b, 20, "position[1] of a pair")
            v = _B52 + (a << 20) + b
    elif n == 3:
        ts_ms, ord_, txn = p
        seconds, millis = divmod(ts_ms, 1000)
        if millis:
            raise Unplannable("position[0] of a 3-part position is not whole seconds (Debezium MongoDB cluster time)")
        _budget(seconds, 32, "position[0] (seconds) of a 3-part position")
        _budget(ord_, 19, "position[1] (ord) of a 3-part position")
        _budget(txn, 12, "position[2] (transaction order) of a 3-part position")
        v = (seconds << 31) + (ord_ << 12) + txn + 1
    else:
        raise Unplannable(f"position has {n} parts; known shapes have 1, 2 or 3")
    if v > MAX_VERSION:
        raise Unplannable("position exceeds the largest external version (2**63 - 1)")
    return v


def _budget(value: int, bits: int, what: str) -> None:
    if value >= 1 << bits:
        raise Unplannable(f"{what} does not fit in {bits} bits")


# --------------------------------------------------------------------------------- actions

_INDEX_OPS = frozenset({"insert", "update", "replace", "upsert", "snapshot"})


@dataclass(frozen=True, slots=True)
class OsAction:
    """What one record causes: ``index`` / ``delete`` (with index, id, version), ``skip``, or
    ``dlq`` (a permanent per-record failure, reported with ``batch.fail``)."""

    action: Literal["index", "delete", "skip", "dlq"]
    index: str | None = None
    id: str | None = None
    version: int | None = None
    reason: str | None = None

    def as_plan(self) -> dict[str, Any]:
        """The dry-run line: ``{"kind": "opensearch", "action", "index", "id", "version"}``;
        skipped (``skip``) and failed (``dlq``) records carry ``reason`` instead."""
        if self.action in ("index", "delete"):
            return {"kind": "opensearch", "action": self.action, "index": self.index, "id": self.id,
                    "version": self.version}
        return {"kind": "opensearch", "action": self.action, "reason": self.reason}


def plan_record(spec: OpenSearchSpec, record: SinkRecord) -> OsAction:
    """The action of one record (pure; the same for every redelivery of it)."""
    op = record.op
    if op == "truncate":
        return OsAction("skip", reason="truncate is not applied to OpenSearch")
    if op != "delete" and op not in _INDEX_OPS:
        return OsAction("dlq", reason=f"unknown op {op!r}")
    if op != "delete" and (record.doc is None or not record.complete):
        return OsAction("dlq", reason="partial update without a known full document; OpenSearch indexes whole documents")
    try:
        index = index_name(spec, record.entity, record.namespace)
        doc_id = document_id(record.key)
        version = version_of(record.position)
    except Unplannable as exc:
        return OsAction("dlq", reason=exc.reason)
    return OsAction("delete" if op == "delete" else "index", index, doc_id, version)


def action_lines(spec: OpenSearchSpec, action: OsAction, doc: Mapping[str, Any] | None) -> bytes:
    """The NDJSON lines of one index or delete action (each ending in ``\\n``)."""
    meta = {action.action: {"_index": action.index, "_id": action.id, "version": action.version,
                            "version_type": "external"}}
    if action.action == "delete":
        return dumps(meta) + b"\n"
    if action.action != "index" or doc is None:
        raise ValueError(f"no bulk lines for a {action.action} action")
    return dumps(meta) + b"\n" + dumps(source_document(spec, doc)) + b"\n"


T = TypeVar("T")


def bulk_chunks(entries: Iterable[tuple[T, bytes]], max_records: int, max_bytes: int) -> list[list[tuple[T, bytes]]]:
    """Consecutive chunks of at most ``max_records`` entries and ``max_bytes`` bytes of lines (an
    entry larger than ``max_bytes`` travels alone); order is kept."""
    chunks: list[list[tuple[T, bytes]]] = []
    current: list[tuple[T, bytes]] = []
    size = 0
    for entry in entries:
        n = len(entry[1])
        if current and (len(current) >= max_records or size + n > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += n
    if current:
        chunks.append(current)
    return chunks


# --------------------------------------------------------------------------------- bulk results

_MAPPING_ERRORS = frozenset({
    "mapper_parsing_exception", "illegal_argument_exception", "strict_dynamic_mapping_exception",
    "document_parsing_exception", "parse_exception", "json_parse_exception", "x_content_parse_exception",
    "mapper_exception", "invalid_type_name_exception", "invalid_index_name_exception",
})
_NAMED = (
    re.compile(r"(?:field|mapper|introduction of|mapping for) \[([^\]\[]{1,200})\]"),
    re.compile(r"^Field \[([^\]\[]{1,200})\] is a metadata field"),
)
_OF_TYPE = re.compile(r"of type \[([a-z_]{1,40})\]")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one bulk item ended: ``done`` (written, or refused as stale/duplicate, or nothing to
    delete), ``fail`` (permanent, to the DLQ), ``throttled``, ``retry`` or ``fatal``."""

    kind: Literal["done", "stale", "fail", "throttled", "retry", "fatal"]
    reason: str = ""


def safe_reason(error: Any) -> str:
    """An OpenSearch error object reduced to type, field and mapping type — OpenSearch's reason
    text quotes field values ("Preview of field's value: …"), so it is never passed on."""
    if not isinstance(error, dict):
        return "unknown error"
    etype = str(error.get("type") or "unknown_error")[:80]
    text = str(error.get("reason") or "")
    parts = [etype]
    for rx in _NAMED:
        m = rx.search(text)
        if m:
            parts.append(f"field {m.group(1)}")
            break
    m = _OF_TYPE.search(text)
    if m:
        parts.append(f"mapped as {m.group(1)}")
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("type"):
        parts.append(f"caused by {str(cause['type'])[:80]}")
    return ", ".join(parts)


def item_outcome(op_type: str, item: Mapping[str, Any]) -> Outcome:
    """Classify one bulk response item (``{"status": …, "result"?: …, "error"?: {…}}``)."""
    status = item.get("status")
    status = status if isinstance(status, int) else 500
    error = item.get("error")
    etype = error.get("type") if isinstance(error, dict) else None
    if 200 <= status < 300:
        return Outcome("done")
    if status == 409 or etype == "version_conflict_engine_exception":
        return Outcome("stale")
    if status == 404 and op_type == "delete":
        return Outcome("done")
    reason = safe_reason(error)
    if status == 429:
        return Outcome("throttled", reason)
    if status >= 500:
        return Outcome("retry", reason)
    if status in (401, 403) and etype != "cluster_block_exception":
        return Outcome("fatal", f"OpenSearch refused the write ({status} {reason}); check the user's index permissions")
    if etype == "cluster_block_exception":
        return Outcome("retry", reason)
    if etype == "illegal_argument_exception" and "no write index" in str(error.get("reason", "")):
        return Outcome("fatal", "the rollover alias has no write index; run `streamproc opensearch init`")
    if status == 404 and etype == "index_not_found_exception":
        return Outcome("fatal", "index missing and not auto-created (action.auto_create_index is off?); "
                                "run `streamproc opensearch init` or create it")
    if etype in _MAPPING_ERRORS or 400 <= status < 500:
        return Outcome("fail", f"OpenSearch rejected the document: {reason}")
    return Outcome("retry", reason)


# --------------------------------------------------------------------------------- init bodies


def entity_indices(spec: OpenSearchSpec, namespaces: Mapping[str, str | None]) -> dict[str, str]:
    """Entity → index (or rollover alias) name for the entities this sink writes, sorted by entity."""
    out = {}
    for entity in sorted(namespaces):
        if spec.wants(entity):
            out[entity] = index_name(spec, entity, namespaces[entity])
    return out


def _mappings(spec: OpenSearchSpec) -> dict[str, Any]:
    dynamic: list[dict[str, Any]] = []
    for n, pattern in enumerate(spec.date_fields):
        for kind in ("string", "long"):
            dynamic.append({f"dates_{n}_{kind}": {
                "match_mapping_type": kind, "match": pattern,
                "mapping": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
            }})
    dynamic.append({"strings": {
        "match_mapping_type": "string",
        "mapping": {"type": "keyword", "ignore_above": spec.keyword_ignore_above,
                    "fields": {"text": {"type": "text"}}},
    }})
    return {"date_detection": False, "dynamic_templates": dynamic}


def _settings(spec: OpenSearchSpec, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.number_of_shards is not None:
        out["number_of_shards"] = spec.number_of_shards
    if spec.number_of_replicas is not None:
        out["number_of_replicas"] = spec.number_of_replicas
    out.update(extra or {})
    return out


def index_template_body(spec: OpenSearchSpec, patterns: Sequence[str]) -> dict[str, Any]:
    """The composable index template of the plain (not rolled-over) indices: strings as keyword
    with a ``text`` sub-field, ``date_fields`` as dates, no date detection."""
    return {
        "index_patterns": list(patterns),
        "priority": spec.template_priority,
        "template": {"settings": _settings(spec), "mappings": _mappings(spec)},
        "_meta": {"managed_by": "streamproc"},
    }


def rollover_template_body(spec: OpenSearchSpec, alias: str) -> dict[str, Any]:
    """The template of the indices behind one rollover alias (same mappings, plus the alias setting)."""
    pattern, _ = rollover_index_names(alias)
    return {
        "index_patterns": [pattern],
        "priority": spec.template_priority + 1,
        "template": {
            "settings": _settings(spec, {"plugins.index_state_management.rollover_alias": alias}),
            "mappings": _mappings(spec),
        },
        "_meta": {"managed_by": "streamproc"},
    }


def bootstrap_index_body(alias: str) -> dict[str, Any]:
    """The body that creates ``<alias>-000001`` as the alias's write index."""
    return {
        "aliases": {alias: {"is_write_index": True}},
        "settings": {"plugins.index_state_management.rollover_alias": alias},
    }


def ism_policy_body(spec: OpenSearchSpec, aliases: Sequence[str]) -> dict[str, Any]:
    """The ISM policy: state ``hot`` rolls over on the configured conditions and moves to ``delete``
    ``delete_after_days`` after index creation. Attached to ``<alias>-*`` of ``aliases`` only."""
    ism = spec.ism
    rollover: dict[str, Any] = {}
    if ism.rollover_min_age is not None:
        rollover["min_index_age"] = ism.rollover_min_age
    if ism.rollover_min_size is not None:
        rollover["min_size"] = ism.rollover_min_size
    if ism.rollover_min_doc_count is not None:
        rollover["min_doc_count"] = ism.rollover_min_doc_count
    policy: dict[str, Any] = {
        "description": f"streamproc: roll over, delete {ism.delete_after_days} days after creation",
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": [{"rollover": rollover}],
             "transitions": [{"state_name": "delete",
                              "conditions": {"min_index_age": f"{ism.delete_after_days}d"}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
    }
    if aliases:
        policy["ism_template"] = [{"index_patterns": [rollover_index_names(a)[0] for a in aliases],
                                   "priority": ism.priority}]
    return {"policy": policy}
