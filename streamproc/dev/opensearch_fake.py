"""A FAKE OpenSearch: a small in-memory HTTP stand-in for tests and the local demo.

OpenSearch cannot be installed on these machines, so this module answers the few documented
REST APIs the streamproc OpenSearch sink and ``streamproc opensearch init`` use, with the
response shapes of OpenSearch 2.x. It is not OpenSearch: no search, no scoring, no shards, no
persistence. The sink's integration scenario runs against it *and*, where Docker exists,
against the real ``opensearchproject/opensearch`` image (tests/integration/sinks/test_opensearch.py),
which keeps the two honest.

Implemented::

    GET|HEAD /                                   cluster info
    POST|PUT /_bulk, /<index>/_bulk              NDJSON index/create/delete; version_type
                                                 external/external_gte; 201/200, 409
                                                 version_conflict_engine_exception, delete of a
                                                 missing document → 404 "not_found" (a tombstone
                                                 keeps its version, like index.gc_deletes, forever)
    PUT|GET|HEAD /<index>                        create (settings, mappings, aliases) / describe
    GET /<index>/_mapping
    GET /<index>/_doc/<id>, GET /<index>/_count, POST /<index>/_refresh
    GET|HEAD /_alias/<name>
    PUT|GET|HEAD /_index_template/<name>         composable templates, applied at auto-create
    PUT|GET /_plugins/_ism/policies/<id>         create; update needs if_seq_no/if_primary_term

Dynamic mapping follows OpenSearch's rules closely enough to produce its errors: a field first
seen as an object then as a value (or the reverse), a value that does not parse as the field's
mapped type (long, double, boolean, date), a new field under ``"dynamic": "strict"``, a top-level
metadata field (``_id``) inside a document, and index.mapping.total_fields.limit. Dynamic
templates (match_mapping_type, match, unmatch, path_match, path_unmatch) and date_detection are
honoured.

Fault injection: :meth:`OpenSearchFake.fail_next` answers the next *n* requests whose path
contains a substring with 429 or 5xx; :meth:`OpenSearchFake.reject_items` rejects the next *n*
bulk items (e.g. 429 es_rejected_execution_exception); ``auth=(user, password)`` makes every
request need HTTP basic auth (401 otherwise) and :attr:`OpenSearchFake.forbidden` answers 403.

Usage outside pytest (the demo)::

    fake = OpenSearchFake(port=0).start()
    fake.url                      # http://127.0.0.1:<port>
    fake.stop(); fake.start()     # same port, same documents (an outage)
    fake.documents("app_users")   # {id: _source}

The pytest fixture ``opensearch_fake`` (a fresh fake per test) is in tests/services/opensearch.py.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["OpenSearchFake", "FakeError"]

VERSION_NUMBER = "2.11.0"
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
_FORBIDDEN_INDEX_CHARS = set('\\/*?"<>| ,#:')
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_SLASH_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}(?: \d{2}:\d{2}:\d{2})?$")
_MAX_LONG = 2**63 - 1
_SCALAR_TYPES = {
    "keyword",
    "text",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "boolean",
    "date",
    "ip",
    "binary",
    "wildcard",
    "match_only_text",
}


class FakeError(Exception):
    """An OpenSearch error response: HTTP status, error type and reason (as OpenSearch words it)."""

    def __init__(self, status: int, etype: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.etype = etype
        self.reason = reason
        self.extra = extra

    def error(self) -> dict[str, Any]:
        root = self.item_error()
        return {"root_cause": [root], **root}

    def body(self) -> dict[str, Any]:
        return {"error": self.error(), "status": self.status}

    def item_error(self) -> dict[str, Any]:
        return {"type": self.etype, "reason": self.reason, **self.extra}


# ------------------------------------------------------------------------------------ state


@dataclass
class _Doc:
    version: int
    seq_no: int
    source: dict[str, Any] | None  # None: a delete tombstone


@dataclass
class _Index:
    name: str
    uuid: str
    settings: dict[str, Any]
    mappings: dict[str, Any]
    created: int
    docs: dict[str, _Doc] = field(default_factory=dict)
    seq_no: int = -1

    def live(self) -> dict[str, _Doc]:
        return {k: d for k, d in self.docs.items() if d.source is not None}


@dataclass
class _Policy:
    body: dict[str, Any]
    seq_no: int
    primary_term: int
    version: int


def _flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flattened settings with OpenSearch's ``index.`` prefix (plugin settings keep their own)."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat_settings(v, key + "."))
        elif key.startswith(("index.", "plugins.", "opendistro.")):
            out[key] = v
        else:
            out[f"index.{key}"] = v
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        node = out
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = str(v) if not isinstance(v, (dict, list)) else v
    return out


# ------------------------------------------------------------------------------------ mapping


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


class _Mapper:
    """Applies one document to a copy of an index mapping, raising FakeError like OpenSearch would."""

    def __init__(self, index: _Index, doc_id: str) -> None:
        self.doc_id = doc_id
        self.mappings = copy.deepcopy(index.mappings)
        self.templates = self.mappings.get("dynamic_templates") or []
        self.date_detection = self.mappings.get("date_detection", True)
        limit = index.settings.get("index.mapping.total_fields.limit", 1000)
        self.limit = int(limit)

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
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
                        raise FakeError(
                            400,
                            "strict_dynamic_mapping_exception",
                            f"mapping set to strict, dynamic introduction of [{p}] within [{path or '_doc'}] is not allowed",
                        )
                    sub = tprops[p] = {"properties": {}}
                elif "type" in sub and sub["type"] not in ("object", "nested"):
                    raise FakeError(
                        400,
                        "mapper_parsing_exception",
                        f"Could not dynamically add mapping for field [{tpath}]. Existing mapping for [{tpath}] must be of type object but found [{sub['type']}].",
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
                raise FakeError(
                    400,
                    "strict_dynamic_mapping_exception",
                    f"mapping set to strict, dynamic introduction of [{name}] within [{path.rpartition('.')[0] or '_doc'}] is not allowed",
                )
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
        return {
            "object": {},
            "boolean": {"type": "boolean"},
            "long": {"type": "long"},
            "double": {"type": "float"},
            "date": {"type": "date"},
            "string": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        }[kind]


def _preview(value: Any) -> str:
    return json.dumps(value)[:64]


_NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"})


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
    elif ftype == "date":
        if isinstance(value, bool) or not _is_date(value):
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


# ------------------------------------------------------------------------------------ the cluster


class _Cluster:
    """All state of the fake; every method runs under one lock (requests are serialised)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.uuid = uuid.uuid4().hex[:22]
        self.indices: dict[str, _Index] = {}
        self.aliases: dict[str, dict[str, bool]] = {}  # alias → {index: is_write_index}
        self.templates: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, _Policy] = {}
        self.policy_seq = -1
        self.faults: list[list[Any]] = []  # [remaining, status, etype, path substring]
        self.item_faults: list[list[Any]] = []  # [remaining, status, etype]
        self.requests: list[tuple[str, str]] = []

    # ---------------------------------------------------------------- indices
    def resolve(self, name: str) -> list[_Index]:
        if name in self.indices:
            return [self.indices[name]]
        if name in self.aliases:
            return [self.indices[i] for i in self.aliases[name] if i in self.indices]
        raise FakeError(
            404,
            "index_not_found_exception",
            f"no such index [{name}]",
            index=name,
            **{"resource.type": "index_or_alias", "resource.id": name},
        )

    def write_index(self, name: str, auto_create: bool) -> _Index:
        if name in self.indices:
            return self.indices[name]
        if name in self.aliases:
            targets = self.aliases[name]
            writers = [i for i, w in targets.items() if w]
            if len(targets) == 1 and not writers:
                writers = list(targets)
            if len(writers) != 1:
                raise FakeError(
                    400,
                    "illegal_argument_exception",
                    f"no write index is defined for alias [{name}]. The write index may be explicitly "
                    "disabled using is_write_index=false or the alias points to multiple indices "
                    "without one being designated as a write index",
                )
            return self.indices[writers[0]]
        if not auto_create:
            raise FakeError(404, "index_not_found_exception", f"no such index [{name}]", index=name)
        return self.create_index(name, {})

    def create_index(self, name: str, body: dict[str, Any]) -> _Index:
        _validate_index_name(name)
        if name in self.indices or name in self.aliases:
            raise FakeError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{uuid.uuid4().hex[:22]}] already exists",
                index=name,
            )
        settings: dict[str, Any] = {}
        mappings: dict[str, Any] = {}
        aliases: dict[str, Any] = {}
        tpl = self.matching_template(name)
        if tpl is not None:
            t = tpl.get("template", {})
            settings.update(_flat_settings(t.get("settings", {})))
            mappings = copy.deepcopy(t.get("mappings", {}))
            aliases.update(t.get("aliases", {}))
        settings.update(_flat_settings(body.get("settings", {})))
        if body.get("mappings"):
            mappings = _merge_mappings(mappings, body["mappings"])
        aliases.update(body.get("aliases", {}))
        settings.setdefault("index.number_of_shards", "1")
        settings.setdefault("index.number_of_replicas", "1")
        index = _Index(name, uuid.uuid4().hex[:22], settings, mappings, int(time.time() * 1000))
        for alias, conf in aliases.items():
            if alias in self.indices:
                raise FakeError(
                    400,
                    "invalid_alias_name_exception",
                    f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias",
                )
            is_write = bool((conf or {}).get("is_write_index", False))
            if is_write and any(self.aliases.get(alias, {}).values()):
                raise FakeError(400, "illegal_state_exception", f"alias [{alias}] has more than one write index")
            self.aliases.setdefault(alias, {})[name] = is_write
        self.indices[name] = index
        return index

    def matching_template(self, name: str) -> dict[str, Any] | None:
        best: tuple[int, dict[str, Any]] | None = None
        for body in self.templates.values():
            if any(fnmatch.fnmatchcase(name, p) for p in body.get("index_patterns", [])):
                prio = int(body.get("priority", 0))
                if best is None or prio > best[0]:
                    best = (prio, body)
        return best[1] if best else None

    # ---------------------------------------------------------------- documents
    def write(self, op: str, meta: dict[str, Any], source: Any, default_index: str | None) -> dict[str, Any]:
        name = meta.get("_index") or default_index
        doc_id = meta.get("_id")
        vtype = meta.get("version_type", "internal")
        version = meta.get("version")
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
                    f"Validation Failed: 1: id [{doc_id}] is too long, must be no longer than 512 bytes but was: {len(str(doc_id).encode())};",
                )
            external = vtype in ("external", "external_gte")
            auto = op != "delete" or external
            index = self.write_index(name, auto_create=auto)
            base["_index"] = index.name
            for fault in self.item_faults:
                if fault[0] > 0:
                    fault[0] -= 1
                    raise FakeError(
                        fault[1], fault[2], "rejected execution of primary operation (injected by the fake)"
                    )
            current = index.docs.get(doc_id)
            if external:
                if current is not None:
                    ok = version > current.version if vtype == "external" else version >= current.version
                    if not ok:
                        raise FakeError(
                            409,
                            "version_conflict_engine_exception",
                            f"[{doc_id}]: version conflict, current version [{current.version}] is higher or "
                            f"equal to the one provided [{version}]",
                            index=index.name,
                            shard="0",
                            index_uuid=index.uuid,
                        )
                new_version = version
            else:
                if version is not None and (current is None or current.source is None or current.version != version):
                    raise FakeError(
                        409,
                        "version_conflict_engine_exception",
                        f"[{doc_id}]: version conflict, required version [{version}]",
                        index=index.name,
                        shard="0",
                        index_uuid=index.uuid,
                    )
                new_version = (current.version + 1) if current is not None else 1
            live = current is not None and current.source is not None
            if op == "create" and live:
                raise FakeError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{doc_id}]: version conflict, document already exists (current version [{current.version}])",
                    index=index.name,
                    shard="0",
                    index_uuid=index.uuid,
                )
            if op == "delete":
                index.seq_no += 1
                index.docs[doc_id] = _Doc(new_version, index.seq_no, None)
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
                index.mappings = _Mapper(index, str(doc_id)).apply(source)
                index.seq_no += 1
                index.docs[doc_id] = _Doc(new_version, index.seq_no, source)
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

    # ---------------------------------------------------------------- templates, policies
    def put_template(self, name: str, body: dict[str, Any]) -> None:
        patterns = body.get("index_patterns")
        if not patterns:
            raise FakeError(
                400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"
            )
        prio = int(body.get("priority", 0))
        for other, obody in self.templates.items():
            if other == name or int(obody.get("priority", 0)) != prio:
                continue
            theirs = obody.get("index_patterns", [])
            if any(fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a) for a in patterns for b in theirs):
                raise FakeError(
                    400,
                    "illegal_argument_exception",
                    f"index template [{name}] has index patterns {patterns} matching patterns from existing "
                    f"templates [{other}] with patterns ({other} => {theirs}) that have the same priority "
                    f"[{prio}], multiple index templates may not match during index creation, please use "
                    "a different priority",
                )
        self.templates[name] = copy.deepcopy(body)

    def put_policy(self, pid: str, body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise FakeError(400, "illegal_argument_exception", "Required [policy] object is missing")
        states = policy.get("states") or []
        names = {s.get("name") for s in states}
        if policy.get("default_state") not in names:
            raise FakeError(400, "illegal_argument_exception", "Policy default state does not exist")
        for s in states:
            for t in s.get("transitions", []):
                if t.get("state_name") not in names:
                    raise FakeError(
                        400,
                        "illegal_argument_exception",
                        f"Policy contains a transition to a state that does not exist [{t.get('state_name')}]",
                    )
        existing = self.policies.get(pid)
        seq, term = query.get("if_seq_no"), query.get("if_primary_term")
        if existing is not None:
            if seq is None or term is None:
                raise FakeError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{pid}]: version conflict, document already exists (current version [{existing.version}])",
                    index=".opendistro-ism-config",
                    shard="0",
                )
            if int(seq) != existing.seq_no or int(term) != existing.primary_term:
                raise FakeError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{pid}]: version conflict, required seqNo [{seq}], primary term [{term}]. current "
                    f"document has seqNo [{existing.seq_no}] and primary term [{existing.primary_term}]",
                    index=".opendistro-ism-config",
                    shard="0",
                )
        elif seq is not None:
            raise FakeError(404, "document_missing_exception", f"[{pid}]: document missing")
        now = int(time.time() * 1000)
        stored = {
            "policy_id": pid,
            "description": policy.get("description", ""),
            "last_updated_time": now,
            "schema_version": 19,
            "error_notification": policy.get("error_notification"),
            "default_state": policy["default_state"],
            "states": copy.deepcopy(states),
            "ism_template": [{**t, "last_updated_time": now} for t in policy.get("ism_template", [])] or None,
        }
        self.policy_seq += 1
        version = existing.version + 1 if existing else 1
        self.policies[pid] = _Policy(stored, self.policy_seq, 1, version)
        return (200 if existing else 201), self.policy_doc(pid, wrap=True)

    def policy_doc(self, pid: str, wrap: bool = False) -> dict[str, Any]:
        p = self.policies.get(pid)
        if p is None:
            raise FakeError(404, "status_exception", "Policy not found")
        return {
            "_id": pid,
            "_version": p.version,
            "_primary_term": p.primary_term,
            "_seq_no": p.seq_no,
            "policy": {"policy": copy.deepcopy(p.body)} if wrap else copy.deepcopy(p.body),
        }


