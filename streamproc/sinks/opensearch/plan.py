"""Pure planning of the OpenSearch sink: index names, document ids, actions.

No I/O here (opensearch-py lives in ``sink.py``, ``admin.py`` and ``client.py``); ``write()``,
``plan()`` (dry-run) and ``streamproc opensearch init`` all use these functions. External
versions are in ``version.py``, bulk lines and item outcomes in ``bulk.py``, the index template
and ISM policy bodies in ``bodies.py``, the ``sinks.opensearch`` models in
``streamproc.config.sink_opensearch`` (which checks ``index_template`` with
:func:`check_index_template`). The rules are documented in docs/SINKS-OPENSEARCH.md; the short
form:

* index: ``spec.index_template`` rendered with ``{database}``, ``{collection}`` (the namespace
  split at its first ``.``; no namespace → database ``""``, collection = the entity) and
  ``{entity}``, lower-cased, every character outside ``[a-z0-9_.+-]`` replaced by ``_``, leading
  ``_ - + .`` stripped, names over 255 bytes shortened with a hash suffix;
* id: one key field → its value (a string as is, an integer in decimal, anything else canonical
  JSON); several → the canonical JSON array of the values ordered by field name; over 512 bytes
  → ``sha256-<hex>`` of that text;
* version: :func:`~streamproc.sinks.opensearch.version.version_of` (``version_type=external``),
  so OpenSearch itself refuses a stale or repeated write with 409, which counts as done.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from streamproc.sinks.base import SinkRecord
from streamproc.sinks.opensearch.version import Unplannable, version_of

if TYPE_CHECKING:
    from streamproc.config.sink_opensearch import OpenSearchSpec

__all__ = [
    "MAX_ID_BYTES",
    "MAX_INDEX_BYTES",
    "METADATA_FIELDS",
    "check_index_template",
    "index_name",
    "IndexNames",
    "rollover_index_names",
    "document_id",
    "source_document",
    "OsAction",
    "plan_record",
]

#: OpenSearch refuses ids longer than this many UTF-8 bytes.
MAX_ID_BYTES = 512
#: OpenSearch refuses index names longer than this many UTF-8 bytes.
MAX_INDEX_BYTES = 255
#: Top-level fields OpenSearch refuses inside a document (its metadata fields).
METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_source",
        "_routing",
        "_version",
        "_seq_no",
        "_primary_term",
        "_type",
        "_field_names",
        "_ignored",
        "_nested_path",
        "_data_stream_timestamp",
        "_doc_count",
        "_tier",
    }
)

_TEMPLATE_FIELDS = frozenset({"database", "collection", "entity"})
_NAME_CHAR = re.compile(r"[^a-z0-9_.+-]")
_LITERAL_OK = re.compile(r"^[A-Za-z0-9_.+-]*$")


# --------------------------------------------------------------------------------- index template


def check_index_template(template: str) -> str:
    """``template`` when it is a valid ``index_template`` (fields {database}, {collection},
    {entity}, at least one of the last two, literal text valid in an index name); ``ValueError``
    naming the problem otherwise."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"index_template is not a valid format string ({exc})") from None
    fields = set()
    for literal, field, spec, conversion in parts:
        if not _LITERAL_OK.match(literal):
            raise ValueError(
                "index_template: literal text may use letters, digits, '_', '-', '+' and '.' only "
                '(OpenSearch index names forbid spaces and \\ / * ? " < > | , # :)'
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


class IndexNames:
    """:func:`index_name` of one spec, computed once per (entity, namespace): a sink sees few
    pairs, each in many records. An :class:`Unplannable` pair is not remembered."""

    def __init__(self, spec: OpenSearchSpec) -> None:
        self.spec = spec
        self._names: dict[tuple[str, str | None], str] = {}

    def __call__(self, entity: str, namespace: str | None) -> str:
        name = self._names.get((entity, namespace))
        if name is None:
            name = self._names[(entity, namespace)] = index_name(self.spec, entity, namespace)
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
            return {
                "kind": "opensearch",
                "action": self.action,
                "index": self.index,
                "id": self.id,
                "version": self.version,
            }
        return {"kind": "opensearch", "action": self.action, "reason": self.reason}


def plan_record(spec: OpenSearchSpec, record: SinkRecord, names: IndexNames | None = None) -> OsAction:
    """The action of one record (pure; the same for every redelivery of it). ``names``: a cache
    of this spec's index names (a sink keeps one)."""
    op = record.op
    if op == "truncate":
        return OsAction("skip", reason="truncate is not applied to OpenSearch")
    if op != "delete" and op not in _INDEX_OPS:
        return OsAction("dlq", reason=f"unknown op {op!r}")
    if op != "delete" and (record.doc is None or not record.complete):
        return OsAction(
            "dlq", reason="partial update without a known full document; OpenSearch indexes whole documents"
        )
    try:
        if names is None:
            index = index_name(spec, record.entity, record.namespace)
        else:
            index = names(record.entity, record.namespace)
        doc_id = document_id(record.key)
        version = version_of(record.position)
    except Unplannable as exc:
        return OsAction("dlq", reason=exc.reason)
    return OsAction("delete" if op == "delete" else "index", index, doc_id, version)
