"""The REST routes of the fake OpenSearch: a request (method, path, query, body) → (status, body).

Implemented::

    GET|HEAD /                                   cluster info
    POST|PUT /_bulk, /<index>/_bulk              see :mod:`.bulk`
    PUT|GET|HEAD|DELETE /<index>                 create (settings, mappings, aliases) / describe / delete
    GET /<index>/_mapping
    GET /<index>/_doc/<id>, GET /<index>/_count, POST /<index>/_refresh
    GET|HEAD /_alias/<name>
    PUT|GET|HEAD|DELETE /_index_template/<name>  composable templates, applied at auto-create
    PUT|GET /_plugins/_ism/policies/<id>         create; update needs if_seq_no/if_primary_term

Anything else answers 400 ``the fake does not implement […]``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from streamproc.dev.opensearch_fake.bulk import bulk
from streamproc.dev.opensearch_fake.cluster import Cluster
from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.store import Index, nest_settings

__all__ = ["route", "VERSION_NUMBER"]

VERSION_NUMBER = "2.11.0"


def _json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise FakeError(400, "parse_exception", "request body must be an object")
    return body


def _cluster_info(c: Cluster) -> dict[str, Any]:
    return {
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


def route(c: Cluster, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    """Answer one request; raises :class:`FakeError` for an OpenSearch error response."""
    segs = [s for s in path.split("/") if s]
    if not segs:
        if method in ("GET", "HEAD"):
            return 200, _cluster_info(c)
    elif segs[-1] == "_bulk" and method in ("POST", "PUT") and len(segs) <= 2:
        return 200, bulk(c, raw, segs[0] if len(segs) == 2 else None, query)
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


def _index_route(c: Cluster, method: str, segs: list[str], query: dict[str, str], raw: bytes) -> tuple[int, Any]:
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


def _describe(c: Cluster, index: Index) -> dict[str, Any]:
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
    return {"aliases": aliases, "mappings": copy.deepcopy(index.mappings), "settings": nest_settings(settings)}
