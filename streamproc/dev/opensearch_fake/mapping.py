"""Dynamic mapping of the fake OpenSearch, close enough to OpenSearch's to produce its errors.

A document is applied to a copy of its index's mapping (:class:`Mapper`): new fields get a type
from the value (or from the first matching dynamic template: ``match_mapping_type``, ``match``,
``unmatch``, ``path_match``, ``path_unmatch``; ``date_detection`` honoured), and a value that
does not fit raises :class:`FakeError` with OpenSearch's type and reason: an object where a
value was mapped (or the reverse), a value that does not parse as the mapped long, double,
boolean or date, a new field under ``"dynamic": "strict"``, a top-level metadata field
(``_id``…) inside a document, and ``index.mapping.total_fields.limit``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from datetime import datetime
from typing import Any

from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.store import Index

__all__ = ["Mapper", "METADATA_FIELDS", "merge_mappings"]

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
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_SLASH_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}(?: \d{2}:\d{2}:\d{2})?$")
_NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"})


def _is_date(value: Any) -> bool:
    if type(value) is int:
        return True
    if isinstance(value, str):
        if value.isdigit():
            return True
        if _ISO_DATE.match(value):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                return len(value) == 10 and value[4] == "-"
            return True
    return False


def _detect_date(value: str) -> bool:
    return bool(_ISO_DATE.match(value) or _SLASH_DATE.match(value)) and _is_date(value.replace("/", "-"))


def _strict(name: str, within: str) -> FakeError:
    return FakeError(
        400,
        "strict_dynamic_mapping_exception",
        f"mapping set to strict, dynamic introduction of [{name}] within [{within}] is not allowed",
    )


class Mapper:
    """Applies one document to a copy of an index mapping, raising FakeError like OpenSearch would."""

    def __init__(self, index: Index, doc_id: str) -> None:
        self.doc_id = doc_id
        self.mappings = copy.deepcopy(index.mappings)
        self.templates = self.mappings.get("dynamic_templates") or []
        self.date_detection = self.mappings.get("date_detection", True)
        limit = index.settings.get("index.mapping.total_fields.limit", 1000)
        self.limit = int(limit)

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The index's mapping after ``doc`` (the index itself is not changed)."""
        for key in doc:
            if key in METADATA_FIELDS:
                raise FakeError(
                    400,
                    "mapper_parsing_exception",
                    f"Field [{key}] is a metadata field and cannot be added inside a document. "
                    "Use the index API request parameters.",
                )
        self._object(self.mappings, doc, "", self.mappings.get("dynamic", True))
        if _count_fields(self.mappings.get("properties", {})) > self.limit:
            raise FakeError(
                400, "illegal_argument_exception", f"Limit of total fields [{self.limit}] has been exceeded"
            )
        return self.mappings

    def _object(self, node: dict[str, Any], obj: dict[str, Any], path: str, dynamic: Any) -> None:
        props = node.setdefault("properties", {})
        dynamic = node.get("dynamic", dynamic)
        for raw_key, value in obj.items():
            if raw_key == "" or raw_key.strip() == "":
                raise FakeError(400, "mapper_parsing_exception", "field name cannot be an empty string")
            parts = raw_key.split(".")
            if any(p == "" for p in parts):
                raise FakeError(
                    400,
                    "mapper_parsing_exception",
                    f"object field starting or ending with a [.] makes object resolution ambiguous: [{raw_key}]",
                )
            target, tpath, tprops, tdyn = node, path, props, dynamic
            for p in parts[:-1]:
                tpath = f"{tpath}.{p}" if tpath else p
                sub = tprops.get(p)
                if sub is None:
                    if str(tdyn) == "strict":
                        raise _strict(p, path or "_doc")
                    sub = tprops[p] = {"properties": {}}
                elif "type" in sub and sub["type"] not in ("object", "nested"):
                    raise FakeError(
                        400,
                        "mapper_parsing_exception",
                        f"Could not dynamically add mapping for field [{tpath}]. Existing mapping for "
                        f"[{tpath}] must be of type object but found [{sub['type']}].",
                    )
                target, tprops, tdyn = sub, sub.setdefault("properties", {}), sub.get("dynamic", tdyn)
            self._value(target, tprops, parts[-1], value, f"{tpath}.{parts[-1]}" if tpath else parts[-1], tdyn)

    def _value(
        self, parent: dict[str, Any], props: dict[str, Any], name: str, value: Any, path: str, dynamic: Any
    ) -> None:
        if value is None:
            return
        if isinstance(value, list):
            for v in value:
                self._value(parent, props, name, v, path, dynamic)
            return
        existing = props.get(name)
        if existing is None:
            if str(dynamic) == "strict":
                raise _strict(name, path.rpartition(".")[0] or "_doc")
            if dynamic is False or str(dynamic).lower() == "false":
                return
            existing = props[name] = self._dynamic(name, path, value)
            if "type" not in existing or existing["type"] in ("object", "nested"):
                existing.setdefault("properties", {})
        is_object = "type" not in existing or existing["type"] in ("object", "nested")
        if isinstance(value, dict):
            if not is_object:
                raise FakeError(
                    400,
                    "mapper_parsing_exception",
                    f"failed to parse field [{path}] of type [{existing['type']}] in document with id "
                    f"'{self.doc_id}'. Preview of field's value: '{_preview(value)}'",
                    caused_by={"type": "illegal_state_exception", "reason": "Can't get text on a START_OBJECT"},
                )
            self._object(existing, value, path, dynamic)
            return
        if is_object:
            raise FakeError(
                400,
                "mapper_parsing_exception",
                f"object mapping for [{path}] tried to parse field [{name}] as object, but found a concrete value",
            )
        _check_value(existing["type"], value, path, self.doc_id)

    def _dynamic(self, name: str, path: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            kind = "object"
        elif isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int):
            kind = "long"
        elif isinstance(value, float):
            kind = "double"
        elif isinstance(value, str) and self.date_detection and _detect_date(value):
            kind = "date"
        else:
            kind = "string"
        for entry in self.templates:
            ((_name, t),) = entry.items()
            mmt = t.get("match_mapping_type", "*")
            if mmt != "*" and mmt != kind:
                continue
            if "match" in t and not fnmatch.fnmatchcase(name, t["match"]):
                continue
            if "unmatch" in t and fnmatch.fnmatchcase(name, t["unmatch"]):
                continue
            if "path_match" in t and not fnmatch.fnmatchcase(path, t["path_match"]):
                continue
            if "path_unmatch" in t and fnmatch.fnmatchcase(path, t["path_unmatch"]):
                continue
            dyn_type = {"string": "text", "double": "float"}.get(kind, kind)
            text = json.dumps(t.get("mapping", {})).replace("{name}", name).replace("{dynamic_type}", dyn_type)
            mapping = json.loads(text)
            if kind == "object" and mapping.get("type", "object") == "object":
                mapping.pop("type", None)
                return mapping
            if kind != "object":
                mapping.setdefault("type", dyn_type)
                return mapping
        defaults: dict[str, dict[str, Any]] = {
            "object": {},
            "boolean": {"type": "boolean"},
            "long": {"type": "long"},
            "double": {"type": "float"},
            "date": {"type": "date"},
            "string": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        }
        return defaults[kind]