def _merge_mappings(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if k == "properties":
            out.setdefault("properties", {}).update(copy.deepcopy(v))
        else:
            out[k] = copy.deepcopy(v)
    return out


def _validate_index_name(name: str) -> None:
    def bad(why: str) -> FakeError:
        return FakeError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {why}", index=name)

    if name != name.lower():
        raise bad("must be lowercase")
    if any(c in _FORBIDDEN_INDEX_CHARS for c in name):
        raise bad('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]')
    if name[:1] in ("_", "-", "+"):
        raise bad("must not start with '_', '-', or '+'")
    if name in (".", "..") or not name:
        raise bad("must not be '.' or '..'")
    if len(name.encode()) > 255:
        raise bad(f"index name is too long, ({len(name.encode())} > 255)")


# ------------------------------------------------------------------------------------ HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(
        self,
        status: int,
        body: Any,
        method: str,
        content_type: str = "application/json; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(raw)

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        cluster = fake.cluster
        with cluster.lock:
            cluster.requests.append((method, path))
            if fake.auth is not None and not self._authorised(fake.auth):
                self._send(
                    401,
                    b"Unauthorized",
                    method,
                    "text/plain; charset=UTF-8",
                    {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'},
                )
                return
            if fake.forbidden:
                user = fake.auth[0] if fake.auth else "anonymous"
                err = FakeError(
                    403,
                    "security_exception",
                    f"no permissions for [indices:data/write/bulk] and User [name={user}, backend_roles=[], requestedTenant=null]",
                )
                self._send(403, err.body(), method)
                return
            for fault in cluster.faults:
                if fault[0] > 0 and fault[3] in path:
                    fault[0] -= 1
                    err = FakeError(fault[1], fault[2], "injected by the fake")
                    self._send(fault[1], err.body(), method)
                    return
            try:
                status, body = _route(cluster, method, path, query, raw)
            except FakeError as exc:
                status, body = exc.status, exc.body()
            except (ValueError, KeyError, TypeError) as exc:
                status, body = 400, FakeError(400, "parse_exception", f"request could not be parsed: {exc}").body()
        self._send(status, body, method)

    def _authorised(self, auth: tuple[str, str]) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == auth


def _json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise FakeError(400, "parse_exception", "request body must be an object")
    return body


def _route(c: _Cluster, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    segs = [s for s in path.split("/") if s]
    if not segs:
        if method in ("GET", "HEAD"):
            return 200, {
                "name": "fake-node",
                "cluster_name": "opensearch-fake",
                "cluster_uuid": c.uuid,
                "version": {
                    "distribution": "opensearch",
                    "number": VERSION_NUMBER,
                    "build_type": "fake",
                    "build_hash": "fake",
                    "build_date": "2023-10-13T00:00:00Z",
                    "build_snapshot": False,
                    "lucene_version": "9.7.0",
                    "minimum_wire_compatibility_version": "7.10.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "The OpenSearch Project: https://opensearch.org/",
            }
    elif segs[-1] == "_bulk" and method in ("POST", "PUT") and len(segs) <= 2:
        return 200, _bulk(c, raw, segs[0] if len(segs) == 2 else None, query)
    elif segs[0] == "_index_template" and len(segs) == 2:
        name = segs[1]
        if method == "PUT":
            c.put_template(name, _json(raw))
            return 200, {"acknowledged": True}
        if name not in c.templates:
            raise FakeError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
        if method == "HEAD":
            return 200, {}
        if method == "GET":
            return 200, {"index_templates": [{"name": name, "index_template": copy.deepcopy(c.templates[name])}]}
        if method == "DELETE":
            del c.templates[name]
            return 200, {"acknowledged": True}
    elif segs[:3] == ["_plugins", "_ism", "policies"] and len(segs) == 4:
        if method == "PUT":
            return c.put_policy(segs[3], _json(raw), query)
        if method == "GET":
            return 200, c.policy_doc(segs[3])
    elif segs[0] == "_alias" and len(segs) == 2 and method in ("GET", "HEAD"):
        alias = segs[1]
        if alias not in c.aliases:
            return 404, {"error": f"alias [{alias}] missing", "status": 404}
        return 200, {i: {"aliases": {alias: {"is_write_index": w} if w else {}}} for i, w in c.aliases[alias].items()}
    elif not segs[0].startswith("_"):
        return _index_route(c, method, segs, query, raw)
    raise FakeError(400, "illegal_argument_exception", f"the fake does not implement [{method} {path}]")


def _index_route(c: _Cluster, method: str, segs: list[str], query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    name = segs[0]
    if len(segs) == 1:
        if method == "PUT":
            c.create_index(name, _json(raw))
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if method == "HEAD":
            c.resolve(name)
            return 200, {}
        if method == "GET":
            return 200, {i.name: _describe(c, i) for i in c.resolve(name)}
        if method == "DELETE":
            for i in c.resolve(name):
                del c.indices[i.name]
                for targets in c.aliases.values():
                    targets.pop(i.name, None)
            c.aliases = {a: t for a, t in c.aliases.items() if t}
            return 200, {"acknowledged": True}
    elif segs[1] == "_mapping" and method == "GET":
        return 200, {i.name: {"mappings": copy.deepcopy(i.mappings)} for i in c.resolve(name)}
    elif segs[1] == "_count" and method in ("GET", "POST"):
        indices = c.resolve(name)
        return 200, {
            "count": sum(len(i.live()) for i in indices),
            "_shards": {"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0},
        }
    elif segs[1] == "_refresh" and method in ("POST", "GET"):
        n = len(c.resolve(name))
        return 200, {"_shards": {"total": 2 * n, "successful": n, "failed": 0}}
    elif segs[1] == "_doc" and len(segs) == 3 and method in ("GET", "HEAD"):
        doc_id = segs[2]
        for i in c.resolve(name):
            d = i.docs.get(doc_id)
            if d is not None and d.source is not None:
                return 200, {
                    "_index": i.name,
                    "_id": doc_id,
                    "_version": d.version,
                    "_seq_no": d.seq_no,
                    "_primary_term": 1,
                    "found": True,
                    "_source": copy.deepcopy(d.source),
                }
        return 404, {"_index": name, "_id": doc_id, "found": False}
    raise FakeError(400, "illegal_argument_exception", f"the fake does not implement [{method} /{'/'.join(segs)}]")


def _describe(c: _Cluster, index: _Index) -> dict[str, Any]:
    aliases = {a: ({"is_write_index": True} if t[index.name] else {}) for a, t in c.aliases.items() if index.name in t}
    settings = dict(index.settings)
    settings.update(
        {
            "index.uuid": index.uuid,
            "index.creation_date": str(index.created),
            "index.provided_name": index.name,
            "index.version.created": "136327827",
        }
    )
    return {"aliases": aliases, "mappings": copy.deepcopy(index.mappings), "settings": _nest(settings)}


def _bulk(c: _Cluster, raw: bytes, default_index: str | None, query: dict[str, str]) -> dict[str, Any]:
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
    items = [{op: c.write(op, meta, source, default_index)} for op, meta, source in ops]
    errors = any("error" in next(iter(it.values())) for it in items)
    return {"took": int((time.perf_counter() - started) * 1000), "errors": errors, "items": items}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: OpenSearchFake) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.sockets_lock:
            sockets, self.open_sockets = list(self.open_sockets), set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class OpenSearchFake:
    """A fake OpenSearch on ``host:port`` (``port=0``: a free port, kept across stop/start)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", auth: tuple[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.auth = auth
        self.forbidden = False
        self.cluster = _Cluster()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OpenSearchFake:
        if self._server is not None:
            return self
        deadline = time.monotonic() + 10
        while True:
            try:
                server = _Server((self.host, self.port), self)
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"opensearch-fake-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (connections are dropped, like a crashed node); state is kept."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> OpenSearchFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- faults
    def fail_next(self, n: int, status: int = 429, path: str = "/_bulk", error_type: str | None = None) -> None:
        """Answer the next ``n`` requests whose path contains ``path`` with ``status``."""
        etype = error_type or {429: "es_rejected_execution_exception"}.get(status, "cluster_block_exception")
        with self.cluster.lock:
            self.cluster.faults.append([n, status, etype, path])

    def reject_items(self, n: int, status: int = 429, error_type: str = "es_rejected_execution_exception") -> None:
        """Reject the next ``n`` bulk items (item-level errors in an HTTP 200 bulk response)."""
        with self.cluster.lock:
            self.cluster.item_faults.append([n, status, error_type])

    # ---------------------------------------------------------------- inspection
    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        """``{id: _source}`` of the live documents of an index or alias ({} when missing)."""
        with self.cluster.lock:
            try:
                indices = self.cluster.resolve(index)
            except FakeError:
                return {}
            return {k: copy.deepcopy(d.source) for i in indices for k, d in i.live().items()}  # type: ignore[misc]

    def indices(self) -> list[str]:
        with self.cluster.lock:
            return sorted(self.cluster.indices)

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received so far."""
        with self.cluster.lock:
            return list(self.cluster.requests)