def _preview(value: Any) -> str:
    return json.dumps(value)[:64]


def _check_value(ftype: str, value: Any, path: str, doc_id: str) -> None:
    def bad(cause_type: str, cause: str) -> FakeError:
        return FakeError(
            400,
            "mapper_parsing_exception",
            f"failed to parse field [{path}] of type [{ftype}] in document with id '{doc_id}'. "
            f"Preview of field's value: '{value}'",
            caused_by={"type": cause_type, "reason": cause},
        )

    if ftype in _NUMERIC:
        if isinstance(value, bool):
            raise bad("illegal_argument_exception", f"Current token (VALUE_{str(value).upper()}) not numeric")
        if isinstance(value, (int, float)):
            return
        try:
            float(value)
        except (TypeError, ValueError):
            raise bad("number_format_exception", f'For input string: "{value}"') from None
    elif ftype == "boolean":
        if isinstance(value, bool) or value in ("true", "false", ""):
            return
        raise bad(
            "illegal_argument_exception", f"Failed to parse value [{value}] as only [true] or [false] are allowed."
        )
    elif ftype == "date" and (isinstance(value, bool) or not _is_date(value)):
        raise bad(
            "illegal_argument_exception",
            f"failed to parse date field [{value}] with format [strict_date_optional_time||epoch_millis]",
        )


def _count_fields(props: dict[str, Any]) -> int:
    n = 0
    for m in props.values():
        n += 1
        n += len(m.get("fields", {}))
        if "properties" in m:
            n += _count_fields(m["properties"])
    return n


def merge_mappings(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra``'s mapping over ``base``'s (a template's): properties merged, other keys replaced."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if k == "properties":
            out.setdefault("properties", {}).update(copy.deepcopy(v))
        else:
            out[k] = copy.deepcopy(v)
    return out
